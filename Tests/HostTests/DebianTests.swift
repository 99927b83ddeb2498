import Foundation
import Testing

/// os.debian on backend.qemu, reached over SSH, and the backend-neutral
/// ssh, upload and download steps. Debian is installed once per test run
/// (mmdebstrap from Debian's mirror, about two minutes under TCG).
@Suite(.serialized) struct DebianTests {
    static let shared = Sandbox.shared(plugins: ["backend_qemu", "os_debian", "exec", "ssh", "transfer", "ansible", "script", "self_test", "console", "network", "system"])

    func sandbox() throws -> Sandbox { try Self.shared.get() }

    @Test func debianBootsThenRestores() throws {
        let sandbox = try sandbox()
        let first = try sandbox.succeed(["os.debian", "+", "exec", "cat /etc/os-release"])
        #expect(first.out.contains("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\""))
        let second = try sandbox.succeed(["--json", "os.debian", "+", "exec", "cat /etc/os-release; hostname"])
        #expect(second.reused("os.debian"))
        #expect(second.out.hasSuffix("\ndebian\n"))
        // The install showed its progress: each mmdebstrap phase as it started.
        let machines = sandbox.cache.appendingPathComponent("machines")
        let logs = try FileManager.default.contentsOfDirectory(atPath: machines.path)
            .compactMap { try? String(contentsOf: machines.appendingPathComponent("\($0)/log.txt"), encoding: .utf8) }
        #expect(logs.contains { $0.contains("mmdebstrap: downloading packages") && $0.contains("first boot: waiting for systemd") })
    }

    @Test func stateCarriesAcrossCachedSteps() throws {
        let sandbox = try sandbox()
        let run = try sandbox.succeed(["os.debian", "+", "exec", "touch /x", "+", "exec", "test -e /x && echo kept"])
        #expect(run.out == "kept\n")
        let streams = try sandbox.run(["os.debian", "+", "exec", "echo out; echo err >&2; exit 4"])
        #expect(streams.status == 4)
        #expect(streams.out == "out\n") // over SSH, stderr stays apart
        #expect(streams.err.contains("err\n"))
    }

    @Test func sshRunsCommandsAndRefusesAChangedHostKey() throws {
        let sandbox = try sandbox()
        let ok = try sandbox.succeed(["os.debian", "+", "ssh", "--", "true"])
        #expect(ok.status == 0)
        let status = try sandbox.run(["os.debian", "+", "ssh", "--", "echo hi; exit 3"])
        #expect(status.status == 3)
        #expect(status.out == "hi\n")

        // A step gives the guest a new host key, as a reinstall or another
        // machine on the same address would. Editing the recorded key in the
        // cache instead would be damage, and damage is rebuilt.
        let rekey = "rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key"
        let refused = try sandbox.run(["os.debian", "+", "exec", rekey, "+", "ssh", "--", "true"])
        #expect(refused.status != 0)
        #expect(refused.err.contains("Host key verification failed"))
        // Commands and file transfers go through the guest agent, a channel
        // of host's own QEMU, so the new key does not stop them; every byte
        // value arrives as it was sent.
        let file = sandbox.file("bytes")
        try Data(Array(0...255) + [UInt8](repeating: 0, count: 100_000) + Array((0...255).reversed())).write(to: file)
        let back = sandbox.file("bytes-back")
        let agent = try sandbox.run(["os.debian", "+", "exec", rekey, "+", "upload", file.path, "/root/bytes",
                                     "+", "download", "/root/bytes", back.path])
        #expect(agent.status == 0, "\(agent.err)")
        #expect(try Data(contentsOf: back) == Data(contentsOf: file))
        // Over SSH (a guest whose agent is stopped) the same upload is refused.
        let upload = try sandbox.run(Self.withoutAgent + ["+", "exec", rekey, "+", "upload", file.path, "/root/bytes"])
        #expect(upload.status != 0)
        #expect(upload.err.contains("refusing to connect: the machine's SSH host key is not the one recorded in"), "\(upload.err)")
    }

