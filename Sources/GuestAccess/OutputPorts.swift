import Foundation

/// A guest's virtio-serial ports host.stdout and host.stderr, which carry a
/// command's output apart from its console at virtio speed (a serial
/// console moves tens of kilobytes a second under emulation), byte for
/// byte, and each stream on its own.
public struct OutputPorts {
    /// Their names in the guest (/sys/class/virtio-ports/*/name).
    public static let names = ["host.stdout", "host.stderr"]

    public let stdout: ByteChannel
    public let stderr: ByteChannel

    public init(stdout: ByteChannel, stderr: ByteChannel) {
        self.stdout = stdout
        self.stderr = stderr
    }

    /// A relay per stream: stdout as stream 1, stderr as 2.
    func relays(opened: Bool) -> [PortRelay] {
        [PortRelay(stream: 1, port: stdout, started: opened), PortRelay(stream: 2, port: stderr, started: opened)]
    }
}

/// One of a command's streams on its port, from a start marker (unless the
/// stream is known to start with the command) up to an end marker. What
/// came before the start is output of an earlier command's leftovers (a
/// process it left running), and is dropped.
struct PortRelay {
    let stream: Int32
    let port: ByteChannel
    var started: Bool
    var pending: [UInt8] = []
    var ended = false

    /// Hands `output` what arrived, holding back what may be the marker's
    /// start; says whether anything did.
    mutating func take(timeoutMs: Int64, marker: [UInt8], _ output: (Int32, [UInt8]) -> Void) throws -> Bool {
        let arrived = try port.read(timeoutMs: timeoutMs)
        pending += arrived
        if !started {
            guard let start = pending.firstRange(of: marker) else {
                pending.removeFirst(max(0, pending.count - marker.count))
                return !arrived.isEmpty
            }
            started = true
            pending.removeFirst(start.upperBound)
        }
        if let end = pending.firstRange(of: marker) {
            output(stream, Array(pending[..<end.lowerBound]))
            pending = []
            ended = true
        } else if pending.count > marker.count {
            output(stream, Array(pending[..<(pending.count - marker.count)]))
            pending.removeFirst(pending.count - marker.count)
        }
        return !arrived.isEmpty
    }
}
