import Foundation
import Testing

/// `host cleanup periodic` on the fixture backend: expired machines go,
/// then the least recently used leaves until the cache fits HOST_CACHE_MAX;
/// parents and named machines stay; host starts it itself once a day.
@Suite struct PeriodicCleanupTests {
    func entries(_ sandbox: Sandbox) throws -> [String: (key: String, bytes: Int)] {
        let listing = try #require(try JSONSerialization.jsonObject(with: Data(try sandbox.succeed(["cache", "ls", "--json"]).out.utf8)) as? [[String: Any]])
        var byPipeline: [String: (key: String, bytes: Int)] = [:]
        for row in listing {
            byPipeline[row["pipeline"] as? String ?? ""] = (row["key"] as? String ?? "", row["bytes"] as? Int ?? 0)
        }
        return byPipeline
    }

    @Test func leastRecentlyUsedLeavesGoUntilTheCacheFits() throws {
        let sandbox = try Sandbox()
        func make(_ name: String) -> [String] { ["backend.fixture", "+", "exec", "head -c 1048576 /dev/urandom > \(name)"] }
        _ = try sandbox.succeed(make("a") + ["+", "exec", "true"])
        _ = try sandbox.succeed(make("b") + ["+", "exec", "true"])
        _ = try sandbox.succeed(["tag", "kept"] + make("c"))
        Thread.sleep(forTimeInterval: 1.1) // mtimes are compared
        _ = try sandbox.succeed(make("a") + ["+", "exec", "true"]) // a is used last: b is the least recently used leaf
        let before = try entries(sandbox)
        #expect(before.count == 4, "\(before.keys)")
        let total = before.values.reduce(0) { $0 + $1.bytes }

        let fit = try sandbox.run(["cleanup", "periodic"], extraEnvironment: ["HOST_CACHE_MAX": String(total - 512 * 1024)])
        #expect(fit.status == 0 && fit.out.contains("removed 1 machine(s)"), "\(fit.out) \(fit.err)")
        let after = try entries(sandbox)
        #expect(after.keys.contains { $0.contains("> a") } && after.keys.contains { $0.contains("> c") } && !after.keys.contains { $0.contains("> b") },
                "\(after.keys)")

        // Nothing fits: every leaf goes but the named one and what it was built on.
        let none = try sandbox.run(["cleanup", "periodic"], extraEnvironment: ["HOST_CACHE_MAX": "0"])
        #expect(none.status == 0, "\(none.err)")
        #expect(Set(try entries(sandbox).keys) == ["backend.fixture", "backend.fixture + exec 'head -c 1048576 /dev/urandom > c'"])

        let wrong = try sandbox.run(["cleanup", "periodic"], extraEnvironment: ["HOST_CACHE_MAX": "lots"])
        #expect(wrong.status == 64 && wrong.err.contains("HOST_CACHE_MAX=lots is not a size"), "\(wrong.err)")
    }

    @Test func anOrdinaryRunStartsItOnceADay() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "echo soon > gone", "--cache=0s", "+", "exec", "true"])
        let stamp = sandbox.cache.appendingPathComponent("periodic-cleanup")
        #expect(FileManager.default.fileExists(atPath: stamp.path), "the first run starts the clock")
        #expect(try entries(sandbox).keys.contains { $0.contains("gone") })
        // Not due yet: nothing happens.
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "true"])
        #expect(try entries(sandbox).keys.contains { $0.contains("gone") })

        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-2 * 86400)], ofItemAtPath: stamp.path)
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "true"])
        let deadline = Date().addingTimeInterval(60)
        while try entries(sandbox).keys.contains(where: { $0.contains("gone") }), Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        #expect(try !entries(sandbox).keys.contains { $0.contains("gone") }, "the expired machine is still there")
        let started = try #require(try FileManager.default.attributesOfItem(atPath: stamp.path)[.modificationDate] as? Date)
        #expect(Date().timeIntervalSince(started) < 120)
    }
}
