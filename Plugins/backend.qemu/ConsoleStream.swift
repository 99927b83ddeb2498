import Foundation
import GuestAccess
import PluginKit
import PluginSupport

/// The serial console, drained all the time (DrainedOutput). A guest that
/// writes to a console nobody reads stalls on every character (QEMU's UART
/// waits for the socket to take the byte), so a boot that logs to the
/// console while host talks to it over SSH would crawl. Also a virtio-serial
/// port, `lossless`: a command's output must arrive whole, so a full buffer
/// holds up the guest's writes instead of dropping the oldest bytes.
final class ConsoleStream: ByteChannel {
    private let socket: UnixSocket
    private let output: DrainedOutput

    init(socket: UnixSocket, lossless: Bool = false) {
        self.socket = socket
        // The thread ends when QEMU closes the socket (it quit or was killed).
        nonisolated(unsafe) let reading = socket
        output = DrainedOutput(lossless: lossless) {
            while true {
                guard let bytes = try? reading.read(timeoutMs: 60_000) else { return nil }
                if !bytes.isEmpty { return bytes }
            }
        }
    }

    /// Everything that arrived and nobody took yet, waiting up to `timeoutMs`
    /// for the first byte (empty when none came); throws once QEMU is gone.
    func read(timeoutMs: Int64) throws -> [UInt8] {
        guard let bytes = output.read(timeoutMs: timeoutMs) else { throw StepErrorText("the machine closed its console") }
        return bytes
    }

    func write(_ bytes: [UInt8]) throws { try socket.write(bytes) }
}
