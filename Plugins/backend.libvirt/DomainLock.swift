import Foundation
import PluginKit

/// libvirt runs one copy of a saved domain at a time, under the name it was
/// saved with: a second run of host that restores the same machine (or one
/// built on it, which keeps its name) must wait until the first one's
/// domain has ended. Runs of the cache wait on an flock of a file named
/// after the domain in the cache (`backend.libvirt/domains/NAME.lock`; a
/// domain's name is made for one machine of one cache, and the machines
/// built on it), held from before the restore until the domain ends,
/// saying whom they wait for; up to a deadline, as a run that waits for a
/// lock of host's while it holds this one would otherwise wait forever.
/// (Runs elsewhere are waited for by retrying the restore: Hypervisor.restore.)
final class DomainLock {
    /// How long a run waits for another one's domain.
    static let patience: TimeInterval = 600

    private let fd: Int32
    private let name: String

    /// The domains whose lock this process holds: a second lock of its own
    /// would wait for itself.
    nonisolated(unsafe) private static var held: Set<String> = []

    private init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Waits until no other run of the cache holds the domain `name`,
    /// telling `log` once whom it waits for. nil when this process holds
    /// it already (libvirt then refuses the second restore, as it should)
    /// or the lock file cannot be made (the restore's retries remain).
    static func acquire(_ name: String, log: (String) -> Void) throws -> DomainLock? {
        guard !held.contains(name) else { return nil }
        let directory = URL(fileURLWithPath: LibvirtSweep.cacheDirectory).appendingPathComponent("backend.libvirt/domains")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name + ".lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        let deadline = Date().addingTimeInterval(patience)
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(fd)
                return nil
            }
            let holder = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard Date() < deadline else {
                close(fd)
                throw StepError("the saved machine's domain \(name) still runs in another run of host (pid \(holder.isEmpty ? "?" : holder)) after \(Int(patience / 60)) minutes; libvirt runs one copy of a saved domain at a time: wait for that run to end, or use backend.qemu for copies side by side")
            }
            if !told {
                log("waiting for another run of host (pid \(holder.isEmpty ? "?" : holder)) that runs the domain \(name): libvirt runs one copy of a saved domain at a time")
                told = true
            }
            usleep(100_000)
        }
        // Whom a waiting run names.
        ftruncate(fd, 0)
        _ = "\(getpid())\n".withCString { pwrite(fd, $0, strlen($0), 0) }
        held.insert(name)
        return DomainLock(fd: fd, name: name)
    }

    /// Dropped once the domain has ended: the next run may restore it.
    deinit {
        Self.held.remove(name)
        close(fd)
    }
}
