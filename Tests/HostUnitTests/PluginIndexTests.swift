import Foundation
@testable import HostCore
@testable import HostModel
import Testing

/// The plugin index file (`plugins.json`): what a scan recorded is read
/// back as it was; another version or another host binary's index is
/// scanned anew; a file is known again only by the same identity.
@Suite struct PluginIndexTests {
    private func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func whatAScanRecordedIsReadBackForTheSameHost() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("plugins.json")
        let host = FileIdentity(device: 1, inode: 2, size: 3, modified: 4, changed: 5)
        var index = PluginIndexFile(host: host)
        index.records = [
            .init(path: "/p/a.so", identity: host, scanned: .init(name: "a", version: "1", digest: Catalog.digest,
                                                                 steps: [Catalog.step("backend.a", flags: 0x80000, offers: ["host.vm/1"])])),
            .init(path: "/p/broken.so", identity: host, scanned: nil, failure: "not an ELF file", retryable: true),
        ]
        index.write(file)
        let read = PluginIndexFile.read(file, host: host)
        #expect(read.records.map(\.path) == ["/p/a.so", "/p/broken.so"])
        #expect(read.records[0].scanned?.steps.first?.offers == ["host.vm/1"])
        #expect(read.records[1].failure == "not an ELF file" && read.records[1].retryable)
        // Another host binary reads descriptors anew.
        #expect(PluginIndexFile.read(file, host: FileIdentity(device: 1, inode: 2, size: 3, modified: 4, changed: 6)).records.isEmpty)
        // An index of another version, or not JSON, is an empty one.
        try Data(#"{"version": 1, "records": []}"#.utf8).write(to: file)
        #expect(PluginIndexFile.read(file, host: host).records.isEmpty)
        try Data("not json".utf8).write(to: file)
        #expect(PluginIndexFile.read(file, host: host).records.isEmpty)
    }

    @Test func aFileIsKnownByItsIdentity() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("p.so")
        try Data("one".utf8).write(to: file)
        let first = try #require(FileIdentity(file.path))
        #expect(FileIdentity(file.path) == first)
        try Data("three".utf8).write(to: file)
        #expect(FileIdentity(file.path) != first)
        #expect(FileIdentity(dir.appendingPathComponent("missing").path) == nil)
        // Its one-word form, which digests.json and manifests hold, says the same.
        let now = try #require(FileIdentity(file.path))
        let billion: Int64 = 1_000_000_000
        let fields = [Int64(now.device), Int64(now.inode), now.size, now.modified / billion, now.modified % billion,
                      now.changed / billion, now.changed % billion]
        #expect(FileIdentity.stamp(of: file.path) == fields.map(String.init).joined(separator: ":"))
        #expect(FileIdentity.stamp(of: dir.path) == nil)
    }

    /// Two plugins offering one step name: neither runs until one goes; a
    /// second plugin of a taken name is a failure naming the first.
    @Test func conflictsAreNamedNotShadowed() {
        let identity = FileIdentity(device: 1, inode: 1, size: 1, modified: 1, changed: 1)
        func record(_ path: String, _ plugin: String, _ step: String) -> PluginIndexFile.Record {
            .init(path: path, identity: identity, scanned: .init(name: plugin, version: "1", digest: Catalog.digest, steps: [Catalog.step(step)]))
        }
        let registry = PluginIndex(records: [record("/p/x.so", "x", "same"), record("/p/y.so", "y", "same"), record("/p/x2.so", "x", "other")])
        #expect(registry.conflicts["same"] == ["/p/x.so", "/p/y.so"])
        #expect(throws: HostError.self) { try registry.step(named: "same") }
        #expect(registry.failures.map(\.path) == ["/p/x2.so"])
        #expect(registry.steps.isEmpty)
    }
}
