import Foundation
import Testing

/// backend.qemu and os.busybox under real QEMU (TCG where KVM does not
/// work). One cache serves the whole suite, so the guest boots cold once per
/// test run; the tests run one at a time so guests do not starve each other.
@Suite(.serialized) struct QemuBackendTests {
    static let shared = Sandbox.shared(plugins: ["backend_qemu", "os_busybox", "exec", "self_test", "console", "network", "system", "script"])

    func sandbox() throws -> Sandbox { try Self.shared.get() }

    @Test func aRestoredMachineKeepsItsFilesAndItsRunningProcesses() throws {
        let sandbox = try sandbox()
        let setUp = ["os.busybox", "+", "exec", "echo marker > /root/marker; sleep 1000 >/dev/null 2>&1 & echo $! > /root/pid"]
        _ = try sandbox.succeed(setUp + ["+", "exec", "true"])
        // A new host process: restore the saved step and look inside.
        let check = try sandbox.succeed(["--json"] + setUp + ["+", "exec", "cat /root/marker; kill -0 $(cat /root/pid) && echo still running"])
        #expect(check.reused("exec"))
        #expect(check.out == "marker\nstill running\n")
        let uname = try sandbox.succeed(["os.busybox", "+", "exec", "uname -s"])
        #expect(uname.out == "Linux\n")
    }

    /// A step after a saved one continues the very QEMU that saved it, on a
    /// new overlay: its processes run on and its writes never reach the
    /// saved entry, whose files stay exactly as recorded.
    @Test func theNextStepContinuesTheMachineJustSaved() throws {
        let sandbox = try sandbox()
        let tag = String(UInt32.random(in: 0...UInt32.max))
        let pipeline = ["os.busybox", "+", "exec", "echo \(tag) > /mnt/disk/saved; sleep 1000 >/dev/null 2>&1 & echo $! > /root/pid",
                        "+", "exec", "echo later > /mnt/disk/saved; kill -0 $(cat /root/pid) && echo running",
                        "+", "exec", "cat /mnt/disk/saved"]
        let run = try sandbox.run(pipeline, extraEnvironment: ["HOST_TRACE": "1"])
        #expect(run.status == 0 && run.out == "running\nlater\n", "\(run.err)")
        #expect(run.err.components(separatedBy: "qemu: taken over from the save").count >= 3, "\(run.err)") // by both steps after a save
        let verify = try sandbox.run(["cache", "verify", "--all"])
        #expect(verify.status == 0 && !verify.out.contains("damaged"), "\(verify.out)")
        // Restored from the first exec's entry: the disk as it was saved.
        let first = Array(pipeline[0..<4]) + ["+", "exec", "cat /mnt/disk/saved"]
        #expect(try sandbox.succeed(first).out == "\(tag)\n")
    }

    @Test func diskAndExitStatusWork() throws {
        let sandbox = try sandbox()
        let disk = try sandbox.succeed(["os.busybox", "+", "exec", "echo kept > /mnt/disk/file", "+", "exec", "cat /mnt/disk/file"])
        #expect(disk.out == "kept\n")
        let failing = try sandbox.run(["os.busybox", "+", "exec", "echo to-stderr >&2; exit 5"])
        #expect(failing.status == 5)
        #expect(failing.out.isEmpty) // through the output ports the streams stay apart
        #expect(failing.err.contains("to-stderr\n"))
    }

    /// 10 MB of a console-only guest's output arrive byte for byte: a
    /// carriage return the serial console's line discipline would have
    /// turned into a newline, NULs, and stderr apart, which only the output
    /// ports keep.
    @Test func commandOutputComesWholeThroughTheOutputPorts() throws {
        let sandbox = try sandbox()
        let file = sandbox.root.appendingPathComponent("output")
        let result = try sandbox.piped(["os.busybox", "+", "exec",
                                        "seq 1 1200000 | tr 5 '\\r'; head -c 1048576 /dev/zero; echo apart >&2"],
                                       into: "cat > '\(file.path)'")
        #expect(result.status == 0)
        #expect(result.err.contains("apart\n"))
        var expected = Data((1...1_200_000).map { "\($0)\n" }.joined().replacingOccurrences(of: "5", with: "\r").utf8)
        expected.append(Data(count: 1 << 20))
        let output = try Data(contentsOf: file)
        #expect(output.count == expected.count)
        #expect(output == expected)
    }

