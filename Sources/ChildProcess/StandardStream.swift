import Glibc

/// Writes to host's own standard output and error. A reader that went away
/// (`host ... | head -1`) is a normal end, as for `seq` in a shell
/// pipeline: the process ends by SIGPIPE (status 141), printing nothing
/// more, with nothing published (as at Ctrl-C: machines die with host and
/// the next run sweeps what this one was building). host ignores SIGPIPE
/// for its sockets and pipes to QEMU, so EPIPE is checked here, on the two
/// descriptors where it means exactly that; Foundation's FileHandle.write
/// would trap on it instead.
public enum StandardStream: Int32, Sendable {
    case output = 1, error = 2

    public func write(_ bytes: some Collection<UInt8>) {
        var pending = Array(bytes)[...]
        while !pending.isEmpty {
            let written = pending.withUnsafeBytes { Glibc.write(rawValue, $0.baseAddress, $0.count) }
            if written > 0 {
                pending = pending.dropFirst(written)
            } else if errno == EPIPE {
                signal(SIGPIPE, SIG_DFL)
                raise(SIGPIPE)
                _exit(128 + SIGPIPE) // not reached: SIGPIPE ends the process
            } else if errno != EINTR && errno != EAGAIN {
                return // a full disk or a revoked terminal: the message is lost, the run goes on
            }
        }
    }

    public func write(_ text: String) { write(Array(text.utf8)) }
}
