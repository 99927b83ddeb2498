import Foundation
import Testing

/// backend.podman-criu: containers saved with CRIU and restored by new host
/// processes, the engine's caching semantics on it, concurrent restores,
/// no container left behind by a killed host, and the fallback without CRIU.
@Suite(.serialized) struct PodmanTests {
    static let plugins = ["backend_podman-criu", "os_busybox", "os_debian", "exec", "self_test", "transfer", "ansible", "console"]
    static let shared = Sandbox.shared(plugins: plugins)

    func sandbox() throws -> Sandbox { try Self.shared.get() }
    static let busybox = ["backend.podman-criu", "+", "os.busybox"]

    /// Containers of this sandbox's machines, running or not.
    static func containers(of sandbox: Sandbox) throws -> [String] {
        let listed = try Sandbox.execute("/usr/bin/podman", ["ps", "--all", "--format", "{{.Names}} {{.Labels}}"])
        return listed.out.split(separator: "\n").filter { $0.contains(sandbox.root.path) }.map { String($0.split(separator: " ")[0]) }
    }

    /// The IDs of the images in podman's store (`reference`: of those names
    /// only), but the runtime probe's, which comes with the first run of a
    /// boot and goes with `cleanup everything`.
    static func images(_ reference: String? = nil) throws -> Set<String> {
        let filter = reference.map { ["--filter", "reference=\($0)"] } ?? []
        let probe = Set(try Sandbox.execute("/usr/bin/podman", ["images", "--quiet", "--no-trunc", "--filter", "reference=localhost/host-probe"]).out.split(separator: "\n"))
        return Set(try Sandbox.execute("/usr/bin/podman", ["images", "--quiet", "--no-trunc"] + filter).out.split(separator: "\n").filter { !probe.contains($0) }.map(String.init))
    }

    /// The images and containers host made for the sandbox's cache, found
    /// by the label host puts on each.
    static func labelled(_ sandbox: Sandbox) throws -> (images: [String], containers: [String]) {
        let filter = ["--filter", "label=host.cache=\(sandbox.cache.path)"]
        func ids(_ arguments: [String]) throws -> [String] {
            try Sandbox.execute("/usr/bin/podman", arguments + filter).out.split(separator: "\n").map(String.init)
        }
        return (try ids(["images", "--quiet"]), try ids(["ps", "--all", "--quiet"]))
    }

