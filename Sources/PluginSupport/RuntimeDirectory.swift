import Foundation
import PluginKit

/// A per-user 0700 directory for facts worth keeping until the host reboots
/// (probe results): `$XDG_RUNTIME_DIR`, else /tmp/host-UID.
public enum RuntimeDirectory {
    /// nil when the one in /tmp is not private (another user made it
    /// first); then nothing is kept.
    public static func `private`() -> URL? {
        let base = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: "/tmp/host-\(getuid())")
        // mkdir with mode 0700 itself, not createDirectory (mkdir, then
        // chmod): a run starting alongside must never see it still 0755.
        try? FileManager.default.createDirectory(at: base.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = mkdir(base.path, 0o700)
        var info = stat()
        guard lstat(base.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == getuid(),
              info.st_mode & 0o077 == 0 else { return nil }
        return base
    }

    /// This boot of the host, for memos that a reboot must invalidate.
    public static var bootID: String {
        ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "unknown")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
