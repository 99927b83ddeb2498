import Foundation
import Testing

/// Machines that live (`host up --name`): kept running by a monitor after
/// host returns, worked in by exec, cp, console, stopped whole and resumed,
/// dead when their monitor is killed, stopped after a reboot; on QEMU
/// (os.busybox) and podman. Debian's (ssh) are in DebianTests, libvirt's in
/// LibvirtBackendTests.
@Suite(.serialized) struct NamedMachineTests {
    static let shared = Sandbox.shared(plugins: ["backend_qemu", "backend_podman-criu", "os_busybox", "exec"])

    func sandbox() throws -> Sandbox { try Self.shared.get() }

    /// `host ls --json`, by name.
    static func machines(_ sandbox: Sandbox, environment: [String: String] = [:]) throws -> [String: [String: Any]] {
        let listed = try sandbox.run(["ls", "--json"], extraEnvironment: environment)
        let rows = try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as? String ?? "", $0) })
    }

    /// Waits up to `seconds` for `condition`.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }

    @Test func aBusyboxMachineLivesStopsResumesAndDies() throws {
        let sandbox = try sandbox()
        #expect(try sandbox.run(["up", "--name=bb", "os.busybox"]).status == 0)
        #expect(try sandbox.run(["up", "--name=bb", "os.busybox"]).status == 0) // up already
        #expect(try sandbox.run(["up", "--name=bb", "os.busybox", "+", "exec", "true"]).status == 64) // the name is taken
        var row = try #require(try Self.machines(sandbox)["bb"])
        #expect(row["state"] as? String == "running" && row["backend"] as? String == "backend.qemu")
        #expect((row["pss"] as? Int ?? 0) > 0)

        // exec streams both outputs and returns the status; -i reads standard input.
        let streams = try sandbox.run(["exec", "bb", "--", "echo out; echo err >&2; exit 3"])
        #expect(streams.status == 3 && streams.out == "out\n" && streams.err == "err\n", "\(streams)")
        let input = try Sandbox.execute("/bin/sh", ["-c", "printf 'one\\ntwo\\n' | \"$0\" exec bb -i -- wc -l",
                                                    Sandbox.products.appendingPathComponent("host").path], environment: sandbox.environment)
        #expect(input.status == 0 && input.out.trimmingCharacters(in: .whitespaces) == "2\n", "\(input)")

        // cp: a tree in, and back out.
        let tree = sandbox.file("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("a\n".utf8).write(to: tree.appendingPathComponent("a"))
        try Data("b\n".utf8).write(to: tree.appendingPathComponent("sub/b"))
        _ = try sandbox.succeed(["cp", tree.path, "bb:/root/tree"])
        #expect(try sandbox.succeed(["exec", "bb", "--", "cat /root/tree/a /root/tree/sub/b"]).out == "a\nb\n")
        _ = try sandbox.succeed(["cp", "bb:/root/tree", sandbox.file("back").path])
        #expect(try String(contentsOf: sandbox.file("back/sub/b"), encoding: .utf8) == "b\n")

        // The console, typed into on a real terminal; the machine runs on.
        let console = try sandbox.onTerminal([["expect", "press Ctrl-] to detach"], ["send", "echo console-$((40+2))\r"],
                                              ["expect", "console-42"], ["send", "\u{1d}"], ["expect", "detached"]], ["console", "bb"])
        #expect(console.status == 0, "\(console.screen)")
        #expect(try sandbox.succeed(["logs", "bb"]).out.contains("console-42"))

        // stop saves it whole; up resumes it there, its process alive.
        let pid = try sandbox.succeed(["exec", "bb", "--", "sleep 1000 >/dev/null 2>&1 & echo $! > /root/pid; echo kept > /root/file; cat /root/pid"]).out
        _ = try sandbox.succeed(["stop", "bb"])
        #expect(try Self.machines(sandbox)["bb"]?["state"] as? String == "stopped")
        let stopped = try sandbox.run(["exec", "bb", "--", "true"])
        #expect(stopped.status == 64 && stopped.err.contains("host up bb"))
        _ = try sandbox.succeed(["up", "bb"])
        let resumed = try sandbox.succeed(["exec", "bb", "--", "cat /root/file /root/pid; kill -0 $(cat /root/pid) && echo alive"])
        #expect(resumed.out == "kept\n" + pid + "alive\n")

        // SIGKILL of the monitor: no QEMU is left, and the machine is dead.
        row = try #require(try Self.machines(sandbox)["bb"])
        let monitor = try #require(row["monitor"] as? Int32), qemu = try #require((row["processes"] as? [Int32])?.first)
        kill(monitor, SIGKILL)
        #expect(Self.eventually(10) { kill(qemu, 0) != 0 }, "QEMU \(qemu) outlived its monitor")
        row = try #require(try Self.machines(sandbox)["bb"])
        #expect(row["state"] as? String == "dead" && (row["reason"] as? String ?? "").contains("monitor"))
        #expect(try sandbox.run(["exec", "bb", "--", "true"]).status == 64)

        // Started again from its last save; after a reboot it shows stopped there.
        _ = try sandbox.succeed(["up", "bb"])
        #expect(try sandbox.succeed(["exec", "bb", "--", "cat /root/file"]).out == "kept\n")
        let rebooted = try Self.machines(sandbox, environment: ["HOST_BOOT_ID": "another-boot"])["bb"]
        #expect(rebooted?["state"] as? String == "stopped" && rebooted?["entry"] as? String == row["entry"] as? String)

        // Bad input: one line, exit 64, nothing changed.
        let unknown = try sandbox.run(["exec", "nosuch", "--", "true"])
        #expect(unknown.status == 64 && unknown.err.contains("bb"))
        #expect(try sandbox.run(["cp", sandbox.file("x").path, "/tmp/y"]).status == 64)
        #expect(try sandbox.run(["up", "--name=bad/name", "os.busybox"]).status == 64)
        #expect(try sandbox.run(["rm", "bb"]).status == 64) // running: --force or stop first

        // A damaged save is named by `cache verify`, and starting it is refused with its key.
        _ = try sandbox.succeed(["stop", "bb"])
        let saved = try #require(try Self.machines(sandbox)["bb"]?["entry"] as? String)
        let machine = sandbox.cache.appendingPathComponent("machines/\(saved)/machine")
        let file = try #require(FileManager.default.enumerator(atPath: machine.path)?.allObjects.compactMap { $0 as? String }
            .first { $0.hasPrefix("state") })
        let handle = try FileHandle(forWritingTo: machine.appendingPathComponent(file))
        try handle.write(contentsOf: Data("damage".utf8))
        try handle.close()
        let verify = try sandbox.run(["cache", "verify", "--all"])
        #expect(verify.status == 1 && verify.out.contains("\(saved.prefix(12))"), "\(verify)")
        let refused = try sandbox.run(["up", "bb"])
        #expect(refused.status != 0 && refused.err.contains(String(saved.prefix(12))), "\(refused.err)")
        #expect(try Self.machines(sandbox)["bb"]?["state"] as? String == "stopped")
        _ = try sandbox.succeed(["rm", "bb"])
        #expect(try Self.machines(sandbox).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: machine.path))
    }

    @Test func tenMachinesAtOnceAndTwoStopsSaveOnce() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["os.busybox", "+", "exec", "true"]) // built once, before the ten
        let ups = try (0..<10).map { try sandbox.start(["up", "--name=m\($0)", "os.busybox"]) }
        #expect(ups.map(\.terminationStatus).allSatisfy { $0 == 0 })
        for index in 0..<10 {
            #expect(try sandbox.succeed(["exec", "m\(index)", "--", "echo \(index)"]).out == "\(index)\n")
        }
        let machines = try Self.machines(sandbox)
        #expect(machines.count == 10 && machines.values.allSatisfy { $0["state"] as? String == "running" })

        let stops = try (0..<2).map { _ in try sandbox.start(["stop", "m0"]) }
        #expect(stops.map(\.terminationStatus).allSatisfy { $0 == 0 })
        let saves = try sandbox.succeed(["cache", "ls", "--json"]).out.components(separatedBy: "up --name=m0").count - 1
        #expect(saves == 1)
        for index in 0..<10 { _ = try sandbox.succeed(["rm", "--force", "m\(index)"]) }
        #expect(try Self.machines(sandbox).isEmpty)
        #expect(try sandbox.succeed(["cache", "ls", "--json"]).out.components(separatedBy: "up --name=m0").count == 1) // rm dropped the save
    }

    /// `up --foreground` (for a service manager): the command is the
    /// monitor; SIGTERM saves the machine, as `host stop` does.
    @Test func aForegroundMachineIsSavedOnSIGTERM() throws {
        let sandbox = try sandbox()
        let run = try sandbox.start(["up", "--foreground", "--name=fg", "os.busybox"])
        #expect(Self.eventually(120) { (try? Self.machines(sandbox)["fg"]?["state"] as? String) == "running" })
        _ = try sandbox.succeed(["exec", "fg", "--", "echo kept > /root/file"])
        run.kill(SIGTERM)
        #expect(run.terminationStatus == 0)
        #expect(try Self.machines(sandbox)["fg"]?["state"] as? String == "stopped")
        _ = try sandbox.succeed(["up", "fg"])
        #expect(try sandbox.succeed(["exec", "fg", "--", "cat /root/file"]).out == "kept\n")
        _ = try sandbox.succeed(["rm", "--force", "fg"])
    }

    @Test func aPodmanMachineUpExecStopStart() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(["up", "--name=pc", "backend.podman-criu", "+", "os.busybox"])
        let pid = try sandbox.succeed(["exec", "pc", "--", "sleep 1000 >/dev/null 2>&1 & echo $! > /pid; echo kept > /file; cat /pid"]).out
        #expect(try Self.machines(sandbox)["pc"]?["state"] as? String == "running")
        let input = try Sandbox.execute("/bin/sh", ["-c", "printf 'one\\ntwo\\n' | \"$0\" exec pc -i -- wc -l",
                                                    Sandbox.products.appendingPathComponent("host").path], environment: sandbox.environment)
        #expect(input.status == 0 && input.out.trimmingCharacters(in: .whitespaces) == "2\n", "\(input)")
        _ = try sandbox.succeed(["stop", "pc"])
        _ = try sandbox.succeed(["start", "pc"])
        let resumed = try sandbox.succeed(["exec", "pc", "--", "cat /file /pid; kill -0 $(cat /pid) && echo alive"])
        #expect(resumed.out == "kept\n" + pid + "alive\n")
        // SIGKILL of its monitor: the container goes too (swept by its label), and it is dead.
        let monitor = try #require(try Self.machines(sandbox)["pc"]?["monitor"] as? Int32)
        kill(monitor, SIGKILL)
        #expect(Self.eventually(30) { (try? PodmanTests.containers(of: sandbox))?.isEmpty == true }, "a container outlived its monitor")
        #expect(try Self.machines(sandbox)["pc"]?["state"] as? String == "dead")
        _ = try sandbox.succeed(["rm", "pc"])
    }
}