    /// A process whose parent is `parent` and one of whose command line's
    /// words begins with `word`.
    static func child(of parent: pid_t, running word: String) -> pid_t? {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let end = stat.range(of: ")", options: .backwards) else { continue }
            let fields = stat[end.upperBound...].split(separator: " ")
            guard fields.count > 1, pid_t(fields[1]) == parent,
                  let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            if command.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self).hasPrefix(word) }) { return pid }
        }
        return nil
    }

    @Test func aProcessKeepsCountingAcrossSaveAndRestore() throws {
        let sandbox = try sandbox()
        // Each count replaces the file whole (a reader between `>`'s truncation
        // and the write saw an empty file on a loaded machine).
        let counting = Self.busybox + ["+", "exec", "sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done' >/dev/null 2>&1 &",
                                       "+", "exec", "sleep 2; cat /tmp/count"]
        // Saved twice: just after the loop started, and two seconds later.
        let saved = try sandbox.succeed(counting + ["+", "exec", "true"])
        let atSave = try #require(Int(saved.out.trimmingCharacters(in: .whitespacesAndNewlines)), "\(saved.out)")
        #expect(atSave >= 5)
        // A new host process restores the container saved after `sleep 2`:
        // the loop is still running, and counts on from where it was.
        let run = try sandbox.succeed(["--json"] + counting + ["+", "exec", "a=$(cat /tmp/count); sleep 1; b=$(cat /tmp/count); echo $a $b"])
        #expect(run.reused("exec"))
        let numbers = run.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(numbers.count == 2, "\(run.out)")
        #expect(numbers[0] >= atSave)
        #expect(numbers[1] > numbers[0])
        // Commands in a restored container have the capabilities of its init, no more.
        let caps = try sandbox.succeed(counting + ["+", "exec", "grep CapEff /proc/self/status; grep CapEff /proc/1/status"])
        let lines = caps.out.split(separator: "\n")
        #expect(lines.count == 2 && lines[0] == lines[1], "\(caps.out)")
        #expect(try Self.containers(of: sandbox).isEmpty)
    }

    /// A checkpoint names the CRIU that made it: one older cannot read it,
    /// so the step is rebuilt with that reason rather than restored.
    @Test func aCheckpointOfANewerCRIUIsRebuilt() throws {
        let sandbox = try sandbox()
        let pipeline = Self.busybox + ["+", "exec", "echo criu > /root/criu", "+", "exec", "cat /root/criu"]
        let built = try sandbox.succeed(["--json"] + pipeline)
        let record = try String(contentsOf: try sandbox.builtEntry(built, step: "exec").appendingPathComponent("machine/podman.json"), encoding: .utf8)
        try #require(record.contains("\"criuVersion\""), "saved without CRIU: \(record)")
        let real = try #require(ProcessInfo.processInfo.environment["HOST_CRIU"], "HOST_CRIU names the CRIU the tests use")
        let older = sandbox.file("old-criu")
        try FileManager.default.createDirectory(at: older, withIntermediateDirectories: true)
        try "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'Version: 1.0'; exit 0; }\nexec \(real) \"$@\"\n"
            .write(to: older.appendingPathComponent("criu"), atomically: true, encoding: .utf8)
        chmod(older.appendingPathComponent("criu").path, 0o755)
        let run = try sandbox.run(pipeline, extraEnvironment: ["HOST_CRIU": older.appendingPathComponent("criu").path])
        #expect(run.status == 0 && run.out == "criu\n", "\(run.err)")
        #expect(run.err.contains("and this computer's criu is 1.0, which does not read a newer CRIU's images"), "\(run.err)")
    }

    /// A container's saved checkpoint cut short or changed is found before
    /// podman restores it, said once, and rebuilt.
    @Test(arguments: ["cut in half", "flipped"])
    func aDamagedCheckpointIsRebuilt(_ damage: String) throws {
        let sandbox = try sandbox()
        let tag = damage.filter(\.isLetter)
        let pipeline = Self.busybox + ["+", "exec", "echo \(tag) > /root/damage", "+", "exec", "cat /root/damage"]
        let entry = try sandbox.builtEntry(try sandbox.succeed(["--json"] + pipeline), step: "exec")
        let checkpoint = entry.appendingPathComponent("machine/checkpoint.tar.zst")
        try #require(FileManager.default.fileExists(atPath: checkpoint.path), "saved without CRIU: no checkpoint to damage")
        let size = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.size] as? UInt64 ?? 0
        let handle = try FileHandle(forUpdating: checkpoint)
        if damage == "flipped" {
            try handle.seek(toOffset: size / 2)
            handle.write(Data([0xde, 0xad, 0xbe, 0xef]))
        } else {
            try handle.truncate(atOffset: size / 2)
        }
        try handle.close()
        let second = try sandbox.succeed(["--json"] + pipeline)
        #expect(second.rebuilt("exec")?.contains("damaged: machine/checkpoint.tar.zst") == true, "\(second.err)")
        #expect(second.out == "\(tag)\n")
        #expect(try Self.containers(of: sandbox).isEmpty)
    }

    @Test func cachingTransientAndTransientWhenLastHoldOnContainers() throws {
        let sandbox = try sandbox()
        let record = sandbox.file("runs")
        let pipeline = Self.busybox + ["+", "self_test.count", "--record=\(record.path)", "+", "exec", "cat count.txt"]
        #expect(try sandbox.succeed(pipeline).out == "counted\n")
        let again = try sandbox.succeed(["--json"] + pipeline)
        #expect(again.reused("self_test.count"))
        #expect(sandbox.runs(record) == 1)

        let transient = Self.busybox + ["+", "exec", "--transient", "touch /scratch; echo ran", "+", "exec", "test ! -e /scratch && echo clean"]
        for _ in 0..<2 { #expect(try sandbox.succeed(transient).out == "ran\nclean\n") }

        #expect(try sandbox.succeed(["--json"] + Self.busybox + ["+", "self_test.note", "once"]).built("self_test.note") == false)
        let followed = try sandbox.succeed(["--json"] + Self.busybox + ["+", "self_test.note", "once", "+", "exec", "cat notes.txt"])
        #expect(followed.built("self_test.note"))
        #expect(followed.out == "once\n")

        let file = sandbox.file("payload")
        try "payload\n".write(to: file, atomically: true, encoding: .utf8)
        _ = try sandbox.succeed(Self.busybox + ["+", "self_test.roundtrip", file.path])
        #expect(try String(contentsOf: URL(fileURLWithPath: file.path + ".back"), encoding: .utf8) == "payload\n")
        _ = try sandbox.succeed(Self.busybox + ["+", "self_test.console", "--send=echo con$((1+1))sole", "--expect=con2sole"])
    }

    @Test func theConsoleStepOnARealTerminal() throws {
        let sandbox = try sandbox()
        _ = try sandbox.succeed(Self.busybox + ["+", "exec", "true"])
        let session = try sandbox.consoleSession(Self.busybox)
        #expect(session.status == 0, "\(session.screen)")
        #expect(try Self.containers(of: sandbox).isEmpty)
    }

    @Test func twoRestoresOfOneContainerAtOnce() throws {
        let sandbox = try sandbox()
        let pipeline = Self.busybox + ["+", "exec", "echo shared > /f", "+", "exec", "sleep 1; cat /f; hostname"]
        _ = try sandbox.succeed(Array(pipeline.dropLast(3)) + ["+", "exec", "true"])
        let outputs = [sandbox.file("one"), sandbox.file("two")]
        let runs = try outputs.map { try sandbox.start(pipeline, output: $0) }
        for run in runs { run.waitUntilExit() }
        for (run, output) in zip(runs, outputs) {
            #expect(run.terminationStatus == 0)
            #expect(try String(contentsOf: output, encoding: .utf8).hasPrefix("shared\n"))
        }
        #expect(try Self.containers(of: sandbox).isEmpty)
    }

    @Test func aKilledHostLeavesNoContainer() throws {
        let sandbox = try sandbox()
        let host = try sandbox.start(Self.busybox + ["+", "exec", "sleep 120"])
        var deadline = Date().addingTimeInterval(60)
        while try Self.containers(of: sandbox).isEmpty, Date() < deadline { usleep(100_000) }
        try #require(try !Self.containers(of: sandbox).isEmpty, "no container appeared")
        host.kill()
        host.waitUntilExit()
        deadline = Date().addingTimeInterval(30)
        while try !Self.containers(of: sandbox).isEmpty, Date() < deadline { usleep(200_000) }
        #expect(try Self.containers(of: sandbox).isEmpty)
    }

    @Test func anImageFromPodmansStore() throws {
        let sandbox = try sandbox()
        let root = sandbox.file("image-root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root.appendingPathComponent("bin/busybox").path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("bin/sh").path, withDestinationPath: "busybox")
        var imported: [String] = []
        defer { _ = try? Sandbox.execute("/usr/bin/podman", ["image", "rm", "--force"] + imported) }
        func importImage(version: String) throws {
            try version.write(to: root.appendingPathComponent("version"), atomically: true, encoding: .utf8)
            _ = try Sandbox.execute("/usr/bin/tar", ["-C", root.path, "-cf", sandbox.file("image.tar").path, "."])
            let result = try Sandbox.execute("/usr/bin/podman", ["import", "--quiet", sandbox.file("image.tar").path, "localhost/host-test-image:1"])
            try #require(result.status == 0, "\(result.err)")
            imported.append(result.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        try importImage(version: "one")
        let pipeline = ["backend.podman-criu", "--image=localhost/host-test-image:1", "+", "exec", "true", "+", "exec", "/bin/busybox cat /version"]
        #expect(try sandbox.succeed(pipeline).out == "one")
        // The same name for a new image: what was built on the old one is rebuilt.
        try importImage(version: "two")
        let retagged = try sandbox.succeed(["--json"] + pipeline)
        #expect(retagged.out == "two")
        #expect(retagged.rebuilt("backend.podman-criu")?.contains("backend.podman-criu cannot reuse the saved machine: localhost/host-test-image:1 is now image") == true, "\(retagged.err)")
        let missing = try sandbox.run(["backend.podman-criu", "--image=localhost/no-such-image:1", "+", "exec", "true"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("podman has no image localhost/no-such-image:1"))
    }

    @Test func debianInAContainerWithAnsible() throws {
        let sandbox = try sandbox()
        let run = try sandbox.succeed(["backend.podman-criu", "+", "os.debian", "+", "exec", "cat /etc/os-release"])
        #expect(run.out.contains("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\""))
        // ansible reaches a container through podman, not SSH.
        let ansible = try sandbox.succeed(["backend.podman-criu", "+", "os.debian", "+", "ansible", "lineinfile", "--path=/root/notes",
                                           "--line=from ansible", "--create=yes", "+", "exec", "cat /root/notes"])
        #expect(ansible.out == "from ansible\n")
    }

    /// Without CRIU (hidden by HOST_CRIU=none): files survive a save, and
    /// host says once that processes will not.
    @Test func withoutCRIUFilesSurviveAndHostSaysProcessesWillNot() throws {
        let sandbox = try Sandbox(plugins: Self.plugins, defaultBackend: "backend.podman-criu")
        let environment = ["HOST_CRIU": "none"]
        let pipeline = Self.busybox + ["+", "exec", "echo kept > /f", "+", "exec", "cat /f"]
        let first = try sandbox.run(pipeline, extraEnvironment: environment)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out == "kept\n")
        let warnings = first.err.components(separatedBy: "running processes will not survive a save").count - 1
        #expect(warnings == 1)
        let second = try sandbox.run(["--json"] + pipeline, extraEnvironment: environment)
        #expect(second.reused("exec"))
        #expect(second.out == "kept\n")
        #expect(try Self.containers(of: sandbox).isEmpty)
    }

    /// The images host imports into podman's store (root filesystems; saved
    /// filesystems without CRIU) go with the machines: the store ends as it
    /// was. Rebuilding a machine that is no longer usable lets go of its
    /// image as well (here: one saved with CRIU, then run without it).
    @Test func cleanupLeavesPodmansStoreAsItWas() throws {
        let images = { try Self.images() }
        let sandbox = try Sandbox(plugins: Self.plugins, defaultBackend: "backend.podman-criu")
        let before = try images()
        let pipeline = Self.busybox + ["+", "exec", "echo kept > /f", "+", "exec", "cat /f"]
        _ = try sandbox.succeed(pipeline)
        #expect(try images().subtracting(before).count == 1)
        for _ in 0..<2 {
            let cold = try sandbox.run(pipeline, extraEnvironment: ["HOST_CRIU": "none"])
            #expect(cold.out == "kept\n", "\(cold.err)")
        }
        // The first root filesystem went with its machine, rebuilt as the
        // new one; two saved filesystems were started from (os.busybox's, the first exec's).
        #expect(try images().subtracting(before).count == 3)
        #expect(try sandbox.run(["cleanup", "everything"], extraEnvironment: ["HOST_CRIU": "none"]).status == 0)
        #expect(try images().subtracting(before).isEmpty)

        // A machine whose record cannot be read still takes its image with it.
        let built = try sandbox.builtEntry(try sandbox.succeed(["--json"] + Self.busybox + ["+", "exec", "true"]), step: "os.busybox")
        #expect(try images().subtracting(before).count == 1)
        try Data("{ not json".utf8).write(to: built.appendingPathComponent("machine/podman.json"))
        #expect(try sandbox.run(["cleanup", "machines", "all"]).status == 0)
        #expect(try images().subtracting(before).isEmpty)
    }

    /// A host killed while it builds, here while podman imports the root
    /// filesystem: podman finishes the import after host is gone, so the
    /// image is one that no entry and no record names. `cleanup everything`
    /// finds it by its label and leaves the store as it was.
    @Test func aKilledBuildLeavesNoImage() throws {
        let sandbox = try Sandbox(plugins: Self.plugins, defaultBackend: "backend.podman-criu")
        let before = try Self.images()
        let host = try sandbox.start(Self.busybox + ["+", "exec", "true"])
        var deadline = Date().addingTimeInterval(60)
        var importer: pid_t?
        while importer == nil, try Self.images("localhost/host-rootfs").subtracting(before).isEmpty, Date() < deadline {
            importer = Self.child(of: host.processIdentifier, running: "localhost/host-rootfs:")
            usleep(5_000)
        }
        host.kill()
        host.waitUntilExit()
        if let importer {
            deadline = Date().addingTimeInterval(60)
            // Until it has ended (a zombie, or reaped by init).
            while (try? String(contentsOfFile: "/proc/\(importer)/stat", encoding: .utf8))?.contains(") Z ") == false, Date() < deadline {
                usleep(50_000)
            }
            #expect(try !Self.labelled(sandbox).images.isEmpty, "podman's import did not outlive host")
        }
        #expect(try sandbox.run(["cleanup", "everything"]).status == 0)
        #expect(try Self.images().subtracting(before).isEmpty)
        let left = try Self.labelled(sandbox)
        #expect(left.images.isEmpty && left.containers.isEmpty, "\(left)")
    }

    /// A cleanup while another run's container runs leaves it and its image
    /// alone (the process that runs it is alive): that run ends well. And
    /// `cleanup machines` keeps the images of the machines that stay.
    @Test func aCleanupSparesTheContainerOfARunningHost() throws {
        let sandbox = try sandbox()
        let base = Self.busybox + ["+", "exec", "echo spared > /f"]
        _ = try sandbox.succeed(base + ["+", "exec", "true"])
        let output = sandbox.file("spared")
        let run = try sandbox.start(base + ["+", "exec", "sleep 3; cat /f"], output: output)
        let deadline = Date().addingTimeInterval(60)
        while try Self.containers(of: sandbox).isEmpty, run.isRunning, Date() < deadline { usleep(50_000) }
        #expect(try !Self.containers(of: sandbox).isEmpty, "the run's container never appeared")
        let images = Set(try Self.labelled(sandbox).images)
        #expect(try sandbox.run(["cleanup", "machines", "expired"]).status == 0)
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        #expect(try String(contentsOf: output, encoding: .utf8) == "spared\n")
        #expect(try Set(Self.labelled(sandbox).images) == images)
    }

    /// Containers share the packages apt downloaded (the archive is
    /// bind-mounted into each): the second container does not fetch again.
    @Test func containersShareDownloadedPackages() throws {
        let sandbox = try sandbox()
        let on = ["HOST_PACKAGE_CACHE": "on"]
        defer { _ = try? sandbox.run(["cleanup", "downloads"]) }
        // A Debian of its own, made with the archive mounted (--size: another key).
        var outputs: [String] = []
        for base in ["first", "second"] {
            let run = try sandbox.run(["backend.podman-criu", "+", "os.debian", "--size=3G", "+", "exec", "touch /\(base)", "+", "exec",
                                       "apt-get update -qq && apt-get install -y --no-install-recommends tree && tree --version | head -c 9"],
                                      extraEnvironment: on)
            #expect(run.status == 0 && run.out.hasSuffix("tree v2.1"), "\(run.out) \(run.err)")
            outputs.append(run.out)
        }
        #expect(outputs[0].contains("Get:1 ") && outputs[0].contains(" tree "), "\(outputs[0])")
        #expect(outputs[1].contains("Need to get 0 B/") && !outputs[1].contains("Get:1 "), "\(outputs[1])")
        #expect(FileManager.default.fileExists(atPath: sandbox.cache.appendingPathComponent("packages/apt-archives/tree_2.1.0-1_amd64.deb").path))
    }
}
