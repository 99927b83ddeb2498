import Foundation
import Testing

/// Machines through a real OCI registry (docker-registry on 127.0.0.1,
/// skopeo as the client): pushed from one cache, pulled into another,
/// resumed there as they were saved. The busybox machine is built once.
@Suite(.serialized) struct RegistryTests {
    static let pusher = Sandbox.shared(plugins: ["backend_qemu", "os_busybox", "exec"])
    /// A marker file and a process that counts, still running when the machine is resumed.
    static let machine = ["os.busybox", "+", "exec",
                          "echo pushed > /root/marker; (i=0; while true; do i=$((i+1)); echo $i > /root/count; sleep 1; done) > /dev/null 2>&1 &"]
    static let stillRunning = "cat /root/marker; a=$(cat /root/count); sleep 3; b=$(cat /root/count); [ $b -gt $a ] && echo counting"

    func puller() throws -> Sandbox { try Sandbox(plugins: ["backend_qemu", "os_busybox", "exec"], defaultBackend: "backend.qemu") }

    /// The layers of the last entry of the machine `manifest` describes, and its config.
    func topLayers(_ manifest: [String: Any]) throws -> Set<String> {
        let layers = try #require(manifest["layers"] as? [[String: Any]])
        let entries = layers.compactMap { ($0["annotations"] as? [String: String])?["vnd.host.entry"] }
        let top = try #require(entries.last)
        let config = try #require((manifest["config"] as? [String: Any])?["digest"] as? String)
        return Set(layers.filter { ($0["annotations"] as? [String: String])?["vnd.host.entry"] == top }.compactMap { $0["digest"] as? String } + [config])
    }

