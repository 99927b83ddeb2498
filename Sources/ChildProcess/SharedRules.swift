import Foundation

/// What host and its plugins must agree on, kept here, in the one module
/// both build on, so that each exists once: where the cache is, and
/// whether a pid file still names the program that wrote it.
public enum SharedRules {
    /// The cache's root: `$HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/host`,
    /// else `~/.cache/host`.
    public static func cacheRoot(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["HOST_CACHE_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("host")
    }

    /// The pid `file` holds when that process runs and is `program` (its
    /// /proc comm), not another that reused the pid; else nil.
    public static func runningPid(in file: URL, program: String) -> pid_t? {
        guard let text = try? String(contentsOf: file, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 0, kill(pid, 0) == 0 else { return nil }
        let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        return name.hasPrefix(program) ? pid : nil
    }
}
