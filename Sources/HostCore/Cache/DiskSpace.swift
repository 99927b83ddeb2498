import Foundation
import HostModel

/// A save that failed because the disk is full, over quota or read-only is
/// said so, with the place and what to do, whatever operation inside it
/// failed.
enum DiskSpace {
    static func naming<T>(_ location: CacheLocation, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw explained(error, location) ?? error
        }
    }

    private static func explained(_ error: any Error, _ location: CacheLocation) -> HostError? {
        let text = String(describing: error)
        var info = statvfs()
        let free = statvfs(location.root.path, &info) == 0 ? Int64(info.f_bavail) * Int64(info.f_frsize) : Int64.max
        let readOnly = statvfs(location.root.path, &info) == 0 && info.f_flag & UInt(ST_RDONLY) != 0
        if readOnly || text.contains("Read-only file system") {
            return HostError(.environment, "the disk holding \(location.root.path) is read-only: nothing was saved; remount it writable or set HOST_CACHE_DIR")
        }
        let full = text.contains("No space left") || text.contains("ENOSPC") || text.contains("Disk quota exceeded")
        // A write that died (a broken pipe to zstd, say) on a disk with next to no room left is the same failure.
        guard full || free < 64 << 20 else { return nil }
        return HostError(.environment, "the disk holding \(location.root.path) is full (\(free >> 20) MiB free): nothing was saved; free space or set HOST_CACHE_DIR")
    }
}
