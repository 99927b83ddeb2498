import Foundation
import Testing

/// What a new user meets before any machine runs: pipelines refused up front
/// when they cannot work, usage errors in one form with exit 64, a help text
/// and man page that explain host, shell completion, and the cleanup and
/// JSON commands. No VM starts in these tests.
@Suite struct FirstContactTests {
    /// The fixture backend plus the real OS, transfer and backend plugins,
    /// which these checks refuse before they could run.
    func sandbox() throws -> Sandbox {
        try Sandbox(plugins: Sandbox.standardPlugins + ["os_busybox", "os_debian", "os_fedora", "backend_qemu", "backend_libvirt", "transfer", "ansible"])
    }

    @Test func pipelinesThatCannotWorkAreRefusedBeforeAnyWork() throws {
        let sandbox = try sandbox()
        let cases: [([String], String)] = [
            (["os.busybox", "+", "exec", "true", "+", "os.debian"],
             "os.debian installs a new system, so it can only come first or right after a backend step"),
            (["backend.qemu", "+", "os.busybox", "--transient", "+", "exec", "true"],
             "os.busybox --transient would drop the system it installs, so exec would get an empty machine; remove --transient"),
            (["ansible"], "ansible needs a machine, so it cannot start a pipeline"),
            (["os.busybox", "+", "exec", "true"],
             "os.busybox needs a machine offering host.vm/1 or host.container/1, which backend.fixture does not; start the pipeline with a backend that does (backend.libvirt, backend.qemu), as in `host backend.libvirt + os.busybox`"),
            (["os.busybox", "+", "backend.qemu"],
             "backend.qemu is a backend, so it can only be the first step of a pipeline, as in `host backend.qemu + os.busybox`"),
            (["backend.fixture", "+", "backend.qemu"], "a pipeline runs on one backend, and this one starts with backend.fixture; remove backend.qemu"),
            (["backend.qemu", "--cores=0", "+", "os.busybox"], "backend.qemu: --cores=0: cores must be between 1 and 64"),
            (["backend.fixture", "+", "download", "/a", "/b", "yes"], "download: unexpected word \"yes\""),
        ]
        for (words, message) in cases {
            let run = try sandbox.run(words)
            #expect(run.status == 64, "\(words): \(run.err)")
            #expect(run.err == "host: error: \(run.err.dropFirst("host: error: ".count))" && run.err.contains(message),
                    "\(words): \(run.err)")
            #expect(!run.err.contains("built"), "work was done for \(words): \(run.err)")
        }
        #expect(sandbox.temporaryLeftovers().isEmpty)
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    @Test func aPluginsUsageErrorExits64() throws {
        let sandbox = try sandbox()
        let ram = try sandbox.run(["backend.qemu", "--ram=lots", "+", "os.busybox"])
        #expect(ram.status == 64, "\(ram.err)")
        #expect(ram.err.contains("host: error: backend.qemu: --ram=lots is not a size; write it like 512M or 2G"))
        let huge = try sandbox.run(["backend.qemu", "--ram=9999999999999T", "+", "os.busybox"])
        #expect(huge.status == 64, "\(huge.err)")
        let forward = try sandbox.run(["backend.qemu", "--forward=x:80:443", "+", "os.busybox"], extraEnvironment: ["HOST_QEMU_ACCEL": "tcg"])
        #expect(forward.status == 64, "\(forward.err)")
        #expect(forward.err.contains("--forward=x:80:443 is not HOSTPORT:GUESTPORT; write it like --forward=8080:80"))
        let refused = try sandbox.run(["backend.fixture", "--run-note=refuse", "+", "exec", "true"])
        #expect(refused.status == 64, "\(refused.err)")
        #expect(refused.err.contains("--run-note=refuse is refused"))
    }

