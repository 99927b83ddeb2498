import Foundation
import PluginKit

/// A new directory only this user can enter (mkdtemp: mode 0700, a name
/// nobody can guess or take first), for keys, sockets and other private
/// files of one run.
public enum PrivateDirectory {
    /// `PARENT/PREFIX-XXXXXX`, the parent being the temporary directory unless given.
    public static func make(_ prefix: String, in parent: URL = FileManager.default.temporaryDirectory) throws -> URL {
        var template = Array(parent.appendingPathComponent("\(prefix)-XXXXXX").path.utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ $0.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw StepError("cannot create a private directory in \(parent.path): \(String(cString: strerror(errno)))")
        }
        return URL(fileURLWithPath: String(cString: made))
    }

    /// `PREFIX-PID-XXXXXX` for this process's sockets, in the user's private
    /// runtime directory (short enough for socket paths), else /tmp. Those
    /// of processes that died without removing theirs (SIGKILL) go first.
    public static func forThisRun(_ prefix: String) throws -> URL {
        let parent = RuntimeDirectory.private() ?? URL(fileURLWithPath: "/tmp")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix + "-") {
            let parts = name.split(separator: "-")
            guard parts.count == 3, let pid = Int32(parts[1]), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
        }
        return try make("\(prefix)-\(getpid())", in: parent)
    }
}
