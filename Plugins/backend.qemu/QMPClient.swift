import Foundation

/// QEMU's machine protocol over its Unix socket: one JSON object per line;
/// replies carry "return" or "error", and events may come in between.
final class QMPClient {
    private let socket: UnixSocket
    private var pending: [UInt8] = []

    init(socket: UnixSocket) throws {
        self.socket = socket
        _ = try readObject(timeoutMs: 10_000) // the greeting
        _ = try execute("qmp_capabilities")
    }

    @discardableResult
    func execute(_ command: String, _ arguments: [String: Any] = [:], timeoutMs: Int64 = 30_000) throws -> [String: Any] {
        var request: [String: Any] = ["execute": command]
        if !arguments.isEmpty { request["arguments"] = arguments }
        try socket.write(Array(try JSONSerialization.data(withJSONObject: request)) + [10])
        while true {
            let reply = try readObject(timeoutMs: timeoutMs)
            if let error = reply["error"] as? [String: Any] {
                throw StepErrorText("QEMU refused \(command): \(error["desc"] as? String ?? "\(error)")")
            }
            if let result = reply["return"] { return result as? [String: Any] ?? [:] }
        }
    }

    /// The VM's run state ("running", "paused", "inmigrate", ...).
    func status() throws -> String {
        try execute("query-status")["status"] as? String ?? "unknown"
    }

    private func readObject(timeoutMs: Int64) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutMs) / 1000)
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] { return object }
                continue
            }
            let remaining = Int64(deadline.timeIntervalSinceNow * 1000)
            guard remaining > 0 else { throw StepErrorText("QEMU did not answer on its control socket in time") }
            pending += try socket.read(timeoutMs: remaining)
        }
    }
}