    @Test func pushedMachineResumesInAnotherCacheAndSharesItsBase() throws {
        let registry = try LocalRegistry()
        let pusher = try Self.pusher.get()
        let first = registry.reference("team/busybox:1")
        let pushed = try pusher.succeed(["push", LocalRegistry.noTLS, first] + Self.machine)
        #expect(pushed.out.contains("pushed \(first) (sha256:") && pushed.out.contains("3 cached step(s)"), "\(pushed.out)")

        let puller = try puller()
        let pulled = try puller.succeed(["pull", LocalRegistry.noTLS, first])
        #expect(pulled.out.contains("fetched 3 of 3 cached step(s)"), "\(pulled.out)")
        let listing = try #require(try JSONSerialization.jsonObject(with: Data(try puller.succeed(["cache", "ls", "--json"]).out.utf8)) as? [[String: Any]])
        #expect(listing.count == 3)
        #expect(listing.allSatisfy { ($0["origin"] as? [String: String])?["reference"] == first }, "\(listing)")

        // Nothing pulled names the pusher's cache, as on another computer:
        // neither the records nor a qcow2 header's backing file.
        let machines = puller.cache.appendingPathComponent("machines")
        for entry in try FileManager.default.contentsOfDirectory(atPath: machines.path) where !entry.hasPrefix(".") {
            for file in ["machine/qemu.json", "machine/disk.qcow2"] {
                let handle = try FileHandle(forReadingFrom: machines.appendingPathComponent("\(entry)/\(file)"))
                // JSON may write a slash as \/.
                let head = String(decoding: try handle.read(upToCount: 1 << 20) ?? Data(), as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
                try handle.close()
                #expect(!head.contains(pusher.cache.path), "\(entry)/\(file) names the pusher's cache")
            }
        }

        // Resumed, not booted: the file is there and the process still counts.
        let resumed = try puller.succeed(["from", LocalRegistry.noTLS, first, "+", "exec", Self.stillRunning])
        #expect(resumed.out == "pushed\ncounting\n", "\(resumed.err)")

        // Pulling again transfers no blob.
        let before = try registry.downloadedBlobs().count
        let again = try puller.succeed(["pull", LocalRegistry.noTLS, first])
        #expect(again.out.contains("is here already") && again.out.contains("nothing was transferred"), "\(again.out)")
        #expect(try registry.downloadedBlobs().count == before)

        // A child: only its own layers go up, and only they come down.
        let second = registry.reference("team/busybox:2")
        let uploadedBefore = try registry.uploadedBlobs()
        _ = try pusher.succeed(["push", LocalRegistry.noTLS, second] + Self.machine + ["+", "exec", "echo child > /root/child"])
        let childLayers = try topLayers(try registry.manifest(second))
        let uploaded = try registry.uploadedBlobs().subtracting(uploadedBefore)
        #expect(!uploaded.isEmpty && uploaded.isSubset(of: childLayers), "uploaded \(uploaded), the child's layers are \(childLayers)")
        let downloadsBefore = try registry.downloadedBlobs().count
        let child = try puller.succeed(["pull", LocalRegistry.noTLS, second])
        #expect(child.out.contains("fetched 1 of 4"), "\(child.out)")
        let downloaded = Set(try registry.downloadedBlobs().dropFirst(downloadsBefore))
        #expect(downloaded.isSubset(of: childLayers), "downloaded \(downloaded), the child's layers are \(childLayers)")
        let both = try puller.succeed(["from", LocalRegistry.noTLS, second, "+", "exec", "cat /root/child /root/marker"])
        #expect(both.out == "child\npushed\n", "\(both.err)")

        // A pulled entry damaged here cannot be rebuilt here: it is pulled again.
        let here = try puller.succeed(["pull", LocalRegistry.noTLS, second]).out
        let prefix = try #require(here.split(separator: " ").drop { $0 != "as" }.dropFirst().first.map { String($0.prefix(12)) }, "\(here)")
        let entry = try #require(try FileManager.default.contentsOfDirectory(atPath: machines.path).first { $0.hasPrefix(prefix) })
        let disk = try FileHandle(forUpdating: machines.appendingPathComponent("\(entry)/machine/disk.qcow2"))
        try disk.seekToEnd()
        try disk.write(contentsOf: [0])
        try disk.close()
        let repulled = try puller.succeed(["from", LocalRegistry.noTLS, second, "+", "exec", "cat /root/child"])
        #expect(repulled.out == "child\n" && repulled.err.contains("pull: fetching 1 of 4"), "\(repulled.err)")
    }

    @Test func damagedInterruptedOrUnsafePullsAddNothing() throws {
        let registry = try LocalRegistry()
        let pusher = try Self.pusher.get()
        let reference = registry.reference("team/busybox:damaged")
        _ = try pusher.succeed(["push", LocalRegistry.noTLS, reference] + Self.machine)

        // A pipeline that fails to build pushes nothing.
        let uploaded = try registry.uploadedBlobs()
        let failing = try pusher.run(["push", LocalRegistry.noTLS, registry.reference("team/busybox:failing"), "os.busybox", "+", "exec", "exit 3"])
        #expect(failing.status == 3, "\(failing.err)")
        #expect(try registry.uploadedBlobs() == uploaded)
        #expect(try Sandbox.execute("/usr/bin/skopeo", ["inspect", "--raw", LocalRegistry.noTLS, "docker://" + registry.reference("team/busybox:failing")]).status != 0)

        // Killed while fetching: nothing is published, and the next pull is whole.
        let puller = try puller()
        let process = try puller.start(["pull", LocalRegistry.noTLS, reference])
        let temporary = puller.cache.appendingPathComponent("machines/.tmp")
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline,
              !((try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []).contains(where: {
                  FileManager.default.fileExists(atPath: temporary.appendingPathComponent("\($0)/image/oci-layout").path) }) {
            usleep(2_000)
        }
        #expect(process.isRunning, "the pull ended before it could be interrupted")
        process.kill()
        process.waitUntilExit()
        #expect(try puller.succeed(["cache", "ls", "--json"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")
        let whole = try puller.succeed(["pull", LocalRegistry.noTLS, reference])
        #expect(whole.out.contains("fetched 3 of 3"), "\(whole.out)")
        #expect(puller.temporaryLeftovers().allSatisfy { $0.hasSuffix(".lock") } || puller.temporaryLeftovers().isEmpty)

        // One byte of the largest blob changed in the registry's storage: refused.
        let layers = try #require(try registry.manifest(reference)["layers"] as? [[String: Any]])
        let largest = try #require(layers.max { ($0["size"] as? Int ?? 0) < ($1["size"] as? Int ?? 0) }?["digest"] as? String)
        let handle = try FileHandle(forUpdating: registry.blobFile(largest))
        try handle.seek(toOffset: 1000)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: 1000)
        try handle.write(contentsOf: [~byte])
        try handle.close()
        let other = try self.puller()
        let refused = try other.run(["pull", LocalRegistry.noTLS, reference])
        #expect(refused.status == 65, "\(refused.err)")
        #expect(refused.err.contains("is not what its digest says (it should be \(largest.dropFirst(7).prefix(12)), it is "), "\(refused.err)")
        #expect(!refused.err.contains("level=fatal") && !refused.err.contains("time="), "\(refused.err)")
        // skopeo's own words are kept in the cache's logs, which the message names.
        let log = try #require(refused.err.firstMatch(of: /skopeo's own words: ([^)]+)\)/).map { String($0.output.1) })
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("level=fatal"))
        #expect(try other.succeed(["cache", "ls", "--json"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")

        // Extra QEMU arguments could reach the puller's files: such a machine is not taken.
        let extra = registry.reference("team/busybox:extra")
        _ = try pusher.succeed(["push", LocalRegistry.noTLS, extra, "backend.qemu", "--qemu-arg=-no-hpet", "+", "os.busybox"])
        let unsafe = try other.run(["pull", LocalRegistry.noTLS, extra])
        #expect(unsafe.status == 72, "\(unsafe.err)")
        #expect(unsafe.err.contains("cannot resume on this computer: it was built with extra QEMU arguments (-no-hpet)"), "\(unsafe.err)")
        #expect(try other.succeed(["cache", "ls", "--json"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["HOST_TEST_QEMU10"] != nil, "needs HOST_TEST_QEMU10 (scripts/test sets it)"))
    func machineFromANewerQEMUIsRefusedWithTheDifference() throws {
        let qemu10 = try #require(ProcessInfo.processInfo.environment["HOST_TEST_QEMU10"])
        let registry = try LocalRegistry()
        let pusher = try Sandbox(plugins: ["backend_qemu", "os_busybox", "exec"], defaultBackend: "backend.qemu")
        // The pusher's QEMU 10 is found through a directory that the puller's computer lacks.
        let bin = pusher.file("qemu10")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\nexec \(qemu10)/qemu-system-x86_64 \"$@\"\n".write(to: bin.appendingPathComponent("qemu-system-x86_64"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("qemu-system-x86_64").path, 0o755)
        let environment = ["PATH": bin.path + ":" + qemu10 + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"), "HOST_QEMU_ACCEL": "tcg"]
        let reference = registry.reference("team/busybox:qemu10")
        let pushed = try pusher.run(["push", LocalRegistry.noTLS, reference, "os.busybox"], extraEnvironment: environment)
        #expect(pushed.status == 0, "\(pushed.err)")
        try FileManager.default.removeItem(at: bin)

        let puller = try puller()
        let refused = try puller.run(["pull", LocalRegistry.noTLS, reference])
        #expect(refused.status != 0)
        #expect(refused.err.contains("cannot resume on this computer: it was saved by QEMU 10.") && refused.err.contains("install QEMU 10."),
                "\(refused.err)")
        #expect(try puller.succeed(["cache", "ls", "--json"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")
    }
}

/// What is refused before anything moves, and local names, on the fixture backend.
@Suite struct RegistryRefusalTests {
    @Test func badInputIsSaidAndChangesNothing() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "echo base > base.txt"])
        let before = try sandbox.cacheSnapshot()

