import ChildProcess
import Foundation
import Testing

/// A real OCI registry for one test: Debian's docker-registry (the
/// distribution registry) serving plain HTTP on 127.0.0.1, its storage and
/// access log in the test's directory; stopped when the test lets go of it.
final class LocalRegistry: @unchecked Sendable {
    let root: URL
    let port: Int
    private let process: RunningChild
    var log: URL { root.appendingPathComponent("access.log") }
    var storage: URL { root.appendingPathComponent("data") }
    /// host's argument for a registry without TLS, for tests only.
    static let noTLS = "--tls-verify=false"

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("host-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var attempt = 0
        while true {
            // A port another test or program took makes the registry exit: try another.
            let port = Int.random(in: 20000..<60000)
            let config = root.appendingPathComponent("config.yml")
            try """
                version: 0.1
                log: {level: info, formatter: text}
                storage: {filesystem: {rootdirectory: \(root.path)/data}}
                http: {addr: "127.0.0.1:\(port)"}
                """.write(to: config, atomically: true, encoding: .utf8)
            var command = Command("/usr/bin/docker-registry", ["serve", config.path])
            command.output = .file(root.appendingPathComponent("access.log").path)
            let process = try command.start()
            if Self.answers(port: port, while: process) {
                self.port = port
                self.process = process
                return
            }
            process.kill()
            process.wait()
            attempt += 1
            if attempt == 5 {
                throw Failure(description: "docker-registry did not start: \((try? String(contentsOf: root.appendingPathComponent("access.log"), encoding: .utf8)) ?? "")")
            }
        }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    private static func answers(port: Int, while process: RunningChild) -> Bool {
        for _ in 0..<100 {
            guard process.isRunning else { return false }
            if let result = try? Sandbox.execute("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/v2/"]), result.status == 0 { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    deinit {
        process.kill()
        process.wait()
        try? FileManager.default.removeItem(at: root)
    }

    func reference(_ path: String) -> String { "127.0.0.1:\(port)/\(path)" }

    /// The digests of blobs uploaded so far, from the access log.
    func uploadedBlobs() throws -> Set<String> {
        let text = try String(contentsOf: log, encoding: .utf8)
        return Set(text.split(separator: "\n").filter { $0.contains("http.request.method=PUT") && $0.contains("/blobs/uploads/") }
            .compactMap { line in line.range(of: "digest=sha256%3A").map { "sha256:" + line[$0.upperBound...].prefix(64) } })
    }

    /// The digests of blobs sent to pullers so far.
    func downloadedBlobs() throws -> [String] {
        let text = try String(contentsOf: log, encoding: .utf8)
        return text.split(separator: "\n").filter { $0.contains("http.request.method=GET") && $0.contains("/blobs/sha256:") && $0.contains("response completed") }
            .compactMap { line in line.range(of: "/blobs/").map { String(line[$0.upperBound...].prefix(71)) } }
    }

    /// The manifest pushed as `reference`, as the registry serves it.
    func manifest(_ reference: String) throws -> [String: Any] {
        let raw = try Sandbox.execute("/usr/bin/skopeo", ["inspect", "--raw", Self.noTLS, "docker://" + reference])
        try #require(raw.status == 0, "\(raw.err)")
        return try #require(try JSONSerialization.jsonObject(with: Data(raw.out.utf8)) as? [String: Any])
    }

    /// The file the registry keeps blob `digest` in.
    func blobFile(_ digest: String) -> URL {
        let hex = String(digest.dropFirst("sha256:".count))
        return storage.appendingPathComponent("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
    }
}
