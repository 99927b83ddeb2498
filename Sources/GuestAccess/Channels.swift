import Foundation

/// A byte stream into and out of a guest: its serial console, or one of
/// its virtio-serial ports, whichever way the backend reaches them (a
/// socket of QEMU's, a libvirt stream).
public protocol ByteChannel: AnyObject {
    /// Bytes that arrived within `timeoutMs` (empty when none did); throws
    /// once the other side is gone.
    func read(timeoutMs: Int64) throws -> [UInt8]
    func write(_ bytes: [UInt8]) throws
}

/// QEMU's guest agent protocol, however the backend reaches the agent.
public protocol AgentChannel: AnyObject {
    /// What `command` returned (its "return" object); throws on an error reply.
    func execute(_ command: String, _ arguments: [String: Any]) throws -> [String: Any]
    /// Whether the agent answers within `timeoutMs`.
    func answers(timeoutMs: Int64) -> Bool
}
