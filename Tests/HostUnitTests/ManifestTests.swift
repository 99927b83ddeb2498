import Foundation
@testable import HostCore
@testable import HostModel
import Testing

/// Manifests of every version host wrote are read; damage of each kind is
/// found, and an unknown version is rebuilt rather than misread.
@Suite struct ManifestTests {
    static let key = CacheKey.of(parentKey: nil, pluginDigest: Catalog.digest, step: "backend.a", arguments: "memory=512")

    private func json(version: Int, extra: String = "", key: String = ManifestTests.key) -> Data {
        Data("""
            {"version": \(version), "key": "\(key)", "pipeline": "backend.a", "step": "backend.a", "plugin": "/p/a.so",
             "pluginDigest": "\(Catalog.digest)", "backend": "backend.a", "build": "b1",
             "created": "2026-12-07T00:00:00Z", "expires": "2026-12-14T00:00:00Z", "dependencies": []\(extra)}
            """.utf8)
    }

    private func valid(_ data: Data) -> Manifest? {
        if case let .valid(manifest) = Manifest.parse(data) { return manifest }
        return nil
    }

    @Test func everyVersionHostWroteIsRead() throws {
        #expect(valid(json(version: 1)) != nil)
        let v2 = valid(json(version: 2, extra: #", "arguments": "memory=512", "files": [{"path": "machine/disk.qcow2", "size": 4, "sha256": "\#(Catalog.digest)"}]"#))
        #expect(v2?.saved?.count == 1 && v2?.keyIsConsistent == true)
        #expect(valid(json(version: 3, extra: #", "arguments": "memory=512""#)) != nil)
        let v4 = valid(json(version: 4, extra: #", "arguments": "memory=512", "paths": [{"path": "machine/disk.qcow2", "type": "file", "size": 4, "sha256": "\#(Catalog.digest)"}, {"path": "machine/d", "type": "directory"}]"#))
        #expect(v4?.saved?.count == 2)
    }

    @Test func anUnknownVersionOrBrokenJSONIsUnreadable() {
        #expect(valid(json(version: Manifest.currentVersion + 1)) == nil)
        #expect(valid(json(version: 0)) == nil)
        #expect(valid(Data(json(version: 4).prefix(40))) == nil)
        #expect(valid(Data("{}".utf8)) == nil)
        let noBuild = String(decoding: json(version: 4), as: UTF8.self).replacingOccurrences(of: #""build": "b1","#, with: "")
        #expect(valid(Data(noBuild.utf8)) == nil)
    }

    /// A listed path outside the machine's own directory would be hashed (or read for ever) when checked.
    @Test func aPathOutsideTheMachineIsDamage() {
        for path in ["../../etc/passwd", "/dev/zero", "machine/../../b", "machine/", "machine/./x", "state.zst"] {
            #expect(valid(json(version: 4, extra: #", "paths": [{"path": "\#(path)", "type": "file", "size": 1, "sha256": "\#(Catalog.digest)"}]"#)) == nil, "\(path)")
        }
        // Before version 4 only regular files were listed.
        #expect(valid(json(version: 3, extra: #", "files": [{"path": "machine/d", "type": "directory"}]"#)) == nil)
    }

    /// A manifest swapped in from another entry, or edited, no longer gives its key.
    @Test func aKeyItsInputsDoNotGiveIsInconsistent() {
        #expect(valid(json(version: 4, extra: #", "arguments": "memory=1024""#))?.keyIsConsistent == false)
        #expect(valid(json(version: 4, extra: #", "arguments": "memory=512""#))?.keyIsConsistent == true)
        // Version 1 recorded no arguments: its backend's check is all there is.
        #expect(valid(json(version: 1, key: String(repeating: "f", count: 64)))?.keyIsConsistent == true)
    }

    @Test func whatIsWrittenIsReadBack() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("manifest.json")
        if case .valid = Manifest.read(from: file) { Issue.record("a missing manifest read as valid") }
        let manifest = try #require(valid(json(version: 4, extra: #", "arguments": "memory=512""#)))
        try manifest.write(to: file)
        guard case let .valid(again) = Manifest.read(from: file) else {
            Issue.record("not read back")
            return
        }
        #expect(again.key == manifest.key && again.arguments == manifest.arguments && again.created == manifest.created)
    }
}
