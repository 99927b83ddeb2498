import ChildProcess
import HostModel

/// A program host itself runs (zstd, skopeo, ssh-keygen), or an error that
/// names the Debian package to install.
enum RequiredTool {
    static func path(_ name: String, package: String) throws -> String {
        do { return try Command.find(name, package: package) } catch { throw HostError(.environment, "\(error)") }
    }
}
