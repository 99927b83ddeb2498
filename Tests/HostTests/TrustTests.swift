import Foundation
@testable import HostCore
@testable import HostModel
import Testing

/// Nothing serves a wrong machine, crashes on a closed pipe or lets another
/// user in: host paths enter keys by content, a closed standard output is
/// a normal end, a cache entry is checked path by path, another user's
/// directories block nothing, step names never shadow commands, doubles
/// have ranges. On the fixture backend: no VM.
@Suite struct TrustTests {
    func entries(_ sandbox: Sandbox) throws -> [String] {
        let listing = try sandbox.succeed(["cache", "ls", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [[String: Any]])
        return rows.compactMap { $0["key"] as? String }.sorted()
    }

    @Test func aRelativePathIsTheFileOfTheFolderItIsTypedIn() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["transfer"])
        let pipeline = ["backend.fixture", "+", "upload", "f.txt", "f", "+", "exec", "cat f"]
        func folder(_ name: String, holding text: String) throws -> URL {
            let folder = sandbox.file(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try text.write(to: folder.appendingPathComponent("f.txt"), atomically: true, encoding: .utf8)
            return folder
        }
        let a = try sandbox.run(pipeline, in: try folder("A", holding: "AAA\n"))
        #expect(a.status == 0 && a.out == "AAA\n", "\(a.err)")
        let b = try sandbox.run(pipeline, in: try folder("B", holding: "BBB\n"))
        #expect(b.status == 0 && b.out == "BBB\n", "\(b.err)")
        let built = try entries(sandbox)
        #expect(built.count == 3) // the backend's, and one upload per content
        // Another checkout holding A's file: A's entry, nothing built.
        let c = try sandbox.run(pipeline, in: try folder("C", holding: "AAA\n"))
        #expect(c.status == 0 && c.out == "AAA\n", "\(c.err)")
        #expect(try entries(sandbox) == built)
    }

