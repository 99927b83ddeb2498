import Foundation

/// A web server for one test: busybox httpd serving one file on
/// 127.0.0.1, which a QEMU guest on user networking reaches as
/// 10.0.2.2:PORT; stopped when the test lets go of it.
final class LocalWebServer: @unchecked Sendable {
    let root: URL
    let port: Int
    private let process: Process
    /// The file's address as a VM guest sees it.
    var guestURL: String { "http://10.0.2.2:\(port)/file" }

    init(serving text: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("host-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try text.write(to: root.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        for _ in 0..<10 {
            // busybox httpd exits at once when the port is taken: try another.
            let port = Int.random(in: 20000..<60000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/busybox")
            process.arguments = ["httpd", "-f", "-p", "127.0.0.1:\(port)", "-h", root.path]
            // Not the test's own output: a server left holding it would keep `swift test` waiting.
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<50 where process.isRunning {
                if try Sandbox.execute("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/file"]).status == 0 {
                    self.port = port
                    self.process = process
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        throw FixtureError("busybox httpd found no free port on 127.0.0.1")
    }

    deinit {
        // SIGKILL: a child of the test process inherits its blocked SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: root)
    }
}
