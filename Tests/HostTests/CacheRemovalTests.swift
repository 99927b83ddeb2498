import Foundation
import Testing

/// `host cache rm` and entries whose plugin is gone: removing what one
/// chooses, with what was built on it, and seeing what can never be reused.
@Suite struct CacheRemovalTests {
    func rows(_ sandbox: Sandbox) throws -> [[String: Any]] {
        let listing = try sandbox.succeed(["cache", "ls", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [[String: Any]])
    }

    @Test func removingAnEntryRemovesWhatWasBuiltOnIt() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "echo a > a", "+", "exec", "echo b > b", "+", "exec", "true"])
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "echo other > o", "+", "exec", "true"])
        #expect(try rows(sandbox).count == 4)
        let removed = try sandbox.succeed(["cache", "rm", "backend.fixture + exec 'echo a > a'", "--json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(removed.out.utf8)) as? [String: Any])
        #expect(report["machines"] as? Int == 2)
        let left = try rows(sandbox).compactMap { $0["pipeline"] as? String }.sorted()
        #expect(left == ["backend.fixture", "backend.fixture + exec 'echo other > o'"], "\(left)")
        // By key prefix; a selector that names nothing changes nothing.
        let key = try #require(try rows(sandbox).first { $0["pipeline"] as? String == "backend.fixture + exec 'echo other > o'" }?["key"] as? String)
        #expect(try sandbox.run(["cache", "rm", "no-such-machine"]).status == 64)
        #expect(try sandbox.succeed(["cache", "rm", String(key.prefix(8))]).status == 0)
        #expect(try rows(sandbox).count == 1)
    }

    @Test func anEntryWhosePluginIsGoneIsMarked() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.succeed(["backend.fixture", "+", "self_test.count", "--record=\(sandbox.file("r").path)"])
        #expect(try rows(sandbox).allSatisfy { $0["plugin_installed"] as? Bool == true })
        try FileManager.default.removeItem(at: sandbox.plugins.appendingPathComponent("self_test.so"))
        let marked = try rows(sandbox).filter { $0["plugin_installed"] as? Bool == false }
        #expect(marked.count == 1 && (marked.first?["pipeline"] as? String)?.contains("self_test.count") == true, "\(marked)")
    }
}
