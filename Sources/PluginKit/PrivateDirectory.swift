import Foundation

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
}
