import Foundation
import Testing

/// backend.ssh against a real sshd on a "remote machine" of the test's own
/// (Support/RemoteMachine.swift): nothing is saved, host keys are checked,
/// one connection serves a whole pipeline, and nothing outlives host.
@Suite(.serialized) struct SSHBackendTests {
    func sandbox() throws -> Sandbox {
        try Sandbox(plugins: ["backend_ssh", "exec", "transfer", "ssh", "ansible", "console", "os_busybox"], defaultBackend: "backend.ssh")
    }

    @Test func execKeepsStreamsApartAndReturnsTheStatus() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        // The key given as ~/..., which host expands (ssh's -i would not).
        let ssh = sandbox.root.appendingPathComponent("home/.ssh")
        try FileManager.default.createDirectory(at: ssh, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: remote.identity, to: ssh.appendingPathComponent("id_remote"))
        let run = try sandbox.run(["backend.ssh", "--host=\(remote.address)", "--user=root", "--identity=~/.ssh/id_remote",
                                   "--host-key=\(remote.hostKey)", "+", "exec", "echo out; echo err >&2; exit 3"])
        #expect(run.status == 3, "\(run.err)")
        #expect(run.out == "out\n")
        #expect(run.err.contains("err\n"))
        // Nothing would have been cached (exec is last), so nothing is said about it.
        #expect(!run.err.contains("nothing is cached"), "\(run.err)")
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    /// Files and trees both ways, ansible, and commands: every step runs on
    /// the machine itself, each time, over one login.
    @Test func aPipelineRunsOnTheMachineItselfOverOneConnection() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        let tree = sandbox.file("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data([0, 1, 2, 255, 10, 13]).write(to: tree.appendingPathComponent("sub/bytes"))
        let back = sandbox.file("back")
        let pipeline = remote.backend(["--host-key=\(remote.hostKey)"]) + [
            "+", "upload", tree.path, "/root/tree",
            "+", "ansible", "copy", "--dest=/root/from-ansible", "--content=made by ansible",
            "+", "exec", "cat /root/from-ansible; echo; ls /root/tree/sub",
            "+", "download", "/root/tree", back.path, "--force"]
        let before = remote.logins
        let run = try sandbox.succeed(pipeline)
        #expect(run.out.contains("made by ansible\nbytes\n"), "\(run.out)")
        #expect(remote.logins - before == 1, "logins: \(remote.logins - before)")
        #expect(run.err.contains("backend.ssh does not save machines, so nothing is cached: upload and every step after it run each time, on the machine itself"))
        #expect(try Data(contentsOf: back.appendingPathComponent("sub/bytes")) == Data([0, 1, 2, 255, 10, 13]))
        // It landed in the remote machine's own files.
        #expect(try String(contentsOf: remote.changes.appendingPathComponent("root/from-ansible"), encoding: .utf8) == "made by ansible")
        #expect(FileManager.default.fileExists(atPath: remote.changes.appendingPathComponent("root/tree/sub/bytes").path))
        // Again: every step runs again (ansible says the file is there).
        let again = try sandbox.succeed(["--json"] + pipeline)
        #expect(!again.facts.contains { $0.event == .reused }, "\(again.err)")
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    /// An existing machine under a name (`host up --name`): exec and cp
    /// work; stop refuses, since nothing is saved; rm forgets it.
    @Test func anExistingMachineUnderAName() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        _ = try sandbox.succeed(["up", "--name=remote"] + remote.backend(["--host-key=\(remote.hostKey)"]))
        let run = try sandbox.run(["exec", "remote", "--", "echo out; exit 3"])
        #expect(run.status == 3 && run.out == "out\n", "\(run)")
        try Data("sent\n".utf8).write(to: sandbox.file("sent"))
        _ = try sandbox.succeed(["cp", sandbox.file("sent").path, "remote:/root/sent"])
        #expect(try String(contentsOf: remote.changes.appendingPathComponent("root/sent"), encoding: .utf8) == "sent\n")
        let stop = try sandbox.run(["stop", "remote"])
        #expect(stop.status == 64 && stop.err.contains("saves nothing"), "\(stop.err)")
        _ = try sandbox.succeed(["rm", "--force", "remote"])
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    @Test func hostKeysAreCheckedNeverSkipped() throws {
        let sandbox = try sandbox()
        // On a port of its own: known_hosts names it [ADDRESS]:PORT.
        let remote = try RemoteMachine(in: sandbox, port: 2222)
        let name = "[\(remote.address)]:2222"
        let knownHosts = sandbox.file("known_hosts")
        try "".write(to: knownHosts, atomically: true, encoding: .utf8)
        let withKnownHosts = remote.backend(["--ssh-option=UserKnownHostsFile=\(knownHosts.path)"])

        // Unknown: refused, with the fingerprint and the command that accepts it; that command works.
        let unknown = try sandbox.run(withKnownHosts + ["+", "exec", "true"])
        #expect(unknown.status == 1)
        #expect(unknown.err.contains("its SSH host key is unknown (not in \(knownHosts.path), and no --host-key pins one); it presents ED25519 \(remote.fingerprint)"), "\(unknown.err)")
        let accept = "ssh-keyscan -p 2222 -t ed25519 \(remote.address) >> \(knownHosts.path)"
        #expect(unknown.err.contains("accept it with: \(accept), or pin it for this pipeline with --host-key=\(remote.fingerprint)"))
        #expect(try Sandbox.execute("/bin/sh", ["-c", accept]).status == 0)
        #expect(try sandbox.run(withKnownHosts + ["+", "exec", "echo accepted"]).out == "accepted\n")

        // Changed: refused, with the way to replace the old key.
        let other = try String(contentsOf: URL(fileURLWithPath: remote.identity.path + ".pub"), encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "\(name) \(other)\n".write(to: knownHosts, atomically: true, encoding: .utf8)
        let changed = try sandbox.run(withKnownHosts + ["+", "exec", "true"])
        #expect(changed.status == 1)
        #expect(changed.err.contains("its SSH host key is not the one \(knownHosts.path) records for \(name); it presents ED25519 \(remote.fingerprint)"), "\(changed.err)")
        #expect(changed.err.contains("ssh-keygen -R '\(name)' -f \(knownHosts.path) && \(accept)"))

        // Pinned by fingerprint, by public key line, or the wrong key.
        #expect(try sandbox.run(remote.backend(["--host-key=\(remote.fingerprint)"]) + ["+", "exec", "echo pinned"]).out == "pinned\n")
        #expect(try sandbox.run(remote.backend(["--host-key=\(remote.hostKey)"]) + ["+", "exec", "echo pinned"]).out == "pinned\n")
        let wrong = try sandbox.run(remote.backend(["--host-key=\(other)"]) + ["+", "exec", "true"])
        #expect(wrong.status == 1)
        #expect(wrong.err.contains("its SSH host key is not the one --host-key pins; it presents ED25519 \(remote.fingerprint)"), "\(wrong.err)")
        let wrongPrint = try sandbox.run(remote.backend(["--host-key=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) + ["+", "exec", "true"])
        #expect(wrongPrint.err.contains("presents no key with fingerprint SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA (--host-key); it presents ED25519 \(remote.fingerprint)"), "\(wrongPrint.err)")

        // Turning the check off is refused before anything runs.
        let off = try sandbox.run(remote.backend(["--ssh-option=StrictHostKeyChecking=no"]) + ["+", "exec", "true"])
        #expect(off.status == 64)
        #expect(off.err.contains("host sets stricthostkeychecking itself (host keys are always checked"), "\(off.err)")
    }

    @Test func aWrongUserIsRefusedByName() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        let run = try sandbox.run(["backend.ssh", "--host=\(remote.address)", "--user=nobody-here", "--identity=\(remote.identity.path)",
                                   "--host-key=\(remote.hostKey)", "+", "exec", "true"])
        #expect(run.status == 1)
        #expect(run.err.contains("nobody-here@\(remote.address) refused the login"), "\(run.err)")
        #expect(run.err.contains("Check --user"))
    }

    /// What cannot be done on an existing machine is refused up front, with why.
    @Test func whatAnExistingMachineCannotDoIsRefused() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        let backend = remote.backend(["--host-key=\(remote.hostKey)"])
        let os = try sandbox.run(backend + ["+", "os.busybox"])
        #expect(os.status == 64)
        #expect(os.err.contains("os.busybox installs an operating system, and backend.ssh works on an existing machine, which has its own already; remove os.busybox"), "\(os.err)")
        let transient = try sandbox.run(backend + ["+", "exec", "touch /root/kept", "--transient"])
        #expect(transient.status == 64)
        #expect(transient.err.contains("exec --transient cannot be undone on backend.ssh"), "\(transient.err)")
        #expect(!FileManager.default.fileExists(atPath: remote.changes.appendingPathComponent("root/kept").path))
        let console = try sandbox.run(backend + ["+", "console"])
        #expect(console.status == 1)
        #expect(console.err.contains("backend.ssh has no console"), "\(console.err)")
        #expect(!console.err.contains("connected to the serial console"))
        let help = try sandbox.succeed(["help", "backend.ssh"])
        #expect(help.out.contains("saves-nothing; it saves no machines, so no step on it is cached or undone"), "\(help.out)")
        #expect(help.out.contains("usage: host backend.ssh HOST [PORT] [USER] [IDENTITY] [SSH-OPTION] [HOST-KEY] [--PARAMETER=VALUE...]"), "\(help.out)")
    }

    @Test func theSSHStepOnARealTerminal() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        let session = try sandbox.onTerminal([["expect", "what is done on it stays"], ["expect", ":~# "],
                                              ["send", "echo ssh-$((40+2)); touch /root/from-shell\r"], ["expect", "ssh-42"],
                                              ["send", "exit\r"]], remote.backend(["--host-key=\(remote.hostKey)"]) + ["+", "ssh"])
        #expect(session.status == 0, "\(session.screen)")
        #expect(FileManager.default.fileExists(atPath: remote.changes.appendingPathComponent("root/from-shell").path))
    }

    @Test func sigkillOfHostLeavesNoSSHProcess() throws {
        let sandbox = try sandbox()
        let remote = try RemoteMachine(in: sandbox)
        let run = try sandbox.start(remote.backend(["--host-key=\(remote.hostKey)"]) + ["+", "exec", "sleep 300"])
        // Every ssh of the run names the test's key, which lives in the sandbox.
        func clients() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid in
                guard Int(pid) != nil, let line = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                      line.hasPrefix("/usr/bin/ssh"), line.contains(sandbox.root.path),
                      let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")"), !stat[close...].hasPrefix(") Z") else { return nil }
                return pid
            }
        }
        var deadline = Date().addingTimeInterval(60)
        while clients().count < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(clients().count == 2, "the connection and the command's ssh never both ran")
        run.kill()
        run.waitUntilExit()
        deadline = Date().addingTimeInterval(30)
        while !clients().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(clients().isEmpty, "ssh outlived host: \(clients().map { (try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8)) ?? $0 })")
    }
}
