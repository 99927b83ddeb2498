import Foundation
import Testing

/// The ansible and script steps on os.debian, in the Debian suite so that
/// Debian is installed once per test run and its VMs run one at a time.
extension DebianTests {
    @Test func ansibleInstallsAPackageFromDebiansMirror() throws {
        let sandbox = try sandbox()
        let run = try sandbox.succeed(["--json", "os.debian", "+", "ansible", "package", "--name=patch", "--state=present",
                                       "+", "exec", "patch --version | head -1"])
        #expect(run.out.hasPrefix("GNU patch"))
        #expect(run.built("ansible"))
        #expect(run.facts.contains { $0.step == "ansible" && $0.message == "TASK [package]" }, "no progress: \(run.err)")
    }

    @Test func aFailingModuleGivesAnsiblesMessageAndCachesNothing() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.debian", "+", "exec", "true"])
        let before = try sandbox.cacheSnapshot()
        let failed = try sandbox.run(["os.debian", "+", "ansible", "lineinfile", "--path=/nonexistent/hosts", "--line=x"])
        #expect(failed.status == 1)
        #expect(failed.err.contains("Destination /nonexistent/hosts does not exist"))
        #expect(try sandbox.cacheSnapshot() == before)
        let mistyped = try sandbox.run(["os.debian", "+", "ansible", "lineinfile", "--path=/etc/hosts", "--line=x", "--colour=red"])
        #expect(mistyped.status == 1)
        #expect(mistyped.err.contains("Unsupported parameters for (lineinfile) module: colour"))
    }

    /// A playbook is its whole folder: a role's defaults beside it changed
    /// rebuild it, as its own file would; unchanged, it is reused.
    @Test func aPlaybookIsReusedUntilItsFolderChanges() throws {
        let sandbox = try sandbox()
        let playbook = sandbox.file("playbook/site.yml")
        let defaults = sandbox.file("playbook/roles/account/defaults/main.yml")
        try FileManager.default.createDirectory(at: defaults.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: sandbox.file("playbook/roles/account/tasks"), withIntermediateDirectories: true)
        try """
            - ansible.builtin.user:
                name: "{{ user }}"
                shell: "{{ account_shell }}"
            """.write(to: sandbox.file("playbook/roles/account/tasks/main.yml"), atomically: true, encoding: .utf8)
        try "- hosts: all\n  gather_facts: false\n  roles: [account]\n".write(to: playbook, atomically: true, encoding: .utf8)
        func shell(_ path: String) throws { try "account_shell: \(path)\n".write(to: defaults, atomically: true, encoding: .utf8) }
        try shell("/bin/sh")
        // From the playbook's folder, by a relative path, as users type it.
        let pipeline = ["os.debian", "+", "ansible.playbook", "site.yml", "--var=user=alice", "+", "exec", "getent passwd alice"]
        let folder = playbook.deletingLastPathComponent()
        let first = try sandbox.run(pipeline, in: folder)
        #expect(first.status == 0 && first.out.hasSuffix(":/home/alice:/bin/sh\n"), "\(first.err)")
        let again = try sandbox.run(["--json"] + pipeline, in: folder)
        #expect(again.reused("ansible.playbook"))
        try shell("/bin/bash")
        let edited = try sandbox.run(["--json"] + pipeline, in: folder)
        #expect(edited.built("ansible.playbook"))
        #expect(edited.out.hasSuffix(":/home/alice:/bin/bash\n"))
    }

    @Test func scriptRunIsTransientWhenLastAndScriptTestGivesItsStatus() throws {
        let sandbox = try sandbox()
        let script = sandbox.file("provision.sh")
        try "#!/bin/sh\necho provisioned > /provisioned\necho ran\n".write(to: script, atomically: true, encoding: .utf8)
        let last = try sandbox.succeed(["--json", "os.debian", "+", "script.run", script.path])
        #expect(last.out == "ran\n")
        #expect(!last.built("script.run")) // last: run, not kept
        let kept = try sandbox.succeed(["--json", "os.debian", "+", "script.run", script.path, "+", "exec", "cat /provisioned"])
        #expect(kept.built("script.run"))
        #expect(kept.out == "ran\nprovisioned\n")
        let reused = try sandbox.succeed(["--json", "os.debian", "+", "script.run", script.path, "+", "exec", "cat /provisioned"])
        #expect(reused.reused("script.run"))

        let check = sandbox.file("check.sh")
        try "test -e /provisioned || exit 9\nexit 7\n".write(to: check, atomically: true, encoding: .utf8) // no #!: /bin/sh
        let provisioned = try sandbox.run(["os.debian", "+", "script.run", script.path, "+", "script.test", check.path])
        #expect(provisioned.status == 7)
        let bare = try sandbox.run(["os.debian", "+", "script.test", check.path])
        #expect(bare.status == 9)
    }

    /// The same package on two different machines comes from Debian's
    /// mirror once: apt-cacher-ng's own log counts what it fetched (I) and
    /// what it served (O). Then `cleanup downloads` stops and empties it.
    @Test func aPackageIsDownloadedOnceForEveryMachine() throws {
        let sandbox = try sandbox()
        let on = ["HOST_PACKAGE_CACHE": "on"]
        defer { _ = try? sandbox.run(["cleanup", "downloads"]) }
        var installs: [Double] = []
        for base in ["first", "second"] {
            let started = Date()
            // apt-get itself, not ansible: the cache's subject is apt's
            // downloads, and ansible's own work is dear under TCG.
            let run = try sandbox.run(["os.debian", "+", "exec", "touch /\(base)", "+", "exec", "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tree >/dev/null",
                                       "+", "exec", "tree --version | head -c 9"], extraEnvironment: on)
            #expect(run.status == 0 && run.out == "tree v2.1", "\(run.err)")
            installs.append(Date().timeIntervalSince(started))
        }
        let log = try String(contentsOf: sandbox.cache.appendingPathComponent("packages/log/apt-cacher.log"), encoding: .utf8)
        let tree = log.split(separator: "\n").filter { $0.contains("/pool/main/t/tree/tree_") }
        #expect(tree.filter { $0.contains("|I|") }.count == 1 && tree.filter { $0.contains("|O|") }.count == 2, "\(log)")
        print("package cache: first install \(installs[0]) s, second \(installs[1]) s")

        let packages = sandbox.cache.appendingPathComponent("packages")
        #expect(!PackageCacheTests.daemons(of: packages).isEmpty)
        let cleanup = try sandbox.succeed(["cleanup", "downloads"])
        #expect(!FileManager.default.fileExists(atPath: packages.path), "\(cleanup.out)")
        // Its apt-cacher-ng is gone.
        #expect(PackageCacheTests.daemons(of: packages).isEmpty)
    }
}
