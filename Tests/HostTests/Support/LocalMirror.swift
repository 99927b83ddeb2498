import ChildProcess
import Foundation

/// Test fixture: a local HTTP server (busybox httpd) laid out like Fedora's
/// and Alpine's mirrors, with each one's listing and checksum-file format,
/// serving a cloud-init-enabled Debian image built here by
/// Tests/Fixtures/cloud-image/build, once per test run.
final class LocalMirror: @unchecked Sendable {
    let root: URL
    let url: String
    let image: URL

    /// The image's name in each layout (Fedora 43 and Alpine 3.22 here).
    static let fedoraImage = "Fedora-Cloud-Base-Generic-43-1.6.x86_64.qcow2"
    static let alpineImage = "nocloud_alpine-3.22.2-x86_64-bios-cloudinit-r0.qcow2"
    static let ubuntuImage = "ubuntu-24.04-server-cloudimg-amd64.img"

    static let shared = Result { try LocalMirror() }

    private init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("host-mirror-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let root = root
        var served = false
        defer { if !served { try? FileManager.default.removeItem(at: root) } }
        // HOST_TEST_CLOUD_IMAGE: reuse an image built before (developers).
        if let prebuilt = ProcessInfo.processInfo.environment["HOST_TEST_CLOUD_IMAGE"] {
            image = URL(fileURLWithPath: prebuilt)
        } else {
            image = root.appendingPathComponent("cloud.qcow2")
            let build = try Sandbox.execute(Sandbox.repository.appendingPathComponent("Tests/Fixtures/cloud-image/build").path, [image.path])
            guard build.status == 0 else { throw FixtureError("building the test cloud image failed: \(build.err)") }
        }
        let sha256 = try Self.digest(image, "sha256sum")
        let sha512 = try Self.digest(image, "sha512sum")

        let fedora = try Self.place(image, as: Self.fedoraImage, under: root, in: "fedora/releases/43/Cloud/x86_64/images")
        try """
            -----BEGIN PGP SIGNED MESSAGE-----
            Hash: SHA256

            # \(Self.fedoraImage): 1 bytes
            SHA256 (\(Self.fedoraImage)) = \(sha256)
            -----BEGIN PGP SIGNATURE-----

            iQIzBAEBCAAdFiEEfixture
            -----END PGP SIGNATURE-----

            """.write(to: fedora.appendingPathComponent("Fedora-Cloud-43-1.6-x86_64-CHECKSUM"), atomically: true, encoding: .utf8)
        try Self.apacheIndex(fedora)

        // Release 44 publishes a checksum the image does not have.
        let wrong = try Self.place(image, as: "Fedora-Cloud-Base-Generic-44-1.1.x86_64.qcow2", under: root, in: "fedora/releases/44/Cloud/x86_64/images")
        try "SHA256 (Fedora-Cloud-Base-Generic-44-1.1.x86_64.qcow2) = \(String(repeating: "0", count: 64))\n"
            .write(to: wrong.appendingPathComponent("Fedora-Cloud-44-1.1-x86_64-CHECKSUM"), atomically: true, encoding: .utf8)
        try Self.apacheIndex(wrong)

        let alpine = try Self.place(image, as: Self.alpineImage, under: root, in: "alpine/v3.22/releases/cloud")
        try "\(sha512)  \(Self.alpineImage)\n".write(to: alpine.appendingPathComponent(Self.alpineImage + ".sha512"), atomically: true, encoding: .utf8)
        try Self.nginxIndex(alpine)

        // Ubuntu: a fixed name under releases/VERSION/release, a GNU-style SHA256SUMS in binary mode.
        let ubuntu = try Self.place(image, as: Self.ubuntuImage, under: root, in: "ubuntu/releases/24.04/release")
        try "\(sha256) *\(Self.ubuntuImage)\n".write(to: ubuntu.appendingPathComponent("SHA256SUMS"), atomically: true, encoding: .utf8)
        try Self.apacheIndex(ubuntu)

        // A free port: busybox httpd exits at once when the port is taken.
        // The server runs under a shell that kills it when its standard
        // input ends, which happens when this test process ends, however.
        for _ in 0..<20 {
            let port = 20000 + Int.random(in: 0..<20000)
            // Its standard input is the lifeline: a pipe whose end this process holds.
            var command = Command("/bin/sh", ["-c", "/bin/busybox httpd -f -p 127.0.0.1:$1 -h \"$2\" & server=$!; cat >/dev/null; kill -9 $server; rm -rf \"$2\"",
                                              "sh", String(port), root.path])
            command.input = .pipe
            let process = try command.start()
            usleep(300_000)
            if try Sandbox.execute("/usr/bin/curl", ["-s", "-o", "/dev/null", "http://127.0.0.1:\(port)/"]).status == 0 {
                served = true
                url = "http://127.0.0.1:\(port)"
                LocalMirror.lifelines.append(process) // its input kept open until this process ends
                return
            }
            process.closeInput()
            process.wait()
        }
        throw FixtureError("busybox httpd found no free port on 127.0.0.1")
    }

    nonisolated(unsafe) static var lifelines: [RunningChild] = []

    /// Hard-links the image into a mirror directory; returns the directory.
    private static func place(_ image: URL, as name: String, under root: URL, in path: String) throws -> URL {
        let directory = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            try FileManager.default.linkItem(at: image, to: directory.appendingPathComponent(name))
        } catch {
            try FileManager.default.copyItem(at: image, to: directory.appendingPathComponent(name)) // another filesystem
        }
        return directory
    }

    private static func names(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "index.html" }.sorted()
    }

    /// Apache's FancyIndexing, as Fedora's mirrors serve listings.
    private static func apacheIndex(_ directory: URL) throws {
        let rows = try names(directory).map { "<img src=\"/icons/unknown.gif\" alt=\"[   ]\"> <a href=\"\($0)\">\($0)</a>   2026-10-28 12:00  500M  " }
        try (["<html><head><title>Index of</title></head><body><pre><a href=\"?C=N;O=D\">Name</a><hr><a href=\"/fedora/\">Parent Directory</a>"]
             + rows + ["<hr></pre></body></html>"]).joined(separator: "\n").write(to: directory.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
    }

    /// nginx's autoindex, as Alpine's CDN serves listings (long names cut in the text).
    private static func nginxIndex(_ directory: URL) throws {
        let rows = try names(directory).map { "<a href=\"\($0)\">\($0.count > 50 ? $0.prefix(47) + "..&gt;" : $0)</a> 01-Nov-2026 10:00   1234" }
        try (["<html><head><title>Index of</title></head><body><pre><a href=\"../\">../</a>"] + rows + ["</pre><hr></body></html>"])
            .joined(separator: "\n").write(to: directory.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
    }

    private static func digest(_ file: URL, _ tool: String) throws -> String {
        let result = try Sandbox.execute("/usr/bin/\(tool)", [file.path])
        guard result.status == 0, let digest = result.out.split(separator: " ").first else { throw FixtureError("\(tool) failed: \(result.err)") }
        return String(digest)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
