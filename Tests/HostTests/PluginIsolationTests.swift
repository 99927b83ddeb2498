import Foundation
import Testing

/// A plugin that crashes or hangs while it loads is found by the scanner
/// child, recorded with its file and reason, and never takes host down; a
/// run loads the code of the plugins it uses and no other; a plugin that
/// crashes during a step is named in host's last words.
@Suite struct PluginIsolationTests {
    static let source = Sandbox.repository.appendingPathComponent("Tests/Fixtures/bad-plugins/bad_plugin.c")

    func failures(_ sandbox: Sandbox) throws -> [String: String] {
        let listing = try sandbox.run(["list-plugins", "--json"])
        #expect(listing.status == 0, "\(listing.err)")
        let json = try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [String: Any]
        let items = json?["failures"] as? [[String: String]] ?? []
        return Dictionary(uniqueKeysWithValues: items.compactMap { item in item["file"].map { ($0, item["reason"] ?? "") } })
    }

    @Test func pluginsThatCrashOrHangWhileLoadingAreNamedAndTheRestWork() throws {
        let sandbox = try Sandbox()
        let aborts = try sandbox.compileC(Self.source, as: "aborts", defines: ["-DENTRY_ABORTS", "-DPLUGIN_NAME=\"aborts\"", "-DSTEP_NAME=\"aborts.step\""])
        let hangs = try sandbox.compileC(Self.source, as: "hangs", defines: ["-DENTRY_HANGS", "-DPLUGIN_NAME=\"hangs\"", "-DSTEP_NAME=\"hangs.step\""])
        try sandbox.compileC(Self.source, as: "segfaults", defines: ["-DSTEP_SEGFAULTS", "-DPLUGIN_NAME=\"segfaults\"", "-DSTEP_NAME=\"segfaults.step\""])

        // A message test: a scan that takes long names the file it waits on.
        let scan = try sandbox.run(["list-plugins", "--json"])
        #expect(scan.err.contains("scanning the plugin \(hangs.path)"), "\(scan.err)")
        let found = try failures(sandbox)
        #expect(found.count == 2, "\(found)")
        #expect(found[aborts.path]?.contains("crashed with signal 6") == true, "\(found)")
        #expect(found[hangs.path]?.contains("did not finish loading within 10 s") == true, "\(found)")
        let text = try sandbox.succeed(["list-plugins"])
        #expect(text.out.contains("segfaults.step  [step]"))
        #expect(text.out.contains("exec  [step]"))

        // Recorded once: later runs neither retry nor wait on them.
        let started = Date()
        let run = try sandbox.succeed(["backend.fixture", "+", "exec", "echo still working"])
        #expect(run.out == "still working\n")
        #expect(Date().timeIntervalSince(started) < 10, "a run waited on the hanging plugin again")
        #expect(try sandbox.succeed(["help", "exec"]).out.hasPrefix("exec: "))
    }

    @Test func aPluginThatExitsWhileLoadingIsNamedAndItsStepsExit69() throws {
        let sandbox = try Sandbox()
        let leaves = try sandbox.compileC(Self.source, as: "leaves",
                                          defines: ["-DCONSTRUCTOR_EXITS", "-DPLUGIN_NAME=\"leaves\"", "-DSTEP_NAME=\"leaves.step\""])
        #expect(try failures(sandbox)[leaves.path]?.contains("exit status 0") == true)
        let run = try sandbox.run(["backend.fixture", "+", "leaves.step"])
        #expect(run.status == 69)
        #expect(run.err.contains(leaves.path), "\(run.err)")
    }

    @Test func aPluginThatCrashesInAStepIsNamedAndTheCacheIsUnchanged() throws {
        let sandbox = try Sandbox()
        let plugin = try sandbox.compileC(Self.source, as: "segfaults",
                                          defines: ["-DSTEP_SEGFAULTS", "-DPLUGIN_NAME=\"segfaults\"", "-DSTEP_NAME=\"segfaults.step\""])
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "touch kept", "+", "exec", "true"])
        let before = try sandbox.cacheSnapshot()
        let run = try sandbox.run(["backend.fixture", "+", "exec", "touch kept", "+", "segfaults.step"])
        #expect(run.status != 0)
        #expect(run.err.contains("host: error: the plugin \(plugin.path), running step segfaults.step, crashed (signal 11, SIGSEGV); the step's log: "),
                "\(run.err)")
        #expect(!run.err.contains("\n\n"), "\(run.err)") // no empty line before the report
        let kept = try #require(run.err.range(of: "the step's log: ").map { String(run.err[$0.upperBound...].prefix { $0 != ";" }) })
        #expect(kept.hasPrefix(sandbox.cache.appendingPathComponent("logs").path) && FileManager.default.fileExists(atPath: kept), "\(kept)")
        #expect(try sandbox.cacheSnapshot() == before)
        #expect(try sandbox.succeed(["backend.fixture", "+", "exec", "touch kept", "+", "exec", "test -e kept"]).status == 0)
    }

    @Test func aRunLoadsOnlyThePluginsItUses() throws {
        let sandbox = try Sandbox()
        let marker = sandbox.file("marker")
        let plugin = try sandbox.compileC(Self.source, as: "marked",
                                          defines: ["-DMARKER=\"\(marker.path)\"", "-DPLUGIN_NAME=\"marked\"", "-DSTEP_NAME=\"marked.step\""])
        // The first run scans the new file in a child process: its constructor runs there.
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "true"])
        #expect(FileManager.default.fileExists(atPath: marker.path))
        try FileManager.default.removeItem(at: marker)
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "true"])
        _ = try sandbox.succeed(["list-plugins"])
        #expect(!FileManager.default.fileExists(atPath: marker.path), "a run loaded a plugin it does not use")
        _ = try sandbox.succeed(["backend.fixture", "+", "marked.step"])
        #expect(FileManager.default.fileExists(atPath: marker.path), "the plugin a run uses was not loaded")
        // A changed file is scanned again.
        try FileManager.default.removeItem(at: marker)
        chmod(plugin.path, 0o644)
        _ = try sandbox.succeed(["list-plugins"])
        #expect(FileManager.default.fileExists(atPath: marker.path))
    }
}
