import Foundation

/// An flock(2) on a file, released when closed or when the process dies, so
/// a killed run never leaves a lock behind. Opened O_CLOEXEC so children
/// (QEMU, ssh) never inherit and prolong it.
final class FileLock {
    let path: String
    private let fd: Int32

    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HostError(.environment, "cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    enum Mode { case shared, exclusive }

    /// Takes the lock without waiting; false when another process holds it.
    func tryLock(_ mode: Mode) -> Bool {
        flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0
    }

    /// Takes the lock, waiting as long as it takes; `waiting` runs once
    /// before the wait so the user learns why nothing happens.
    func lock(_ mode: Mode, waiting: () -> Void = {}) {
        if tryLock(mode) { return }
        waiting()
        while flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) != 0 && errno == EINTR {}
    }

    func unlock() { flock(fd, LOCK_UN) }

    /// Records the holder for "waiting for PID n" messages.
    func writeOwner() {
        let text = "\(getpid())\n"
        ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    func owner() -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let pid = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return pid.isEmpty ? nil : pid
    }
}
