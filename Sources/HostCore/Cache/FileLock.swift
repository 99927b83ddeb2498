import ChildProcess
import Foundation
import HostModel

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
            throw HostError(.environment, "cannot open lock file \(path): \(SystemErrorText.meaning(of: errno, path: path))")
        }
    }

    deinit { if !released { close(fd) } }

    enum Mode { case shared, exclusive }

    /// Sets the file's mtime to now: a use lock's mtime says when its entry
    /// was last used (`cleanup periodic` removes the least recently used).
    func touch() { futimens(fd, nil) }

    /// Takes the lock without waiting; false when another process holds it.
    func tryLock(_ mode: Mode) -> Bool {
        flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0
    }

    /// Takes the lock, waiting as long as it takes; `waiting` runs once
    /// before the wait so the user learns why nothing happens.
    func lock(_ mode: Mode, waiting: () -> Void = {}) throws {
        if tryLock(mode) { return }
        waiting()
        while flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw HostError(.environment, "cannot lock \(path): \(String(cString: strerror(errno))); keep the cache on a local filesystem (HOST_CACHE_DIR)")
            }
        }
    }

    /// Creates `path` already locked: the lock file is made and locked under
    /// a private name, then renamed into place, so no other run (a sweep)
    /// can ever see it unlocked.
    static func createLocked(_ path: String) throws -> FileLock {
        let partial = "\(path).\(getpid()).new"
        let lock = try FileLock(partial)
        guard lock.tryLock(.exclusive) else { throw HostError(.environment, "cannot lock the new file \(partial)") }
        guard rename(partial, path) == 0 else {
            throw HostError(.environment, "cannot create \(path): \(SystemErrorText.meaning(of: errno, path: path))")
        }
        return FileLock(fd: lock.release(), path: path)
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Hands the descriptor to a new owner (which keeps the lock held).
    private func release() -> Int32 {
        released = true
        return fd
    }
    private var released = false

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
