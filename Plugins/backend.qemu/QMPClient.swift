import Foundation
import GuestAccess

/// QEMU's JSON command protocol over a Unix socket, as both QMP and the
/// guest agent speak it: one JSON object per line; replies carry "return"
/// or "error", and events may come in between.
final class JSONCommandChannel {
    private let socket: UnixSocket
    /// Who answers, for errors ("QEMU", "the guest agent").
    private let peer: String
    private var pending: [UInt8] = []

    init(socket: UnixSocket, peer: String) {
        self.socket = socket
        self.peer = peer
    }

    @discardableResult
    func execute(_ command: String, _ arguments: [String: Any] = [:], timeoutMs: Int64 = 30_000) throws -> [String: Any] {
        try answer(command, arguments, timeoutMs: timeoutMs) as? [String: Any] ?? [:]
    }

    /// What `command` returned, whatever its JSON type (a list, for some).
    func answer(_ command: String, _ arguments: [String: Any] = [:], timeoutMs: Int64 = 30_000) throws -> Any {
        try send(command, arguments)
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutMs) / 1000)
        while true {
            let reply = try readObject(until: deadline)
            if let error = reply["error"] as? [String: Any] {
                throw StepErrorText("\(peer) refused \(command): \(error["desc"] as? String ?? "\(error)")")
            }
            if let result = reply["return"] { return result }
        }
    }

    func send(_ command: String, _ arguments: [String: Any] = [:]) throws {
        var request: [String: Any] = ["execute": command]
        if !arguments.isEmpty { request["arguments"] = arguments }
        try socket.write(Array(try JSONSerialization.data(withJSONObject: request)) + [10])
    }

    func readObject(until deadline: Date) throws -> [String: Any] {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                // The guest agent's guest-sync-delimited puts a 0xFF byte before its reply.
                let line = pending[..<newline].filter { $0 != 0xFF }
                pending.removeSubrange(...newline)
                if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] { return object }
                continue
            }
            let remaining = Int64(deadline.timeIntervalSinceNow * 1000)
            guard remaining > 0 else { throw StepErrorText("\(peer) did not answer on its socket in time") }
            pending += try socket.read(timeoutMs: remaining)
        }
    }
}

/// The guest agent's port as QEMU offers it: a socket speaking the same
/// JSON protocol as QMP.
final class SocketAgentChannel: AgentChannel {
    private let channel: JSONCommandChannel

    init(_ channel: JSONCommandChannel) { self.channel = channel }

    func execute(_ command: String, _ arguments: [String: Any]) throws -> [String: Any] {
        try channel.execute(command, arguments)
    }

    /// Also discards what an earlier, interrupted exchange left
    /// (guest-sync-delimited's purpose).
    func answers(timeoutMs: Int64) -> Bool {
        let id = Int.random(in: 1...Int(Int32.max))
        guard (try? channel.send("guest-sync-delimited", ["id": id])) != nil else { return false }
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutMs) / 1000)
        while Date() < deadline {
            if let reply = try? channel.readObject(until: deadline), reply["return"] as? Int == id { return true }
        }
        return false
    }
}

/// QEMU's machine protocol (QMP): a greeting, capabilities, then commands.
final class QMPClient {
    private let channel: JSONCommandChannel

    init(socket: UnixSocket) throws {
        channel = JSONCommandChannel(socket: socket, peer: "QEMU")
        _ = try channel.readObject(until: Date().addingTimeInterval(10)) // the greeting
        try channel.execute("qmp_capabilities")
    }

    @discardableResult
    func execute(_ command: String, _ arguments: [String: Any] = [:], timeoutMs: Int64 = 30_000) throws -> [String: Any] {
        try channel.execute(command, arguments, timeoutMs: timeoutMs)
    }

    func answer(_ command: String, _ arguments: [String: Any] = [:]) throws -> Any { try channel.answer(command, arguments) }

    /// Whether this QEMU offers the migration capability `name` ("mapped-ram").
    func offers(capability name: String) throws -> Bool {
        let capabilities = try answer("query-migrate-capabilities") as? [[String: Any]] ?? []
        return capabilities.contains { $0["capability"] as? String == name }
    }

    /// Turns on the migration capability `name`, on both sides of a migration.
    func enable(capability name: String) throws {
        try execute("migrate-set-capabilities", ["capabilities": [["capability": name, "state": true]]])
    }

    /// The VM's run state ("running", "paused", "inmigrate", ...).
    func status() throws -> String {
        try execute("query-status")["status"] as? String ?? "unknown"
    }
}
