import Foundation
import Testing

/// What the system refuses (a busy mount point, a read-only or full disk)
/// reaches the user in host's words: the operation and path, the errno's
/// meaning and what to do; never Foundation's `NSCocoaErrorDomain` text.
/// The subject of these tests is the message. Each mounts a file system,
/// which needs root.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounting needs root"))
struct SystemErrorTests {
    static let pipeline = ["backend.fixture", "+", "self_test.make_greeting"]

    private func mount(_ arguments: [String]) throws {
        let mounted = try Sandbox.execute("/bin/mount", arguments)
        #expect(mounted.status == 0, "\(mounted.err)")
    }

    private func unmount(_ path: URL) { _ = try? Sandbox.execute("/bin/umount", ["-l", path.path]) }

    private func entries(_ cache: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("machines").path)
            .filter { !$0.hasPrefix(".") }.sorted()
    }

    private func expectHostsWords(_ err: String) {
        #expect(!err.contains("NSCocoaErrorDomain") && !err.contains("The operation could not be completed"), "\(err)")
        #expect(!err.contains("is the disk full?"), "\(err)")
    }

    @Test func cleanupOfAnEntryThatIsAMountPointNamesItAndWhatToDo() throws {
        let sandbox = try Sandbox()
        let built = try sandbox.succeed(["--json"] + Self.pipeline)
        let entry = try sandbox.builtEntry(built, step: "self_test.make_greeting")
        try mount(["--bind", "-o", "ro", entry.path, entry.path])
        defer { unmount(entry) }
        let cleanup = try sandbox.run(["cleanup", "machines", "all"])
        #expect(cleanup.status == 72, "\(cleanup.err)")
        #expect(cleanup.err.contains("could not move \(entry.path) to "), "\(cleanup.err)")
        #expect(cleanup.err.contains(": Device or resource busy (it is a mount point or in use: unmount it (`umount \(entry.path)`)"), "\(cleanup.err)")
        expectHostsWords(cleanup.err)
    }

    @Test func aDamagedEntryOnAReadOnlyDiskSaysReadOnlyNotFull() throws {
        let sandbox = try Sandbox()
        let built = try sandbox.succeed(["--json"] + Self.pipeline)
        let entry = try sandbox.builtEntry(built, step: "self_test.make_greeting")
        let greeting = entry.appendingPathComponent("machine/root/.greeting")
        try Data("damaged\n".utf8).write(to: greeting)
        let machines = sandbox.cache.appendingPathComponent("machines")
        try mount(["--bind", "-o", "ro", machines.path, machines.path])
        defer { unmount(machines) }
        let run = try sandbox.run(Self.pipeline)
        #expect(run.status == 72, "\(run.err)")
        #expect(run.err.contains("rebuilding: damaged"), "\(run.err)")
        #expect(run.err.contains(": Read-only file system (the file system holding \(machines.path)/"), "\(run.err)")
        #expect(run.err.contains("is mounted read-only: remount it read-write, or set HOST_CACHE_DIR to a writable folder)"), "\(run.err)")
        expectHostsWords(run.err)
    }

    @Test func aNewStepOnAFullDiskSaysSoAndChangesNothing() throws {
        let sandbox = try Sandbox()
        let small = sandbox.file("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        try mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", small.path])
        defer { unmount(small) }
        let environment = ["HOST_CACHE_DIR": small.path]
        #expect(try sandbox.run(Self.pipeline, extraEnvironment: environment).status == 0)
        let before = try entries(small)
        // Whatever room is left goes to one file.
        _ = try Sandbox.execute("/bin/sh", ["-c", "cat /dev/zero > '\(small.path)/fill'"])
        let run = try sandbox.run(Self.pipeline + ["+", "self_test.note", "more", "+", "exec", "cat notes.txt"], extraEnvironment: environment)
        #expect(run.status == 72, "\(run.err)")
        #expect(run.err.contains(": No space left on device (the disk holding \(small.path)/"), "\(run.err)")
        #expect(run.err.contains("is full: free space (`host cleanup machines expired`, `host cleanup downloads`) or set HOST_CACHE_DIR to a disk with room)"), "\(run.err)")
        expectHostsWords(run.err)
        #expect(try entries(small) == before)
    }
}