    @Test func theSerialConsoleAnswersExpect() throws {
        let sandbox = try sandbox()
        let run = try sandbox.succeed(["os.busybox", "+", "self_test.console", "echo console-$((40+2))", "console-4[0-9]", "--regex"])
        #expect(run.err.contains("console showed console-4[0-9]"))
    }

    @Test func theConsoleStepOnARealTerminal() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "true"])
        let session = try sandbox.consoleSession(["os.busybox"])
        #expect(session.status == 0, "\(session.screen)")
        #expect(!session.screen.contains("HOST%s"), "host's own console commands showed: \(session.screen)")
    }

    @Test func aRestoredGuestsClockIsTheHosts() throws {
        let clock = try sandbox().clockAfterRestore(of: "os.busybox")
        #expect(clock.guest >= clock.before - 2 && clock.guest <= clock.after + 2, "\(clock)")
    }

    /// A free TCP port on 127.0.0.1 (the kernel picks, then we let it go).
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// One HTTP GET over loopback; nil while nothing answers.
    static func fetch(port: UInt16) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = "GET /index.html HTTP/1.0\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response += buffer.prefix(count)
        }
        return response.isEmpty ? nil : String(decoding: response, as: UTF8.self)
    }

    @Test func furtherForwardsListenOnLoopbackOnly() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "true"])
        let port = Self.freePort()
        let messages = sandbox.file("forward.err")
        let run = try sandbox.start(["--json", "backend.qemu", "--forward=\(port):8080", "+", "os.busybox", "+", "exec",
                                     "mkdir -p /tmp/www; echo forwarded > /tmp/www/index.html; httpd -p 8080 -h /tmp/www; sleep 20"],
                                    errors: messages)
        defer { run.kill(); run.waitUntilExit() }
        var page: String?
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            page = Self.fetch(port: port)
            if page?.contains("forwarded") == true { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(page?.contains("forwarded") == true, "no page on 127.0.0.1:\(port): \(page ?? "nothing answered")")
        // A run-time parameter: the machine built without the forward is the one restored.
        let said = Sandbox.Result(status: 0, out: "", err: (try? String(contentsOf: messages, encoding: .utf8)) ?? "")
        #expect(said.reused("backend.qemu") && said.reused("os.busybox"), "\(said.err)")
        // Listening sockets on that port, from the kernel's table: loopback only.
        let table = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8).split(separator: "\n").dropFirst()
        let listeners = table.map { $0.split(separator: " ") }.filter { $0.count > 3 && $0[3] == "0A" && $0[1].hasSuffix(String(format: ":%04X", port)) }
        #expect(!listeners.isEmpty)
        #expect(listeners.allSatisfy { $0[1].hasPrefix("0100007F:") })
    }

    @Test func aTransientStepLeavesNoTrace() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "--transient", "touch /root/transient", "+",
                                  "exec", "test ! -e /root/transient"])
    }

    @Test func filesAndDirectoriesTravelBothWays() throws {
        let sandbox = try sandbox()
        let file = sandbox.file("upload.txt")
        try "line one\nline 'two' $HOME\n".write(to: file, atomically: true, encoding: .utf8)
        _ = try sandbox.succeed(["os.busybox", "+", "self_test.roundtrip", file.path])
        #expect(try Data(contentsOf: file) == Data(contentsOf: URL(fileURLWithPath: file.path + ".back")))

        let directory = sandbox.file("tree")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data((0..<5000).map { UInt8($0 % 251) }).write(to: directory.appendingPathComponent("sub/binary"))
        _ = try sandbox.succeed(["os.busybox", "+", "self_test.roundtrip", directory.path])
        #expect(try Data(contentsOf: directory.appendingPathComponent("sub/binary"))
                == Data(contentsOf: URL(fileURLWithPath: directory.path + ".back/sub/binary")))
    }

    @Test func twoRestoresOfOneMachineAtOnceDoNotInterfere() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "true"])
        var runs: [(HostRun, URL, String)] = []
        for name in ["first", "second"] {
            let output = sandbox.file("\(name).out")
            let process = try sandbox.start(["os.busybox", "+", "exec", "echo \(name) > /root/who; sleep 2; cat /root/who"], output: output)
            runs.append((process, output, name))
        }
        for (process, output, name) in runs {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            #expect(try String(contentsOf: output, encoding: .utf8) == "\(name)\n")
        }
    }

    /// Each way a saved VM's files go bad (a disk error, a full disk at the
    /// wrong moment, a careless copy) is found before it boots, said once,
    /// and rebuilt; the run's output is right.
    @Test(arguments: ["state.zst cut in half", "state.zst with 4 KiB inverted", "state.zst emptied", "disk.qcow2 missing",
                      "disk.qcow2 overwritten", "qemu.json with another memory size", "boot/kernel cut short"])
    func aDamagedSavedVMIsRebuiltNeverBooted(_ damage: String) throws {
        let sandbox = try sandbox()
        let tag = damage.filter(\.isLetter)
        let pipeline = ["os.busybox", "+", "exec", "echo \(tag) > /root/damage", "+", "exec", "cat /root/damage"]
        var entry = try sandbox.builtEntry(try sandbox.succeed(["--json"] + pipeline), step: "exec")
        var step = "exec"
        if damage.hasPrefix("boot/") { // the kernel is os.busybox's, the entry below
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: entry.appendingPathComponent("manifest.json"))) as? [String: Any]
            entry = entry.deletingLastPathComponent().appendingPathComponent(try #require(manifest?["parentKey"] as? String))
            step = "os.busybox"
        }
        let file = entry.appendingPathComponent("machine/" + String(damage.prefix { $0 != " " }))
        let size = Int(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? UInt64 ?? 0)
        switch damage {
        case "state.zst cut in half", "boot/kernel cut short": try FileHandle(forWritingTo: file).truncate(atOffset: UInt64(size / 2))
        case "state.zst emptied": try Data().write(to: file)
        case "disk.qcow2 missing": try FileManager.default.removeItem(at: file)
        case "qemu.json with another memory size":
            try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "\"memoryMiB\" : 512", with: "\"memoryMiB\" : 256")
                .write(to: file, atomically: false, encoding: .utf8)
        default:
            let handle = try FileHandle(forUpdating: file)
            try handle.seek(toOffset: UInt64(size / 2))
            let middle = try handle.read(upToCount: 4096) ?? Data()
            try handle.seek(toOffset: UInt64(size / 2))
            handle.write(Data(middle.map { ~$0 }))
            try handle.close()
        }
        let second = try sandbox.succeed(["--json"] + pipeline)
        #expect(second.rebuilt(step)?.hasPrefix("damaged: machine/\(damage.prefix { $0 != " " })") == true, "\(second.err)")
        #expect(second.out == "\(tag)\n")
    }

    /// Damage after the digests were checked where the entry lies (a disk
    /// error later on) shows when the restore fails: host checks the files
    /// then, finds the damage, and rebuilds in the same run.
    @Test func aRestoreThatFailsOnDamageIsRebuiltInTheSameRun() throws {
        let sandbox = try sandbox()
        let pipeline = ["os.busybox", "+", "exec", "echo later > /root/damage", "+", "exec", "cat /root/damage"]
        let entry = try sandbox.builtEntry(try sandbox.succeed(["--json"] + pipeline), step: "exec")
        _ = try sandbox.succeed(pipeline) // the first use checks, and stamps, its digests
        let state = entry.appendingPathComponent("machine/state.zst")
        let handle = try FileHandle(forWritingTo: state)
        handle.write(Data(repeating: 0, count: 4096)) // same size: only the digest can tell
        try handle.close()
        let run = try sandbox.succeed(pipeline)
        #expect(run.err.contains("did not restore and is damaged: machine/state.zst is not the file it was saved as"), "\(run.err)")
        #expect(run.out == "later\n")
    }

    /// A saved VM records its versioned machine type: a changed QEMU binary
    /// (an upgrade) that still offers it restores the machine; one that
    /// does not is named, and the machine rebuilt.
    @Test func aQEMUUpgradeKeepsMachinesItCanRestore() throws {
        let sandbox = try Sandbox(plugins: ["backend_qemu", "os_busybox", "exec"], defaultBackend: "backend.qemu")
        let bin = sandbox.file("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let qemu = bin.appendingPathComponent("qemu-system-x86_64")
        func install(_ script: String) throws {
            try ("#!/bin/sh\n" + script + "\nexec /usr/bin/qemu-system-x86_64 \"$@\"\n").write(to: qemu, atomically: true, encoding: .utf8)
            chmod(qemu.path, 0o755)
        }
        let environment = ["PATH": bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"), "HOST_QEMU_ACCEL": "tcg"]
        let pipeline = ["os.busybox", "+", "exec", "echo kept > /root/k", "+", "exec", "cat /root/k"]
        try install("")
        let first = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(first.status == 0, "\(first.err)")
        let type = try String(contentsOf: sandbox.builtEntry(first, step: "exec")
            .appendingPathComponent("machine/qemu.json"), encoding: .utf8)
        #expect(type.contains("\"machineType\" : \"pc-i440fx-"), "\(type)")

        try install("# upgraded")
        let upgraded = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(upgraded.status == 0 && upgraded.out == "kept\n", "\(upgraded.err)")
        #expect(upgraded.reused("exec"), "\(upgraded.err)")

        // A QEMU without the machine type (the filter hides it from -machine help).
        let pinned = try #require(type.split(separator: "\"").first { $0.hasPrefix("pc-i440fx-") })
        try install("[ \"$1 $2\" = \"-machine help\" ] && { /usr/bin/qemu-system-x86_64 -machine help | grep -v '^\(pinned) '; exit; }")
        let changed = try sandbox.run(pipeline, extraEnvironment: environment)
        #expect(changed.status == 0 && changed.out == "kept\n", "\(changed.err)")
        #expect(changed.err.contains("it was saved on machine type \(pinned), which this computer's \(qemu.path) does not offer"),
                "\(changed.err)")
    }

    /// With QEMU 10 (scripts/test unpacks bookworm-backports' into a private
    /// prefix and names it in HOST_TEST_QEMU10), RAM is saved with mapped-ram,
    /// a sparse file, and restored the same way; damage to its data is found
    /// by its digest, which reads only the data.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["HOST_TEST_QEMU10"] != nil, "needs HOST_TEST_QEMU10 (scripts/test sets it)"))
    func mappedRamSavesAndRestoresOnQEMU10() throws {
        let qemu10 = try #require(ProcessInfo.processInfo.environment["HOST_TEST_QEMU10"])
        let sandbox = try Sandbox(plugins: ["backend_qemu", "os_busybox", "exec"], defaultBackend: "backend.qemu")
        // The QEMU host records is this one, which a downgrade replaces below.
        let bin = sandbox.file("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let qemu = bin.appendingPathComponent("qemu-system-x86_64")
        func install(_ target: String) throws {
            try "#!/bin/sh\nexec \(target) \"$@\"\n".write(to: qemu, atomically: true, encoding: .utf8)
            chmod(qemu.path, 0o755)
        }
        try install(qemu10 + "/qemu-system-x86_64")
        let environment = ["PATH": bin.path + ":" + qemu10 + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                           "HOST_QEMU_ACCEL": "tcg"]
        let pipeline = ["os.busybox", "+", "exec", "echo mapped > /root/m", "+", "exec", "cat /root/m; date +%Y"]
        let first = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(first.status == 0 && first.out.hasPrefix("mapped\n"), "\(first.err)")
        let entry = try sandbox.builtEntry(first, step: "exec")
        let config = try String(contentsOf: entry.appendingPathComponent("machine/qemu.json"), encoding: .utf8)
        #expect(config.contains("\"stateFormat\" : \"mapped-ram\"") && config.contains("\"state\" : \"state.ram\""), "\(config)")
        let state = entry.appendingPathComponent("machine/state.ram").path
        var info = stat()
        #expect(stat(state, &info) == 0 && Int64(info.st_blocks) * 512 < Int64(info.st_size) / 2, "state.ram is not sparse")

        // 4 KiB of guest RAM inverted past the middle of the file, before
        // the entry's first use: the restore might not notice, the digest does.
        let fd = open(state, O_RDWR)
        defer { close(fd) }
        let data = lseek(fd, off_t(info.st_size / 2), 3 /* SEEK_DATA */)
        try #require(data >= 0)
        var page = [UInt8](repeating: 0, count: 4096)
        #expect(pread(fd, &page, page.count, data) == page.count)
        page = page.map { ~$0 }
        #expect(pwrite(fd, page, page.count, data) == page.count)
        let damaged = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(damaged.status == 0 && damaged.out == first.out, "\(damaged.err)")
        #expect(damaged.rebuilt("exec")?.contains("damaged: machine/state.ram is not the file it was saved as") == true, "\(damaged.err)")

        let restored = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(restored.status == 0 && restored.out == first.out, "\(restored.err)")
        #expect(restored.reused("exec"), "\(restored.err)")

        // Downgraded to QEMU 7.2, which cannot load a QEMU 10 state (nor
        // mapped-ram): the entry is refused by the version it was saved by, and rebuilt.
        try install("/usr/bin/qemu-system-x86_64")
        let older = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(older.status == 0 && older.out == first.out, "\(older.err)")
        #expect(older.err.contains("it was saved by QEMU 10.") && older.err.contains("\(qemu.path) is QEMU 7.2")
                && older.err.contains("cannot load a newer QEMU's state; install QEMU 10.") && older.err.contains("(QEMU was changed)"),
                "\(older.err)")
        let rebuilt = try String(contentsOf: sandbox.builtEntry(older, step: "exec").appendingPathComponent("machine/qemu.json"), encoding: .utf8)
        #expect(rebuilt.contains("\"state\" : \"state.zst\""), "\(rebuilt)")
    }

    /// A disk that fills up while a VM is saved: said so, with the place and
    /// what to do; nothing is saved.
    @Test func aFullDiskIsNamed() throws {
        guard getuid() == 0 else { return } // mounting a small tmpfs needs root
        let sandbox = try Sandbox(plugins: ["backend_qemu", "os_busybox", "exec"], defaultBackend: "backend.qemu")
        let small = sandbox.file("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        #expect(try Sandbox.execute("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", small.path]).status == 0)
        defer { _ = try? Sandbox.execute("/bin/umount", ["-l", small.path]) }
        let run = try sandbox.run(["os.busybox", "+", "exec", "true"],
                                  extraEnvironment: ["HOST_CACHE_DIR": small.path, "HOST_QEMU_ACCEL": "tcg"])
        #expect(run.status != 0)
        #expect(run.err.contains("the disk holding \(small.path) is full ("), "\(run.err)")
        #expect(run.err.contains("MiB free): nothing was saved; free space or set HOST_CACHE_DIR"), "\(run.err)")
        #expect(!run.err.contains("could not save"))
    }

    @Test func sigkillOfHostLeavesNoQemu() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "true"])
        let run = try sandbox.start(["os.busybox", "+", "exec", "sleep 300"])
        func qemus() -> [String] { Self.qemus(of: sandbox) }
        var deadline = Date().addingTimeInterval(120)
        while qemus().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!qemus().isEmpty, "QEMU never started")
        run.kill()
        run.waitUntilExit()
        // A deadline, not a timing: a loaded machine may take a while to tear a VM down.
        deadline = Date().addingTimeInterval(60)
        while !qemus().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(qemus().isEmpty, "QEMU outlived host: \(qemus())")
        // One more run sweeps the dead run's private directory.
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "true"])
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: sandbox.root.path)) ?? []).filter { $0.hasPrefix("qemu-\(run.processIdentifier)-") }
        #expect(left.isEmpty, "the killed run's directories survived: \(left)")
    }

    /// `host ... | head -1` as a shell runs it: host ends as `seq` would
    /// (SIGPIPE, 141), says nothing more, and its VM goes with it.
    @Test func aClosedPipeEndsTheRunAndItsVM() throws {
        let sandbox = try sandbox()
        let run = try sandbox.piped(["os.busybox", "+", "exec", "seq 1 200000"], into: "head -1")
        #expect(run.status == 141)
        #expect(run.out == "1\n")
        #expect(!run.err.contains("error") && !run.err.contains("crash"), "\(run.err)")
        let deadline = Date().addingTimeInterval(60) // a deadline, not a timing
        while !Self.qemus(of: sandbox).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(Self.qemus(of: sandbox).isEmpty, "QEMU outlived host")
    }

    /// Plugins that abort or hang while loading, or segfault in a step,
    /// installed beside the real ones: VMs still run, and the crash is named.
    @Test func brokenPluginsNeitherStopVMsNorLeaveThemRunning() throws {
        let sandbox = try sandbox()
        let source = PluginIsolationTests.source
        var broken: [URL] = []
        defer { broken.forEach { try? FileManager.default.removeItem(at: $0) } }
        for (name, define) in [("aborts", "ENTRY_ABORTS"), ("hangs", "ENTRY_HANGS"), ("segfaults", "STEP_SEGFAULTS")] {
            broken.append(try sandbox.compileC(source, as: name, defines: ["-D\(define)", "-DPLUGIN_NAME=\"\(name)\"", "-DSTEP_NAME=\"\(name).step\""]))
        }
        #expect(try sandbox.succeed(["os.busybox", "+", "exec", "echo works"]).out == "works\n")
        let before = try sandbox.cacheSnapshot()
        let crash = try sandbox.run(["os.busybox", "+", "segfaults.step"])
        #expect(crash.status != 0)
        #expect(crash.err.contains("the plugin \(broken[2].path), running step segfaults.step, crashed"), "\(crash.err)")
        #expect(try sandbox.cacheSnapshot() == before)
        let deadline = Date().addingTimeInterval(60) // a deadline, not a timing
        while !Self.qemus(of: sandbox).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(Self.qemus(of: sandbox).isEmpty, "QEMU outlived the crashed host")
    }

    /// QEMU processes of this sandbox's machines.
    static func qemus(of sandbox: Sandbox) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard Int(pid) != nil, let line = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return false }
            return line.hasPrefix("/usr/bin/qemu-system") && line.contains(sandbox.cache.path)
        }
    }

    @Test func aCachedStepStoresOnlyItsDelta() throws {
        let sandbox = try sandbox()
        let result = try sandbox.succeed(["--json", "os.busybox", "+", "exec", "echo delta > /root/delta", "+", "exec", "true"])
        let entry = try sandbox.builtEntry(result, step: "exec").appendingPathComponent("machine")
        let files = try FileManager.default.contentsOfDirectory(atPath: entry.path).sorted()
        #expect(files == ["disk.qcow2", "qemu.json", "state.zst"]) // no kernel, initrd or base image copied
        let config = try String(contentsOf: entry.appendingPathComponent("qemu.json"), encoding: .utf8)
        #expect(config.contains("\"chain\""))
    }

    /// seal cuts the guest off (a server on this computer's loopback, which
    /// the guest otherwise reaches), for every step after it, restored or
    /// continued; unseal gives the network back; --network sets it from the start.
    @Test func sealCutsTheGuestOffAndUnsealGivesItBack() throws {
        let sandbox = try sandbox()
        let server = try LocalWebServer(serving: "served\n")
        let fetch = "wget -q -O- \(server.guestURL) 2>&1; echo status $?"
        #expect(try sandbox.succeed(["os.busybox", "+", "exec", fetch]).out == "served\nstatus 0\n")
        let sealed = ["os.busybox", "+", "seal", "+", "exec", "echo sealed > /root/s"]
        for _ in 0..<2 { // built (the sealed QEMU continues), then restored from the saved entries
            let run = try sandbox.succeed(sealed + ["+", "exec", "cat /root/s; " + fetch])
            #expect(run.out.hasPrefix("sealed\n") && !run.out.contains("served") && !run.out.hasSuffix("status 0\n"), "\(run.out)")
        }
        let unsealed = try sandbox.succeed(sealed + ["+", "unseal", "+", "exec", fetch])
        #expect(unsealed.out == "served\nstatus 0\n", "\(unsealed.err)")
        let restricted = try sandbox.succeed(["backend.qemu", "--network=restricted", "+", "os.busybox", "+", "exec", fetch])
        #expect(!restricted.out.contains("served"), "\(restricted.out)")
        let wrong = try sandbox.run(["backend.qemu", "--network=closed", "+", "os.busybox"])
        #expect(wrong.status == 64 && wrong.err.contains("use user, restricted or none"), "\(wrong.err)")
    }

    /// hostname sets the name now and for the next boot; wait-for retries a
    /// command until it succeeds, or says what it last said at its deadline.
    @Test func hostnameAndWaitFor() throws {
        let sandbox = try sandbox()
        let named = try sandbox.succeed(["os.busybox", "+", "hostname", "web-1", "+", "exec", "hostname; cat /etc/hostname; grep web-1 /etc/hosts"])
        #expect(named.out == "web-1\nweb-1\n127.0.1.1\tweb-1\n", "\(named.out)")
        let wrong = try sandbox.run(["os.busybox", "+", "hostname", "web_1"])
        #expect(wrong.status == 64 && wrong.err.contains("is not a host name"), "\(wrong.err)")

        let later = ["os.busybox", "+", "exec", "(sleep 3; touch /root/ready) > /dev/null 2>&1 &",
                     "+", "wait-for", "--interval=1", "test", "-e", "/root/ready"]
        let waited = try sandbox.succeed(later + ["+", "exec", "ls /root/ready"])
        #expect(waited.out == "/root/ready\n", "\(waited.err)")
        let never = try sandbox.run(["os.busybox", "+", "wait-for", "--timeout=3", "echo not yet; false"])
        #expect(never.status != 0 && never.err.contains("did not succeed within 3 s") && never.err.contains("not yet"), "\(never.err)")
    }

    /// A cached reboot: the guest boots again (a new boot id, its disk
    /// kept) and the steps after it reach it in its new boot.
    @Test func rebootBootsAgainAndIsCached() throws {
        let sandbox = try sandbox()
        let pipeline = ["os.busybox", "+", "exec", "echo kept > /mnt/disk/kept; cat /proc/sys/kernel/random/boot_id > /mnt/disk/boot",
                        "+", "reboot", "+", "exec", "cat /mnt/disk/kept; cmp -s /mnt/disk/boot /proc/sys/kernel/random/boot_id || echo new boot"]
        let first = try sandbox.succeed(pipeline)
        #expect(first.out == "kept\nnew boot\n", "\(first.err)")
        #expect(first.err.contains("reboot: back after"), "\(first.err)")
        let again = try sandbox.succeed(["--json"] + pipeline)
        #expect(again.reused("reboot") && again.out == "kept\nnew boot\n", "\(again.err)")
    }
}
