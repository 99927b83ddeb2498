import ChildProcess
import Foundation

/// A web server for one test: busybox httpd serving one file on
/// 127.0.0.1, which a QEMU guest on user networking reaches as
/// 10.0.2.2:PORT; stopped when the test lets go of it.
final class LocalWebServer: @unchecked Sendable {
    let root: URL
    let port: Int
    private let process: RunningChild
    /// The file's address as a VM guest sees it.
    var guestURL: String { "http://10.0.2.2:\(port)/file" }

    init(serving text: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("host-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try text.write(to: root.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        for _ in 0..<10 {
            // busybox httpd exits at once when the port is taken: try another.
            let port = Int.random(in: 20000..<60000)
            // Output nowhere, not the test's own: a server left holding it would keep `swift test` waiting.
            let process = try Command("/bin/busybox", ["httpd", "-f", "-p", "127.0.0.1:\(port)", "-h", root.path]).start()
            for _ in 0..<50 where process.isRunning {
                if try Sandbox.execute("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/file"]).status == 0 {
                    self.port = port
                    self.process = process
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            process.kill()
            process.wait()
        }
        throw FixtureError("busybox httpd found no free port on 127.0.0.1")
    }

    deinit {
        process.kill()
        process.wait()
        try? FileManager.default.removeItem(at: root)
    }
}
