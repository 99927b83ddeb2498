import Foundation
import PluginKit

/// How host reaches a running guest's sshd: the user's key, the machine's
/// own known_hosts (its host key, recorded when it was built) with strict
/// checking, and the port forwarded on 127.0.0.1.
struct SSHAccess {
    static let knownHostsFile = "known_hosts"
    /// The name the host key is recorded under: the forwarded port changes
    /// with every restore, the machine's identity does not.
    static let alias = "host-machine"

    let identity: String
    let knownHosts: String
    let port: Int32
    let user: String

    var arguments: [String] {
        ["-i", identity, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "HostKeyAlias=\(Self.alias)", "-o", "ConnectTimeout=10",
         "-o", "LogLevel=ERROR", "-p", "\(port)", "\(user)@127.0.0.1"]
    }

    /// Runs `command` in the guest; output streams to `output`. Failures of
    /// SSH itself (not of the command) are errors that say which.
    func run(_ command: String, input: URL? = nil, output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        let result = try Streamer.run(try Tool.path("ssh"), arguments + ["--", command], input: input, output: output)
        if result.status == 255 {
            if result.errorText.contains("Host key verification failed") || result.errorText.contains("IDENTIFICATION HAS CHANGED") {
                throw StepErrorText("refusing to connect: the machine's SSH host key is not the one recorded in \(knownHosts) when it was built")
            }
            if result.errorText.contains("Connection refused") || result.errorText.contains("Connection reset")
                || result.errorText.contains("Connection timed out") || result.errorText.contains("closed by remote host") {
                throw Unreachable(description: "cannot reach the machine's SSH server: \(result.errorText.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        return result.status
    }

    /// The guest's sshd is not answering (yet): callers waiting for a boot retry.
    struct Unreachable: Error, CustomStringConvertible { let description: String }
}