    @Test func aMissingPathIsAUsageErrorBeforeAnyWork() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["transfer"])
        let run = try sandbox.run(["backend.fixture", "+", "upload", "no-such-file", "f"])
        #expect(run.status == 64)
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    @Test func aClosedStandardOutputEndsHostAsSIGPIPEWould() throws {
        let sandbox = try Sandbox()
        let run = try sandbox.piped(["backend.fixture", "+", "exec", "seq 1 200000"], into: "head -1")
        #expect(run.status == 141)
        #expect(run.out == "1\n")
        // Nothing after the progress lines: no crash report, no error.
        #expect(!run.err.contains("error") && !run.err.contains("crash"), "\(run.err)")
    }

    @Test func aFolderOfAnEntryReplacedByASymlinkIsDamageAndRebuilt() throws {
        let sandbox = try Sandbox()
        let pipeline = CacheIntegrityTests.pipeline
        let entry = try sandbox.builtEntry(try sandbox.succeed(["--json"] + pipeline), step: "exec")
        // The same files, outside the cache, where the folder was.
        let outside = sandbox.file("outside")
        let folder = entry.appendingPathComponent("machine/root")
        try FileManager.default.copyItem(at: folder, to: outside)
        try FileManager.default.removeItem(at: folder)
        try FileManager.default.createSymbolicLink(at: folder, withDestinationURL: outside)
        let verify = try sandbox.run(["cache", "verify", "--all", "--json"])
        #expect(verify.status == 1)
        let results = try #require(try JSONSerialization.jsonObject(with: Data(verify.out.utf8)) as? [[String: Any]])
        let damaged = try #require(results.first { $0["key"] as? String == entry.lastPathComponent })
        #expect(damaged["intact"] as? Bool == false)
        #expect((damaged["problem"] as? String)?.contains("machine/root") == true, "\(damaged)")
        let rebuilt = try sandbox.succeed(pipeline)
        #expect(rebuilt.out == "saved\n")
        var info = stat()
        #expect(lstat(folder.path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
    }

    /// A user the test makes (removed at its end) makes every directory a
    /// transient machine could go in first: the run still works, in a fresh
    /// private directory it removes afterwards.
    @Test func anotherUsersDirectoriesCannotBlockTransientSteps() throws {
        let sandbox = try Sandbox()
        let user = try OtherUser()
        defer { user.remove() }
        let candidates = CacheLocation(root: sandbox.cache).transientCandidates(environment: sandbox.environment)
        for candidate in candidates {
            #expect(mkdir(candidate.path, 0o755) == 0 && chown(candidate.path, user.uid, user.uid) == 0, "\(candidate.path)")
        }
        defer { for candidate in candidates { rmdir(candidate.path) } }
        let run = try sandbox.run(["backend.fixture", "+", "exec", "echo transient ran"])
        #expect(run.status == 0 && run.out == "transient ran\n", "\(run.err)")
        for candidate in candidates {
            var info = stat()
            #expect(lstat(candidate.path, &info) == 0 && info.st_uid == user.uid) // left alone
            let base = candidate.deletingLastPathComponent().path
            let fresh = try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.hasPrefix(candidate.lastPathComponent + ".") }
            #expect(fresh.isEmpty, "left behind: \(fresh)")
        }
    }

    @Test func aPipelineStartingStepNamedLikeACommandIsRefused() throws {
        let sandbox = try Sandbox()
        let plugin = try sandbox.compileC(PluginIsolationTests.source, as: "up",
                                          defines: ["-DPLUGIN_NAME=\"up\"", "-DSTEP_NAME=\"up\"", "-DSTEP_FLAGS=HOST_STEP_STARTS_PIPELINE"])
        let failures = try PluginIsolationTests().failures(sandbox)
        #expect(failures[plugin.path]?.contains("up") == true, "\(failures)")
        #expect(try sandbox.run(["up"]).status == 64)
        // `--` before the first step always means a pipeline.
        #expect(try sandbox.succeed(["--", "backend.fixture", "+", "exec", "echo ok"]).out == "ok\n")
        #expect(CommandWords.all.contains("up") && CommandWords.all.contains("list-plugins"))
    }

    @Test func aDoubleOutOfItsRangeIsAUsageErrorBeforeAnyMachine() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["script"])
        let script = sandbox.file("s.sh")
        try "true\n".write(to: script, atomically: true, encoding: .utf8)
        let run = try sandbox.run(["backend.fixture", "+", "script.debug", script.path, "--every=-1"])
        #expect(run.status == 64)
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    /// A playbook's folder is what it does: a role's defaults change its
    /// key, `.git` does not, and two checkouts agree.
    @Test func aPlaybooksFolderIsPartOfItsDigest() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("playbook-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let defaults = root.appendingPathComponent("a/roles/web/defaults/main.yml")
        try FileManager.default.createDirectory(at: defaults.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("a/.git"), withIntermediateDirectories: true)
        try "- hosts: all\n  roles: [web]\n".write(to: root.appendingPathComponent("a/site.yml"), atomically: true, encoding: .utf8)
        try "port: 80\n".write(to: defaults, atomically: true, encoding: .utf8)
        let digests = PathDigests(memo: nil)
        let site = root.appendingPathComponent("a/site.yml").path
        let first = try digests.digest(of: site, folder: true)
        try "x".write(to: root.appendingPathComponent("a/.git/HEAD"), atomically: true, encoding: .utf8)
        #expect(try digests.digest(of: site, folder: true) == first)
        try FileManager.default.copyItem(at: root.appendingPathComponent("a"), to: root.appendingPathComponent("b"))
        #expect(try digests.digest(of: root.appendingPathComponent("b/site.yml").path, folder: true) == first)
        try "port: 8080\n".write(to: defaults, atomically: true, encoding: .utf8)
        #expect(try digests.digest(of: site, folder: true) != first)
        #expect(try digests.digest(of: site) == (try Digest.ofFile(site))) // the file alone: its SHA-256
    }

    /// Entries of earlier versions keep working: a version-3 manifest lists
    /// its files, which are read as files.
    @Test func aVersion3ManifestIsStillRead() throws {
        let v3 = """
            {"version": 3, "key": "k", "pipeline": "p", "step": "s", "plugin": "/p.so", "pluginDigest": "d", "backend": "b",
             "build": "b1", "created": "2026-12-01T00:00:00Z", "expires": "2026-12-08T00:00:00Z", "dependencies": [],
             "arguments": "", "files": [{"path": "machine/disk", "size": 3, "sha256": "\(String(repeating: "a", count: 64))"}]}
            """
        guard case let .valid(manifest) = Manifest.parse(Data(v3.utf8)) else { Issue.record("not read"); return }
        #expect(manifest.saved?.map(\.kind) == [.file])
    }
}

/// A second local user, made with useradd for one test and removed after it.
struct OtherUser {
    let name = "hosttest\(UInt32.random(in: 0...999_999))"
    let uid: uid_t

    init() throws {
        let made = try Sandbox.execute("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        #expect(made.status == 0, "useradd: \(made.err)")
        uid = try #require(getpwnam(name)?.pointee.pw_uid)
    }

    func remove() { _ = try? Sandbox.execute("/usr/sbin/userdel", [name]) }
}