    /// backend.libvirt checks its arguments before it connects, and names
    /// the URI and what to do when it cannot connect.
    @Test func backendLibvirtSaysWhatIsWrong() throws {
        let sandbox = try sandbox()
        let accel = try sandbox.run(["backend.libvirt", "--accel=fast", "+", "os.busybox"])
        #expect(accel.status == 64 && accel.err.contains("host: error: backend.libvirt: --accel=fast is not one of auto, kvm, tcg"), "\(accel.err)")
        let uri = "qemu:///system?socket=/nonexistent/libvirt-sock"
        let down = try sandbox.run(["backend.libvirt", "--uri=\(uri)", "+", "os.busybox"])
        #expect(down.status == 1, "\(down.err)")
        #expect(down.err.contains("cannot connect to \(uri): libvirt's daemon is not running there")
                && down.err.contains("systemctl start libvirtd"), "\(down.err)")
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    @Test func aRunTimeParameterIsAppliedEveryRunAndLeftOutOfTheKey() throws {
        let sandbox = try sandbox()
        let record = sandbox.file("runs")
        for note in ["first", "second"] {
            let run = try sandbox.succeed(["backend.fixture", "--run-note=\(note)", "+", "self_test.count", "--record=\(record.path)",
                                           "+", "exec", "cat run-note"])
            #expect(run.out == "\(note)\n")
        }
        #expect(sandbox.runs(record) == 1)
    }

    @Test func anUnreachableMirrorIsNamedOnceWithTheWayToChangeIt() throws {
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let run = try sandbox().run(["backend.qemu", "+", "os.fedora", "--mirror=http://127.0.0.1:1/fedora", "+", "exec", "true"],
                                    extraEnvironment: ["HOST_QEMU_ACCEL": "tcg"])
        #expect(run.status == 1)
        #expect(run.err.components(separatedBy: "the Fedora mirror http://127.0.0.1:1/fedora did not answer; another one: --mirror=URL or HOST_FEDORA_MIRROR=URL").count == 2, "\(run.err)")
        #expect(run.err.components(separatedBy: "curl: (7)").count == 2, "\(run.err)")
    }

    @Test func quietLeavesACommandsStatusToItself() throws {
        let sandbox = try sandbox()
        let quiet = try sandbox.run(["-q", "backend.fixture", "+", "exec", "echo out; exit 3"])
        #expect(quiet.status == 3)
        #expect(quiet.out == "out\n")
        #expect(quiet.err == "")
        let loud = try sandbox.run(["backend.fixture", "+", "exec", "exit 3"])
        #expect(loud.err.contains("host: error: exec failed: `exit 3` exited with status 3"))
        let version = try sandbox.run(["-q", "--version"])
        #expect(version.status == 0)
        #expect(version.out.hasPrefix("host "))
    }

    @Test func argumentParserErrorsReadLikeHostsOwn() throws {
        let sandbox = try sandbox()
        for words in [["cleanup", "sideways"], ["cleanup", "logs", "all"], ["cache", "ls", "--colour"], ["completion", "tcsh"], ["--nope"]] {
            let run = try sandbox.run(words)
            #expect(run.status == 64, "\(words): \(run.err)")
            #expect(run.err.hasPrefix("host: error: "), "\(words): \(run.err)")
            #expect(!run.err.contains("Error:"), "\(words): \(run.err)")
        }
    }

