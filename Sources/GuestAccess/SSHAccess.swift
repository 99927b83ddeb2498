import Foundation
import PluginKit
import PluginSupport

/// How host reaches a running guest's sshd: the user's key, the machine's
/// own known_hosts (its host key, recorded when it was built) with strict
/// checking, and the port forwarded on 127.0.0.1. One connection serves
/// the whole run: the first use opens an OpenSSH control master whose
/// socket lives in a private (0700) run directory, and every later
/// command, file transfer, `ssh` session and ansible run goes through it,
/// so the key exchange (slow under TCG) happens once per run.
public struct SSHAccess {
    public static let knownHostsFile = "known_hosts"
    /// The name the host key is recorded under: the forwarded port changes
    /// with every restore, the machine's identity does not.
    public static let alias = "host-machine"

    let identity: String
    let knownHosts: String
    let port: Int32
    let user: String
    let controlPath: String
    /// How to reach 127.0.0.1:`port` when it is another host's loopback (a
    /// remote hypervisor's): a ProxyCommand through that host. Empty: here.
    let via: [String]

    public init(identity: String, knownHosts: String, port: Int32, user: String, controlPath: String, via: [String] = []) {
        self.identity = identity
        self.knownHosts = knownHosts
        self.port = port
        self.user = user
        self.controlPath = controlPath
        self.via = via
    }

    private var options: [String] {
        ["-i", identity, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "HostKeyAlias=\(Self.alias)", "-o", "ConnectTimeout=10",
         "-o", "LogLevel=ERROR", "-o", "ControlPath=\(controlPath)"] + via
    }

    private var destination: [String] { ["-p", "\(port)", "\(user)@127.0.0.1"] }

    /// For clients of the run's connection (ssh takes the first value of
    /// each option, so these win over ansible's own ControlMaster=auto).
    public var arguments: [String] { options + ["-o", "ControlMaster=no"] + destination }

    /// Opens the run's connection. `-f` returns once logged in and leaves
    /// the master in the background; it ends with `close`, or by itself
    /// when QEMU (and with it the forwarded port) goes away, even when host
    /// was killed.
    public func open() throws {
        let (ending, output) = try HostTool.capture(
            "ssh", options + ["-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-o", "ServerAliveInterval=15",
                              "-f", "-N"] + destination, package: "openssh-client")
        guard ending == .exited(0) else {
            try judge(output)
            throw Unreachable(description: "ssh could not log in to the machine (status \(ending.status)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Ends the run's connection before the guest is saved, so no session of
    /// it is frozen into the snapshot.
    public func close() {
        _ = try? HostTool.capture("ssh", options + ["-O", "exit"] + destination, package: "openssh-client")
    }

    /// Runs `command` in the guest; output streams to `output`. Failures of
    /// SSH itself (not of the command) are errors that say which.
    func run(_ command: String, input: Data? = nil, output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        let (status, errors) = try SSHCommand.run(arguments, command, input: input, output: output)
        if status == 255 { try judge(errors) }
        return status
    }

    /// Turns what ssh printed when it failed into the error that says why.
    private func judge(_ errorText: String) throws {
        if errorText.contains("Host key verification failed") || errorText.contains("IDENTIFICATION HAS CHANGED") {
            throw StepError("refusing to connect: the machine's SSH host key is not the one recorded in \(knownHosts) when it was built; ssh said: \(errorText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        if errorText.contains("Connection refused") || errorText.contains("Connection reset")
            || errorText.contains("Connection timed out") || errorText.contains("closed by remote host") {
            throw Unreachable(description: "cannot reach the machine's SSH server: \(errorText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// The guest's sshd is not answering (yet): callers waiting for a boot retry.
    struct Unreachable: Error, CustomStringConvertible { let description: String }
}
