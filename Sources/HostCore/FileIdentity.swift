import Foundation

/// Which file a path names, as far as host can tell without reading it:
/// device, inode, size, and both mtime and ctime (`cp -p` and `tar x` keep
/// the mtime of a replaced file, not its ctime).
struct FileIdentity: Codable, Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modified: Int64
    let changed: Int64

    init(device: UInt64, inode: UInt64, size: Int64, modified: Int64, changed: Int64) {
        (self.device, self.inode, self.size, self.modified, self.changed) = (device, inode, size, modified, changed)
    }

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }

    /// A regular file's identity as one word, for the digests memo
    /// (CACHE/digests.json) and a manifest dependency's `stamp`: writing a
    /// file's bytes moves its change time, which no user can set back, so
    /// an unchanged stamp means unchanged bytes, as make and git's index
    /// take it, and a warm run need not hash a kernel of megabytes again.
    /// nil for anything but a regular file (a directory is hashed every
    /// time: its stamp would miss a change deep inside it).
    static func stamp(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino), UInt64(info.st_size),
                UInt64(info.st_mtim.tv_sec), UInt64(info.st_mtim.tv_nsec),
                UInt64(info.st_ctim.tv_sec), UInt64(info.st_ctim.tv_nsec)].map(String.init).joined(separator: ":")
    }
}
