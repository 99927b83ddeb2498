import Foundation
import PluginKit

/// Finds a criu that works on this kernel. Debian 12's criu fails `criu
/// check` on newer kernels; scripts/setup then installs Debian 13's into
/// PREFIX/lib/host/criu with a wrapper in its bin/. HOST_CRIU names one
/// explicitly (a path, or "none" to use none).
enum CRIU {
    static func find(override: String) -> (directory: String?, problem: String?) {
        guard getuid() == 0 else { return (nil, "checkpointing containers needs root") }
        var candidates: [String] = []
        if !override.isEmpty {
            candidates = override == "none" ? [] : [override]
        } else {
            // Beside host's plugins: PREFIX/bin/host -> PREFIX/lib/host/criu.
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            candidates.append(executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib/host/criu/bin/criu").path)
            // The account's home, not $HOME: where scripts/setup put it.
            if let account = getpwuid(getuid()), let home = account.pointee.pw_dir {
                candidates.append(String(cString: home) + "/.local/lib/host/criu/bin/criu")
            }
            candidates += ["/usr/local/lib/host/criu/bin/criu", "/usr/local/sbin/criu", "/usr/sbin/criu", "/sbin/criu"]
        }
        var problems: [String] = []
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            guard let check = try? Command(candidate, ["check"]).capture() else { continue }
            if check.ending == .exited(0) { return (URL(fileURLWithPath: candidate).deletingLastPathComponent().path, nil) }
            problems.append("\(candidate) check: \(check.output.split(separator: "\n").first ?? "failed")")
        }
        if override == "none" { return (nil, "HOST_CRIU=none") }
        return (nil, problems.isEmpty ? "no criu is installed (scripts/setup installs one)" : problems.joined(separator: "; "))
    }
}