        let unparsable = try sandbox.run(["push", "Registry.Example/Team/Debian:1", "backend.fixture"])
        #expect(unparsable.status == 64)
        #expect(unparsable.err.contains("is not a registry reference") && unparsable.err.contains("lowercase"), "\(unparsable.err)")

        let unreachable = try sandbox.run(["pull", "127.0.0.1:1/team/machine:1"])
        #expect(unreachable.status == 75)
        #expect(unreachable.err.contains("cannot reach the registry 127.0.0.1:1"), "\(unreachable.err)")

        let registry = try LocalRegistry()
        let portless = try sandbox.run(["push", LocalRegistry.noTLS, registry.reference("team/fixture:1"), "backend.fixture", "+", "exec", "echo base > base.txt"])
        #expect(portless.status == 64)
        #expect(portless.err.contains("backend.fixture does not offer host.portable/1"), "\(portless.err)")

        let missing = try sandbox.run(["pull", LocalRegistry.noTLS, registry.reference("team/nothing:1")])
        #expect(missing.status == 75)
        #expect(missing.err.contains("is not in the registry"), "\(missing.err)")

        let transient = try sandbox.run(["push", LocalRegistry.noTLS, registry.reference("team/fixture:3"), "backend.fixture", "+", "exec", "--transient", "true"])
        #expect(transient.status == 64 && transient.err.contains("exec is transient"), "\(transient.err)")
        #expect(try sandbox.cacheSnapshot() == before)
    }

    @Test func localNamesStartPipelinesAndKeepTheirMachines() throws {
        let sandbox = try Sandbox()
        let tagged = try sandbox.succeed(["tag", "dev", "backend.fixture", "+", "exec", "echo tagged > tag.txt"])
        #expect(tagged.out.contains("dev names ") && tagged.out.contains("host from dev"), "\(tagged.out)")
        let used = try sandbox.succeed(["from", "dev", "+", "exec", "cat tag.txt"])
        #expect(used.out == "tagged\n", "\(used.err)")
        let list = try sandbox.succeed(["tag", "--list"])
        #expect(list.out.hasPrefix("dev ") && list.out.contains("backend.fixture + exec 'echo tagged > tag.txt'"), "\(list.out)")

        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "echo other > other.txt", "+", "exec", "true"])
        let cleanup = try sandbox.succeed(["cleanup", "machines", "all"])
        #expect(cleanup.out.contains("removed 1 machine(s)") && cleanup.out.contains("kept 2 that local names keep"), "\(cleanup.out)")
        #expect(try sandbox.succeed(["from", "dev", "+", "exec", "cat tag.txt"]).out == "tagged\n")

        let unknown = try sandbox.run(["from", "prod", "+", "exec", "true"])
        #expect(unknown.status == 64 && unknown.err.contains("no machine is named prod (local names: dev)"), "\(unknown.err)")
        let option = try sandbox.run(["from", "dev", "--force"])
        #expect(option.status == 64 && option.err.contains("not --force"), "\(option.err)")
        let installer = try sandbox.run(["from", "dev", "+", "backend.fixture"])
        #expect(installer.status == 64 && installer.err.contains("cannot follow `from`"), "\(installer.err)")

        #expect(try sandbox.succeed(["help", "from"]).out.contains("usage: host from NAME|REF [--keep-authorized-keys]"))
        let completed = try sandbox.succeed(["__complete", "from", ""])
        #expect(completed.out == "dev\n", "\(completed.out)")

        _ = try sandbox.succeed(["tag", "--delete", "dev"])
        let gone = try sandbox.succeed(["cleanup", "machines", "all"])
        #expect(gone.out.contains("removed 2 machine(s)"), "\(gone.out)")
        #expect(try sandbox.run(["tag", "--delete", "dev"]).status == 64)
    }
}
