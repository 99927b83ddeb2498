import Foundation

/// Facts about host processes from /proc: a machine's processes, whether
/// they still run, and their memory, for named machines.
public enum ProcessTree {
    /// Whether `pid` runs (a zombie has ended).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let fields = statFields(pid) else { return false }
        return fields[0] != "Z" && fields[0] != "X"
    }

    /// `pids` and every process below them.
    static func withDescendants(_ pids: [Int32]) -> [Int32] {
        var parents: [Int32: Int32] = [:]
        for pid in allPIDs() { if let fields = statFields(pid), let parent = Int32(fields[1]) { parents[pid] = parent } }
        var found = Set(pids.filter(isAlive))
        var grew = true
        while grew {
            grew = false
            for (pid, parent) in parents where found.contains(parent) && found.insert(pid).inserted { grew = true }
        }
        return found.sorted()
    }

    /// Resident and proportional set sizes in bytes, summed over `pids`
    /// (PSS shares each page among the processes mapping it, so ten
    /// machines restored from one file are not counted ten times).
    public static func memory(of pids: [Int32]) -> (rss: Int64, pss: Int64) {
        var rss: Int64 = 0, pss: Int64 = 0
        for pid in withDescendants(pids) {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let kilobytes = Int64(parts[1]) else { continue }
                if parts[0] == "Rss:" { rss += kilobytes * 1024 }
                if parts[0] == "Pss:" { pss += kilobytes * 1024 }
            }
        }
        return (rss, pss)
    }

    private static func allPIDs() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    }

    /// /proc/PID/stat after the command name: state, ppid, ...
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.range(of: ")", options: .backwards) else { return nil }
        let fields = stat[end.upperBound...].split(separator: " ")
        return fields.count > 2 ? fields : nil
    }
}
