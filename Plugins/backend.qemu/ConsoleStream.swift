import Foundation

/// The serial console, read all the time by a thread of its own. A guest
/// that writes to a console nobody reads stalls on every character (QEMU's
/// UART waits for the socket to take the byte), so a boot that logs to the
/// console while host talks to it over SSH would crawl. What arrives is
/// kept (at most `limit` bytes, the newest) until a reader asks for it.
final class ConsoleStream: @unchecked Sendable {
    static let limit = 1 << 20
    private let socket: UnixSocket
    private let condition = NSCondition()
    private var buffer: [UInt8] = []
    private var closed = false

    init(socket: UnixSocket) {
        self.socket = socket
        // The thread ends when QEMU closes the socket (it quit or was killed).
        Thread { [self] in drain() }.start()
    }

    private func drain() {
        while true {
            let bytes: [UInt8]
            do {
                bytes = try socket.read(timeoutMs: 60_000)
            } catch {
                condition.lock()
                closed = true
                condition.broadcast()
                condition.unlock()
                return
            }
            guard !bytes.isEmpty else { continue }
            condition.lock()
            buffer += bytes
            // Trimmed by half at a time, so an unread chatty console costs
            // one move per half megabyte, not one per byte.
            if buffer.count > Self.limit { buffer.removeFirst(buffer.count - Self.limit / 2) }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Everything that arrived and nobody took yet, waiting up to `timeoutMs`
    /// for the first byte (empty when none came); throws once QEMU is gone.
    func read(timeoutMs: Int64) throws -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while buffer.isEmpty && !closed && condition.wait(until: deadline) {}
        if buffer.isEmpty && closed { throw StepErrorText("the machine closed its console") }
        let taken = buffer
        buffer = []
        return taken
    }

    func write(_ bytes: [UInt8]) throws { try socket.write(bytes) }
}
