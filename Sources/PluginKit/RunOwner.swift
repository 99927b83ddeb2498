import Foundation

/// The host process that made something outside the cache, written into
/// its name or label as "PID-START" (START: the process's start time in
/// clock ticks since boot, from /proc/PID/stat), so that a sweep spares
/// what a running host made and a later process that reuses the PID is
/// not taken for it (host_sweep.h).
public enum RunOwner {
    /// This process.
    public static let current = token(of: getpid()) ?? "\(getpid())-0"

    /// Whether the process `token` names still runs.
    public static func isRunning(_ token: String) -> Bool {
        let parts = token.split(separator: "-")
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0 else { return false }
        return Self.token(of: pid, living: true) == token
    }

    /// `living`: nil for a process that has ended and not been waited for (a zombie).
    private static func token(of pid: pid_t, living: Bool = false) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.range(of: ")", options: .backwards) else { return nil }
        // After the command name in parentheses: state is field 3, starttime field 22.
        let fields = stat[end.upperBound...].split(separator: " ")
        guard fields.count > 19, !(living && fields[0] == "Z") else { return nil }
        return "\(pid)-\(fields[19])"
    }
}
