import Foundation

/// A connected Unix stream socket (QMP, the serial console) with reads that
/// wait at most a given time.
final class UnixSocket {
    private let fd: Int32

    /// Connects, retrying until `timeout`: QEMU creates its sockets a moment
    /// after it starts.
    init(path: String, timeout: TimeInterval, alive: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw StepErrorText("socket(): \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(fd)
                throw StepErrorText("socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if connected == 0 {
                self.fd = fd
                return
            }
            close(fd)
            guard alive(), Date() < deadline else { throw StepErrorText("could not connect to \(path)") }
            usleep(1_000) // QEMU makes its sockets within tens of milliseconds of starting
        }
    }

    deinit { close(fd) }

    /// Writes all of `bytes`, failing when the other side takes none of
    /// them for `stallMs` (a guest that stopped reading its port).
    func write(_ bytes: [UInt8], stallMs: Int32 = 30_000) throws {
        var offset = 0
        while offset < bytes.count {
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, stallMs)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw StepErrorText(ready == 0 ? "the machine took no input for \(stallMs / 1000) s" : "poll(): \(String(cString: strerror(errno)))")
            }
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if written < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard written > 0 else { throw StepErrorText("write to the machine failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Bytes that arrive within `timeoutMs` (empty when none did); throws
    /// when the other side closed.
    func read(timeoutMs: Int64, max: Int = 65536) throws -> [UInt8] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(clamping: timeoutMs))
        if ready < 0 && errno == EINTR { return [] }
        guard ready > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: max)
        let count = recv(fd, &buffer, max, 0)
        guard count > 0 else { throw StepErrorText("the machine closed its \(count == 0 ? "connection" : "socket")") }
        return Array(buffer.prefix(count))
    }
}

/// An error with a message, for code that runs below PluginKit's StepError.
struct StepErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
