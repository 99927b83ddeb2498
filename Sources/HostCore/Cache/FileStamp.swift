import Glibc

/// A regular file's identity without reading it: device, inode, size and
/// the nanosecond modification and change times, as make and git's index
/// use them. Writing a file's bytes moves its change time, which no user
/// can set back, so an unchanged stamp means unchanged bytes and a warm run
/// need not hash a kernel of megabytes to know its dependency still holds.
enum FileStamp {
    /// nil for anything but a regular file (a directory is hashed every
    /// time: a stamp of the directory would miss a change deep inside it).
    static func of(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino), UInt64(info.st_size),
                UInt64(info.st_mtim.tv_sec), UInt64(info.st_mtim.tv_nsec),
                UInt64(info.st_ctim.tv_sec), UInt64(info.st_ctim.tv_nsec)].map(String.init).joined(separator: ":")
    }
}
