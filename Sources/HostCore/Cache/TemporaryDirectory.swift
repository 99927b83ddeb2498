import ChildProcess
import Foundation
import HostModel

/// A directory a machine is built or used in, under `machines/.tmp`, with a
/// sibling lock file held for as long as this run owns it. A run that dies
/// leaves the lock free, and the next run's sweep removes the directory:
/// the published cache is never touched by a dying run.
final class TemporaryDirectory {
    let url: URL
    private let lock: FileLock
    private var kept = false

    /// A fresh parent of mkdtemp's, removed with the machine when empty.
    private let ownParent: URL?

    init(in parent: URL, fresh: Bool = false) throws {
        // mkdir with mode 0700 itself, not createDirectory (mkdir, then
        // chmod): a run starting alongside must never see it still 0755.
        try? FileManager.default.createDirectory(at: parent.deletingLastPathComponent(), withIntermediateDirectories: true)
        var parent = parent
        if fresh {
            parent = try Self.fresh(parent.path + ".")
        } else {
            _ = mkdir(parent.path, 0o700)
        }
        ownParent = fresh ? parent : nil
        try Self.requirePrivate(parent)
        let name = UUID().uuidString.lowercased()
        lock = try FileLock.createLocked(parent.appendingPathComponent(name + ".lock").path)
        url = parent.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.appendingPathComponent("machine"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    var machineDirectory: URL { url.appendingPathComponent("machine") }

    /// A new directory `PREFIXxxxxxx` (mkdtemp): a name no one can make
    /// first, mode 0700.
    static func fresh(_ prefix: String) throws -> URL {
        var template = Array((prefix + "XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }) != nil else {
            throw HostError(.environment, "cannot make a private directory \(prefix)XXXXXX: \(SystemErrorText.meaning(of: errno, path: prefix))")
        }
        return URL(fileURLWithPath: String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// The transient parent may sit in a shared place (/dev/shm): refuse one
    /// that another user made first, or a symlink, rather than follow it.
    static func requirePrivate(_ directory: URL) throws {
        var info = stat()
        guard lstat(directory.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
              info.st_uid == getuid(), info.st_mode & 0o077 == 0
        else {
            throw HostError(.environment, "\(directory.path) is not a private directory of yours (owner, mode 0700, no symlink); remove it or set XDG_RUNTIME_DIR")
        }
    }

    /// The directory was renamed into the cache: nothing left to remove.
    func markPublished() { kept = true }

    deinit {
        if !kept { try? FileManager.default.removeItem(at: url) }
        try? FileManager.default.removeItem(atPath: lock.path)
        if let ownParent { rmdir(ownParent.path) } // fails while another run's machine is in it
    }
}