    @Test func anInteractiveShellOnARealTerminal() throws {
        let sandbox = try sandbox()
        let session = try sandbox.onTerminal([["expect", ":~# "], ["send", "echo ssh-$((40+2)); tty\r"], ["expect", "ssh-42"],
                                              ["expect", "/dev/pts/"], ["send", "exit\r"]], ["os.debian", "+", "ssh"])
        #expect(session.status == 0, "\(session.screen)")
        // ssh ended by a signal: host says so, with the signal's name.
        let killed = try sandbox.onTerminal([["expect", ":~# "], ["kill", "ssh"], ["expect", "ssh was killed by signal 9"]],
                                            ["os.debian", "+", "ssh"])
        #expect(killed.status == 137, "\(killed.screen)")
    }

    /// A named Debian machine (`host up --name`): `host ssh` on a real
    /// terminal, exec (through the guest agent) with standard input, and a
    /// stop and start that keep a running process.
    @Test func aNamedDebianMachine() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["up", "--name=deb", "os.debian"])
        defer { _ = try? sandbox.run(["rm", "--force", "deb"]) }
        let session = try sandbox.onTerminal([["expect", ":~# "], ["send", "echo ssh-$((40+2)); tty\r"], ["expect", "ssh-42"],
                                              ["expect", "/dev/pts/"], ["send", "exit\r"]], ["ssh", "deb"])
        #expect(session.status == 0, "\(session.screen)")
        let input = try Sandbox.execute("/bin/sh", ["-c", "printf 'one\\ntwo\\n' | \"$0\" exec deb -i -- wc -l",
                                                    Sandbox.products.appendingPathComponent("host").path], environment: sandbox.environment)
        #expect(input.status == 0 && input.out == "2\n", "\(input)")
        let pid = try sandbox.succeed(["exec", "deb", "--", "setsid -f sh -c 'echo $$ > /root/pid; exec sleep 1000' </dev/null >/dev/null 2>&1; sleep 1; cat /root/pid"]).out
        _ = try sandbox.succeed(["stop", "deb"])
        _ = try sandbox.succeed(["up", "deb"])
        let resumed = try sandbox.succeed(["exec", "deb", "--", "cat /root/pid; kill -0 $(cat /root/pid) && echo alive"])
        #expect(resumed.out == pid + "alive\n", "\(resumed)")
    }

    /// script.debug's shell on failure, on an ssh guest: an SSH session in
    /// the folder the script was in, on a real terminal.
    @Test func aFailedScriptOpensAnSSHShellWhereItStopped() throws {
        let sandbox = try sandbox()
        let file = sandbox.file("fails-in-tmp.sh")
        try "cd /var/tmp\necho kept > marker\nfalse\n".write(to: file, atomically: true, encoding: .utf8)
        let session = try sandbox.onTerminal([["expect", ":/var/tmp# "], ["send", "cat marker; tty\r"], ["expect", "/dev/pts/"],
                                              ["send", "exit\r"], ["expect", "line 3 failed"]],
                                             ["os.debian", "+", "script.debug", file.path, "--every=0"])
        #expect(session.status == 1, "\(session.screen)")
        #expect(session.screen.contains("a shell (ssh) in the machine as the failure left it, in /var/tmp, where the script was"), "\(session.screen)")
        #expect(session.screen.contains("kept\r\n"), "\(session.screen)")
    }

    @Test func theConsoleLogsRootInOnARealTerminal() throws {
        let sandbox = try sandbox()
        let session = try sandbox.consoleSession(["os.debian"])
        #expect(session.status == 0, "\(session.screen)")
    }

    @Test func aRestoredGuestsClockIsTheHosts() throws {
        let clock = try sandbox().clockAfterRestore(of: "os.debian")
        #expect(clock.guest >= clock.before - 2 && clock.guest <= clock.after + 2, "\(clock)")
    }

    /// A restored Debian runs commands through QEMU's guest agent, as root
    /// in its home with its login shell: output apart, the command's status.
    /// A guest whose agent was stopped is reached over SSH, and host says so
    /// (without waiting for the agent: it was not running at the save).
    @Test func commandsGoThroughTheGuestAgent() throws {
        let sandbox = try sandbox()
        let run = try sandbox.run(["os.debian", "+", "exec", "echo out; echo err >&2; pwd; echo $SHELL; \(Self.nearestAgent); exit 3"])
        #expect(run.status == 3, "\(run.err)")
        #expect(run.out == "out\n/root\n/bin/bash\nqemu-ga\n", "\(run.out)")
        #expect(run.err.contains("err\n"), "\(run.err)")

        let fallback = try sandbox.run(Self.withoutAgent + ["+", "exec", "echo over ssh"])
        #expect(fallback.status == 0 && fallback.out == "over ssh\n", "\(fallback.err)")
        #expect(fallback.err.contains("the guest agent was not running when this machine was saved (is qemu-guest-agent installed and running in the guest?); using SSH"),
                "\(fallback.err)")
    }

    /// Prints the name of the nearest of the command's ancestors that is the
    /// guest agent (qemu-ga), else init's.
    static let nearestAgent = "p=$PPID; while [ $p -gt 1 ] && [ $(cat /proc/$p/comm) != qemu-ga ]; do p=$(cut -d' ' -f4 /proc/$p/stat); done; cat /proc/$p/comm"

    /// A Debian whose guest agent was stopped (over SSH, by ansible): host
    /// falls back to SSH for everything.
    static let withoutAgent = ["os.debian", "+", "ansible", "systemd", "--name=qemu-guest-agent", "--state=stopped"]

    @Test func commandsAndTransfersShareOneConnection() throws {
        let run = try sandbox().succeed(Self.withoutAgent + ["+", "self_test.connections"])
        #expect(run.out.hasPrefix("1 connection(s) for 4 use(s) of SSH: 10.0.2.2 "), "\(run.out)")
    }

    @Test func uploadIsKeyedByContentAndDownloadBringsFilesBack() throws {
        let sandbox = try sandbox()
        let app = sandbox.file("app")
        try FileManager.default.createDirectory(at: app, withIntermediateDirectories: true)
        try "#!/bin/sh\necho version one\n".write(to: app.appendingPathComponent("test.sh"), atomically: true, encoding: .utf8)
        chmod(app.appendingPathComponent("test.sh").path, 0o755)
        let first = try sandbox.succeed(["os.debian", "+", "upload", app.path, "/root/app", "+", "exec", "/root/app/test.sh"])
        #expect(first.out == "version one\n")
        let again = try sandbox.succeed(["--json", "os.debian", "+", "upload", app.path, "/root/app", "+", "exec", "/root/app/test.sh"])
        #expect(again.reused("upload"))
        try "#!/bin/sh\necho version two\n".write(to: app.appendingPathComponent("test.sh"), atomically: true, encoding: .utf8)
        chmod(app.appendingPathComponent("test.sh").path, 0o755) // an atomic write makes a new file
        let changed = try sandbox.succeed(["--json", "os.debian", "+", "upload", app.path, "/root/app", "+", "exec", "/root/app/test.sh"])
        #expect(changed.built("upload")) // another content, another key
        #expect(changed.out == "version two\n")

        let back = sandbox.file("back")
        _ = try sandbox.succeed(["os.debian", "+", "upload", app.path, "/root/app", "+", "download", "/root/app", back.path])
        #expect(try String(contentsOf: back.appendingPathComponent("test.sh"), encoding: .utf8) == "#!/bin/sh\necho version two\n")

        // An existing host file is never overwritten without --force.
        let file = sandbox.file("hostname")
        try "mine\n".write(to: file, atomically: true, encoding: .utf8)
        let refused = try sandbox.run(["os.debian", "+", "download", "/etc/hostname", file.path])
        #expect(refused.status == 64)
        #expect(refused.err.contains("\(file.path) exists already; remove it or pass --force to overwrite it"))
        #expect(try String(contentsOf: file, encoding: .utf8) == "mine\n")
        _ = try sandbox.succeed(["os.debian", "+", "download", "/etc/hostname", file.path, "--force"])
        #expect(try String(contentsOf: file, encoding: .utf8) == "debian\n")
    }

    /// Pushed with this suite's key, pulled into a cache with a key of its
    /// own: `from` authorizes the puller's key instead of the pusher's before
    /// any step, and ssh, typed into on a terminal, lets the puller in,
    /// checking the host key recorded in the pulled machine.
    @Test func pulledDebianLetsThePullerInWithTheirOwnKey() throws {
        let sandbox = try sandbox()
        let registry = try LocalRegistry()
        let reference = registry.reference("team/debian:1")
        _ = try sandbox.succeed(["push", LocalRegistry.noTLS, reference, "os.debian"])
        let puller = try Sandbox(plugins: ["backend_qemu", "ssh", "exec"], defaultBackend: "backend.qemu")
        _ = try puller.succeed(["pull", LocalRegistry.noTLS, reference])
        let session = try puller.onTerminal([["expect", ":~# "], ["send", "grep -c . /root/.ssh/authorized_keys; cat /root/.ssh/authorized_keys\r"],
                                             ["expect", "host machines key"], ["send", "exit\r"]],
                                            ["from", LocalRegistry.noTLS, reference, "+", "ssh"])
        #expect(session.status == 0, "\(session.screen)")
        func key(_ cache: URL) throws -> String {
            try #require(String(contentsOf: cache.appendingPathComponent("ssh/id_ed25519.pub"), encoding: .utf8).split(separator: " ").dropFirst().first.map(String.init))
        }
        #expect(session.screen.contains(try key(puller.cache)), "\(session.screen)")
        #expect(!session.screen.contains(try key(sandbox.cache)), "\(session.screen)")
        #expect(session.screen.contains("your SSH key is authorized in /root/.ssh/authorized_keys instead of the pusher's"), "\(session.screen)")
    }

    /// A sealed Debian reaches nothing outside, not even this computer,
    /// while ssh, through its forwarded port, still gets in; unseal undoes it.
    @Test func aSealedDebianStillTakesSSH() throws {
        let sandbox = try sandbox()
        let server = try LocalWebServer(serving: "served\n")
        // Debian's minimal install has neither curl nor wget: bash's /dev/tcp.
        let request = "exec 3<>/dev/tcp/10.0.2.2/\(server.port) && printf 'GET /file HTTP/1.0\\r\\n\\r\\n' >&3 && tail -n1 <&3"
        let quoted = "'" + request.replacingOccurrences(of: "'", with: "'\\''") + "'"
        let fetch = ["ssh", "--", "timeout 10 bash -c \(quoted); echo status=$?"]
        let sealed = try sandbox.succeed(["os.debian", "+", "seal", "+"] + fetch)
        #expect(!sealed.out.contains("served") && sealed.out.contains("status=") && !sealed.out.contains("status=0"), "\(sealed.out)")
        let unsealed = try sandbox.succeed(["os.debian", "+", "seal", "+", "unseal", "+"] + fetch)
        #expect(unsealed.out == "served\nstatus=0\n", "\(unsealed.out) \(unsealed.err)")
    }

    /// systemd's reboot, then the guest agent and SSH in the new boot.
    @Test func debianRebootsAndIsReachedAgain() throws {
        let sandbox = try sandbox()
        let run = try sandbox.succeed(["os.debian", "+", "exec", "cat /proc/sys/kernel/random/boot_id > /root/boot", "+", "reboot",
                                       "+", "exec", "cmp -s /root/boot /proc/sys/kernel/random/boot_id || echo new boot",
                                       "+", "ssh", "--", "echo over ssh"])
        #expect(run.out == "new boot\nover ssh\n", "\(run.err)")
    }
}
