import Foundation
import Testing

/// os.fedora and os.alpine end to end against a local mirror (no Fedora or
/// Alpine mirror is reachable here): the listing and checksum file are
/// read, the image is downloaded into the download cache, verified, booted
/// with a NoCloud seed, and reached over SSH with the recorded host key,
/// and through its guest agent once restored.
/// The image is a cloud-init Debian built here once per test run.
@Suite(.serialized) struct CloudImageTests {
    static let shared = Sandbox.shared(plugins: ["backend_qemu", "os_fedora", "os_alpine", "os_cloud_image", "os_ubuntu", "exec", "ssh"])

    func world() throws -> (Sandbox, LocalMirror) { (try Self.shared.get(), try LocalMirror.shared.get()) }

    @Test func fedoraFromTheMirrorReachesSSHThenRestores() throws {
        let (sandbox, mirror) = try world()
        // A download cut off earlier, with its first 64 MiB right: continued.
        let sha256 = try Sandbox.execute("/usr/bin/sha256sum", [mirror.image.path]).out.split(separator: " ")[0]
        let partial = sandbox.cache.appendingPathComponent("downloads/partial/sha256-\(sha256).part")
        try FileManager.default.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        try (try FileHandle(forReadingFrom: mirror.image).read(upToCount: 64 << 20) ?? Data()).write(to: partial)
        let first = try sandbox.succeed(["os.fedora", "--mirror=\(mirror.url)/fedora/", "+", "ssh", "--", "hostname; cloud-init status"])
        #expect(first.out == "fedora\nstatus: done\n")
        #expect(first.err.contains("os.fedora: Fedora image \(LocalMirror.fedoraImage)"))
        #expect(first.err.contains("resuming the download"))
        #expect(!first.err.contains("downloading it whole again"))
        // Restored, the image's guest agent (cloud-init started it) runs the command.
        let second = try sandbox.succeed(["--json", "os.fedora", "--mirror=\(mirror.url)/fedora/", "+", "exec", "hostname; \(DebianTests.nearestAgent)"])
        #expect(second.reused("os.fedora"))
        #expect(second.out == "fedora\nqemu-ga\n")
        // The verified image stays in the download cache under its digest.
        let kept = try FileManager.default.contentsOfDirectory(atPath: sandbox.cache.appendingPathComponent("downloads").path)
        #expect(kept.contains { $0.hasPrefix("sha256-") })
    }

    @Test func checksumMismatchCachesNothing() throws {
        let (sandbox, mirror) = try world()
        let pipeline = ["os.fedora", "--version=44", "--mirror=\(mirror.url)/fedora", "+", "exec", "true"]
        _ = try sandbox.run(pipeline) // whatever else a first run caches (the backend step)
        let before = try sandbox.cacheSnapshot()
        let failed = try sandbox.run(pipeline)
        #expect(failed.status != 0)
        #expect(failed.err.contains("checksum mismatch for \(mirror.url)/fedora/releases/44/Cloud/x86_64/images/Fedora-Cloud-Base-Generic-44-1.1.x86_64.qcow2"))
        #expect(failed.err.contains("nothing was cached"))
        #expect(try sandbox.cacheSnapshot() == before)
        let downloads = sandbox.cache.appendingPathComponent("downloads")
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: downloads.path)).contains("sha256-" + String(repeating: "0", count: 64)))
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: downloads.appendingPathComponent("partial").path)).contains { $0.hasSuffix(".part") })
    }

    /// A cut-off download is continued, not restarted: a partial file whose
    /// start is damaged fails its checksum after resuming (a fresh download
    /// would not), and host then downloads it whole and boots it.
    @Test func alpineResumesAnInterruptedDownloadAndReachesSSH() throws {
        let (sandbox, mirror) = try world()
        let sha512 = try Sandbox.execute("/usr/bin/sha512sum", [mirror.image.path]).out.split(separator: " ")[0]
        let partialDirectory = sandbox.cache.appendingPathComponent("downloads/partial")
        try FileManager.default.createDirectory(at: partialDirectory, withIntermediateDirectories: true)
        try Data(repeating: 0x55, count: 64 << 20).write(to: partialDirectory.appendingPathComponent("sha512-\(sha512).part"))
        // The mirror from the environment; a trailing slash is fine.
        let run = try sandbox.run(["os.alpine", "--version=3.22", "+", "ssh", "--", "hostname"],
                                  extraEnvironment: ["HOST_ALPINE_MIRROR": "\(mirror.url)/alpine/"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.err.contains("resuming the download"))
        #expect(run.err.contains("the resumed download does not match its checksum; downloading it whole again"))
        #expect(run.out == "alpine\n")
    }

    /// os.cloud_image: any image by its URL, verified by the checksum given
    /// or by the checksum file published beside it, booted with the seed.
    @Test func anyCloudImageByItsURL() throws {
        let (sandbox, mirror) = try world()
        let directory = "\(mirror.url)/alpine/v3.22/releases/cloud"
        let url = "--url=\(directory)/\(LocalMirror.alpineImage)"
        let listed = try sandbox.succeed(["os.cloud_image", url, "--checksum-url=\(directory)/\(LocalMirror.alpineImage).sha512",
                                          "--hostname=any", "+", "ssh", "--", "hostname"])
        #expect(listed.out == "any\n", "\(listed.err)")
        #expect(listed.err.contains("os.cloud_image: cloud image \(LocalMirror.alpineImage) (sha512:"), "\(listed.err)")

        let sha256 = try Sandbox.execute("/usr/bin/sha256sum", [mirror.image.path]).out.split(separator: " ")[0]
        let given = try sandbox.succeed(["os.cloud_image", url, "--checksum=sha256:\(sha256)", "+", "exec", "hostname"])
        #expect(given.out == "cloud\n", "\(given.err)")

        let wrong = try sandbox.run(["os.cloud_image", url, "--checksum=sha256:\(String(repeating: "0", count: 64))", "+", "exec", "true"])
        #expect(wrong.status != 0 && wrong.err.contains("checksum"), "\(wrong.err)")
        let none = try sandbox.run(["os.cloud_image", url, "+", "exec", "true"])
        #expect(none.status == 64 && none.err.contains("give the image's checksum"), "\(none.err)")
    }

    @Test func ubuntuFromTheMirror() throws {
        let (sandbox, mirror) = try world()
        let run = try sandbox.succeed(["os.ubuntu", "--mirror=\(mirror.url)/ubuntu", "+", "ssh", "--", "hostname"])
        #expect(run.out == "ubuntu\n", "\(run.err)")
        #expect(run.err.contains("os.ubuntu: Ubuntu image \(LocalMirror.ubuntuImage) (sha256:"), "\(run.err)")
        let wrong = try sandbox.run(["os.ubuntu", "--version=24", "+", "exec", "true"])
        #expect(wrong.status == 64 || wrong.err.contains("is not an Ubuntu release"), "\(wrong.err)")
    }
}
