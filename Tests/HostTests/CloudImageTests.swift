import Foundation
import Testing

/// os.fedora and os.alpine end to end against a local mirror (no Fedora or
/// Alpine mirror is reachable here): the listing and checksum file are
/// read, the image is downloaded into the download cache, verified, booted
/// with a NoCloud seed, and reached over SSH with the recorded host key.
/// The image is a cloud-init Debian built here once per test run.
@Suite(.serialized) struct CloudImageTests {
    static let shared = Sandbox.shared(plugins: ["backend_qemu", "os_fedora", "os_alpine", "exec", "ssh"])

    func world() throws -> (Sandbox, LocalMirror) { (try Self.shared.get(), try LocalMirror.shared.get()) }

    var downloads: String { "downloads" }

    @Test func fedoraFromTheMirrorReachesSSHThenRestores() throws {
        let (sandbox, mirror) = try world()
        let first = try sandbox.succeed(["os.fedora", "--mirror=\(mirror.url)/fedora/", "+", "ssh", "--", "hostname; cloud-init status"])
        #expect(first.out == "fedora\nstatus: done\n")
        #expect(first.err.contains("os.fedora: Fedora image \(LocalMirror.fedoraImage)"))
        let second = try sandbox.succeed(["os.fedora", "--mirror=\(mirror.url)/fedora/", "+", "exec", "hostname"])
        #expect(second.err.contains("os.fedora: cached"))
        #expect(second.out == "fedora\n")
        // The verified image stays in the download cache under its digest.
        let kept = try FileManager.default.contentsOfDirectory(atPath: sandbox.cache.appendingPathComponent(downloads).path)
        #expect(kept.contains { $0.hasPrefix("sha256-") })
    }

    @Test func checksumMismatchCachesNothing() throws {
        let (sandbox, mirror) = try world()
        let before = try sandbox.cacheSnapshot()
        let failed = try sandbox.run(["os.fedora", "--version=44", "--mirror=\(mirror.url)/fedora", "+", "exec", "true"])
        #expect(failed.status != 0)
        #expect(failed.err.contains("checksum mismatch for \(mirror.url)/fedora/releases/44/Cloud/x86_64/images/Fedora-Cloud-Base-Generic-44-1.1.x86_64.qcow2"))
        #expect(failed.err.contains("nothing was cached"))
        #expect(try sandbox.cacheSnapshot() == before)
        let downloads = sandbox.cache.appendingPathComponent(downloads)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: downloads.path)).contains("sha256-" + String(repeating: "0", count: 64)))
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: downloads.appendingPathComponent("partial").path)).contains { $0.hasSuffix(".part") })
    }

    /// A cut-off download is continued, not restarted: a partial file whose
    /// start is damaged ends in a mismatch (a fresh download would have
    /// passed), and one whose start is right completes and boots.
    @Test func alpineResumesAnInterruptedDownloadAndReachesSSH() throws {
        let (sandbox, mirror) = try world()
        let sha512 = try Sandbox.execute("/usr/bin/sha512sum", [mirror.image.path]).out.split(separator: " ")[0]
        let partialDirectory = sandbox.cache.appendingPathComponent("downloads/partial")
        try FileManager.default.createDirectory(at: partialDirectory, withIntermediateDirectories: true)
        let partial = partialDirectory.appendingPathComponent("sha512-\(sha512).part")
        let head = try FileHandle(forReadingFrom: mirror.image).read(upToCount: 64 << 20) ?? Data()
        let environment = ["HOST_ALPINE_MIRROR": "\(mirror.url)/alpine"]

        try Data(repeating: 0x55, count: head.count).write(to: partial)
        let damaged = try sandbox.run(["os.alpine", "+", "exec", "true"], extraEnvironment: environment)
        #expect(damaged.status != 0)
        #expect(damaged.err.contains("resuming the download"))
        #expect(damaged.err.contains("checksum mismatch"))
        #expect(!FileManager.default.fileExists(atPath: partial.path))

        try head.write(to: partial)
        // A trailing slash on the mirror is fine.
        let resumed = try sandbox.run(["os.alpine", "--version=3.22", "+", "ssh", "--", "hostname"],
                                      extraEnvironment: ["HOST_ALPINE_MIRROR": "\(mirror.url)/alpine/"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.err.contains("resuming the download"))
        #expect(resumed.out == "alpine\n")
    }
}
