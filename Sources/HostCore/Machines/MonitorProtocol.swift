import Foundation
import HostModel

/// What host and a machine's monitor say over its Unix socket. Each message
/// is a frame: one byte of kind, four of length (big-endian), the payload.
/// A connection carries one request: a `request` frame (JSON), then for
/// `exec -i` input frames and an end of input; the monitor answers with
/// output frames and one `answer` (JSON), or, for `console`, streams both
/// ways until either side closes.
///
/// Versioned: every request names the protocol version it was written for,
/// and a monitor answers every version it knows. A newer host talking to an
/// older monitor gets an answer saying which version that monitor speaks,
/// so it can say exactly why it cannot do something; `stop` and `rm` are
/// in version 1 and stay in every later one.
public enum MonitorProtocol {
    public static let version = 1

    enum Kind: UInt8 {
        case request = 0x71   // q
        case input = 0x69     // i
        case endOfInput = 0x65 // e
        case stdout = 0x6f    // o
        case stderr = 0x72    // r
        case answer = 0x61    // a
    }

    struct Request: Codable {
        enum Operation: String, Codable {
            case hello, exec, upload, download, ssh, console, stop, rm
        }
        var protocolVersion = MonitorProtocol.version
        let operation: Operation
        var command: String?
        /// exec: standard input follows as input frames.
        var input = false
        var local: String?
        var remote: String?
    }

    struct Answer: Codable {
        var ok = true
        var error: String?
        /// The error is the user's (exit 64).
        var usage = false
        var exitStatus: Int32?
        var sshArguments: [String]?
        var savedEntry: String?
        var protocolVersion = MonitorProtocol.version
        var pid: Int32?

        static func failure(_ error: HostError) -> Answer {
            Answer(ok: false, error: error.message, usage: error.kind == .usage)
        }
    }
}

/// One end of a monitor connection: frames over a stream socket.
final class MonitorConnection {
    let fd: Int32
    private var closed = false

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    /// The monitor at `path`; nil when nothing listens there.
    static func connect(_ path: String) -> MonitorConnection? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = UnixAddress(path)
        let result = withUnsafePointer(to: &address.raw) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            return nil
        }
        return MonitorConnection(fd: fd)
    }

    func send(_ kind: MonitorProtocol.Kind, _ payload: some Collection<UInt8>) -> Bool {
        let length = UInt32(payload.count)
        var frame: [UInt8] = [kind.rawValue, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        frame.append(contentsOf: payload)
        return writeAll(frame)
    }

    func send<T: Encodable>(_ kind: MonitorProtocol.Kind, json value: T) -> Bool {
        // The protocol's types hold strings, numbers and flags only, which always encode.
        guard let data = try? JSONEncoder().encode(value) else { return false }
        return send(kind, [UInt8](data))
    }

    /// The next frame; nil at the end of the stream or on a malformed one.
    func receive() -> (MonitorProtocol.Kind, [UInt8])? {
        guard let header = readExactly(5), let kind = MonitorProtocol.Kind(rawValue: header[0]) else { return nil }
        let length = Int(header[1]) << 24 | Int(header[2]) << 16 | Int(header[3]) << 8 | Int(header[4])
        guard length <= 64 << 20, let payload = readExactly(length) else { return nil }
        return (kind, payload)
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    private func readExactly(_ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = buffer[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            offset += got
        }
        return buffer
    }
}

/// A sockaddr_un for `path` (at most 107 bytes: the names are kept short).
struct UnixAddress {
    var raw = sockaddr_un()

    init(_ path: String) {
        raw.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &raw.sun_path) { buffer in
            let bytes = Array(path.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
    }
}
