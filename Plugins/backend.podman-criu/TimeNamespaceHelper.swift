import Foundation
import PluginKit

/// host-timens (Sources/TimeNamespaceHelper), which commands in a restored
/// container run through so that they join its time namespace.
enum TimeNamespaceHelper {
    static let pathInContainer = "/run/host-timens"

    /// The static helper built with host: beside the host executable (a
    /// build directory), or in PREFIX/lib/host, where scripts/setup installs it.
    static func binary() throws -> String {
        let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [bin.appendingPathComponent("host-timens"), bin.appendingPathComponent("../lib/host/host-timens").standardizedFileURL]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw StepError("host-timens, which commands in a restored container run through, is in neither \(candidates.map(\.path).joined(separator: " nor ")); run scripts/setup again")
        }
        return found.path
    }

    /// Size and mtime: a rebuilt helper differs.
    static func stamp(of path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "missing" }
        return "\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }
}
