import Foundation
import PluginKit

/// One command on a machine through ssh(1), its output streamed apart.
public enum SSHCommand {
    /// Runs `ssh ARGUMENTS -- COMMAND`, `input` as its standard input (read
    /// from a private temporary file); each chunk of output goes to
    /// `output` (stream 1 or 2) as it comes. Returns the status and the end
    /// of what came on standard error, by which a caller tells ssh's own
    /// failures (status 255) from the command's.
    public static func run(_ arguments: [String], _ command: String, input: Data? = nil,
                           output: (Int32, [UInt8]) -> Void) throws -> (status: Int32, errors: String) {
        var ssh = Command(try HostTool.path("ssh", package: "openssh-client"), arguments + ["--", command])
        let staged = FileManager.default.temporaryDirectory.appendingPathComponent("host-input-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: staged) }
        if let input {
            guard FileManager.default.createFile(atPath: staged.path, contents: input, attributes: [.posixPermissions: 0o600]) else {
                throw StepError("cannot write \(staged.path) (is the temporary directory full?)")
            }
            ssh.input = .file(staged.path)
        }
        ssh.output = .pipe
        ssh.error = .pipe
        var errors: [UInt8] = []
        let ending = try ssh.run { stream, bytes in
            if stream == 2 { errors = Array((errors + bytes).suffix(2000)) }
            output(stream, bytes)
        }
        return (ending.status, String(decoding: errors, as: UTF8.self))
    }
}