    @Test func helpNamesEveryOptionEnvironmentVariableAndExamples() throws {
        let sandbox = try sandbox()
        let help = try sandbox.run(["--help"])
        #expect(help.status == 0)
        for text in ["--quiet", "--verbose", "--json", "--version", "HOST_CACHE_DIR", "HOST_PLUGIN_PATH", "HOST_DEFAULT_BACKEND", "HOST_QEMU_ACCEL",
                     "HOST_CRIU", "HOST_DEBIAN_MIRROR", "HOST_FEDORA_MIRROR", "HOST_ALPINE_MIRROR", "EXAMPLES:", "$ host os.debian + ssh",
                     "cleanup downloads", "cleanup logs", "completion bash|zsh|fish"] {
            #expect(help.out.contains(text), "--help lacks \(text)")
        }
        let manual = try sandbox.run(["__manual"])
        #expect(manual.out.hasPrefix(".TH HOST 1"))
        #expect(manual.out.contains(".SH ENVIRONMENT") && manual.out.contains("HOST_QEMU_ACCEL"))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/man") {
            let page = sandbox.file("host.1")
            try manual.out.write(to: page, atomically: true, encoding: .utf8)
            let rendered = try Sandbox.execute("/usr/bin/man", ["-l", "-P", "cat", page.path], environment: ["MANWIDTH": "100", "PATH": "/usr/bin:/bin"])
            #expect(rendered.out.contains("HOST_QEMU_ACCEL"), "\(rendered.err)")
            #expect(!rendered.err.contains("warning"), "\(rendered.err)")
        }
    }

    /// The real bash completion script, sourced in bash, with COMP_* as
    /// bash sets them on TAB.
    func complete(_ line: String, in sandbox: Sandbox) throws -> [String] {
        let script = try sandbox.succeed(["completion", "bash"]).out
        let file = sandbox.file("completion.bash")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let program = """
            source \(file.path)
            COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}
            read -r -a COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            _host
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        var environment = sandbox.environment
        environment["PATH"] = Sandbox.products.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        let run = try Sandbox.execute("/bin/bash", ["-c", program], environment: environment)
        #expect(run.status == 0, "\(run.err)")
        return run.out.split(separator: "\n").map(String.init)
    }

    @Test func bashCompletesStepsAndParameters() throws {
        let sandbox = try sandbox()
        #expect(try complete("host os.de", in: sandbox) == ["os.debian"])
        #expect(try complete("host os.debian --re", in: sandbox) == ["--release="])
        #expect(try complete("host clea", in: sandbox) == ["cleanup"])
        #expect(try complete("host cleanup ", in: sandbox) == ["machines", "downloads", "logs", "everything", "periodic"])
        #expect(try complete("host os.busybox + ex", in: sandbox) == ["exec"])
        #expect(try complete("host os.busybox + os.", in: sandbox) == ["os.debian.user"]) // an OS step only comes first
        #expect(try complete("host backend.qemu + os.b", in: sandbox) == ["os.busybox"])
        #expect(try complete("host backend.qemu --forward=80", in: sandbox) == [])
        for shell in ["zsh", "fish"] {
            let script = try sandbox.succeed(["completion", shell]).out
            #expect(script.contains("host __complete"))
        }
    }

    @Test func cleanupOfDownloadsAndLogs() throws {
        let sandbox = try sandbox()
        let downloads = sandbox.cache.appendingPathComponent("downloads/sha256-00")
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: sandbox.cache.appendingPathComponent("downloads/partial"), withIntermediateDirectories: true)
        try Data(repeating: 1, count: 10_000).write(to: downloads.appendingPathComponent("image.qcow2"))
        // A failed step keeps its log, named in the error.
        let failed = try sandbox.run(["backend.fixture", "+", "self_test.note", "x", "+", "self_test.console", "nothing", "never", "--timeout=100"])
        #expect(failed.status != 0)
        #expect(failed.err.contains("(the step's log: \(sandbox.cache.path)/logs/"), "\(failed.err)")
        let logs = try sandbox.succeed(["cleanup", "logs", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(logs.out.utf8)) as? [String: Any]
        #expect(report?["logs"] as? Int == 1)
        #expect(try sandbox.succeed(["cleanup", "downloads"]).out.hasPrefix("removed 1 download(s), freed "))
        #expect(!FileManager.default.fileExists(atPath: downloads.appendingPathComponent("image.qcow2").path))
    }

    @Test func cacheListingAsJSON() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["backend.fixture", "--label=x", "+", "exec", "touch a", "+", "exec", "true"])
        let json = try sandbox.succeed(["cache", "ls", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        #expect(rows.contains { $0["pipeline"] as? String == "backend.fixture --label=x + exec 'touch a'" && ($0["bytes"] as? Int ?? 0) > 0 })
        #expect(rows.allSatisfy { ($0["key"] as? String)?.count == 64 && $0["expires"] is String })
    }
}
