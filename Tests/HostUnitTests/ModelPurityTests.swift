import Foundation
import Testing

/// HostModel is pure (Sources/HostModel/HostModel.swift): no file, process
/// or dynamic-loading API, and none of the modules that have them. A word
/// below in any of its sources, comments included, fails the build's tests.
@Suite struct ModelPurityTests {
    static let forbidden = ["FileManager", "FileHandle", "Process(", "ProcessInfo", "URL(fileURLWithPath", "fopen", "dlopen",
                            "import Glibc", "import ChildProcess", "import PluginKit", "import Trace", "import CFFI"]

    /// Sources/HostModel, found from this file: Tests/HostUnitTests/ModelPurityTests.swift.
    static func sources() throws -> [(path: String, text: String)] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/HostModel")
        let walker = try #require(FileManager.default.enumerator(atPath: root.path))
        var found: [(String, String)] = []
        while let relative = walker.nextObject() as? String {
            guard relative.hasSuffix(".swift") else { continue }
            let path = root.appendingPathComponent(relative).path
            found.append((path, try String(contentsOfFile: path, encoding: .utf8)))
        }
        return found
    }

    @Test func theModelUsesNoFileProcessOrLoaderAPI() throws {
        let sources = try Self.sources()
        #expect(sources.count >= 10, "found only \(sources.map(\.path))")
        for (path, text) in sources {
            for word in Self.forbidden where text.contains(word) {
                Issue.record("\(path) uses \(word): HostModel is pure; do it in HostCore (an extension or a CatalogStep conformance)")
            }
            // Foundation's value types come from FoundationEssentials; the whole of Foundation brings files and processes.
            if text.split(separator: "\n").contains("import Foundation") {
                Issue.record("\(path) imports Foundation; import FoundationEssentials for Data, Date and JSON")
            }
        }
    }
}
