import Foundation
import PluginKit
import PluginSupport

/// A run's one OpenSSH connection to an existing machine: a control master
/// that host starts as its own child (so it ends with host, even when host
/// is killed), its socket in a private (0700) directory of host's. Every
/// command, file transfer, `ssh` session and ansible run of the pipeline
/// goes through it, so a pipeline of ten steps logs in once.
final class SSHConnection {
    let target: SSHTarget
    let directory: URL
    private var master: RunningChild?

    init(target: SSHTarget, directory: URL) {
        self.target = target
        self.directory = directory
    }

    private var controlPath: String { directory.appendingPathComponent("control.sock").path }
    private var log: URL { directory.appendingPathComponent("master.log") }

    /// For every client of the connection: never a master of its own, and
    /// never a connection of its own either (ProxyCommand=false), which ssh
    /// would fall back to when the master ends while the client starts: a
    /// client that outlived host. ssh keeps the first value of each option,
    /// so these win over ansible's and the user's (ProxyJump included).
    var arguments: [String] {
        ["-o", "ControlMaster=no", "-o", "ControlPath=\(controlPath)", "-o", "ProxyCommand=false"] + target.options + target.destination
    }

    /// Logs in, once; errors say what failed (the host key above all).
    func open() throws {
        if let master, master.isRunning { return }
        var command = Command(try HostTool.path("ssh", package: "openssh-client"),
                              target.options + ["-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o", "ControlPath=\(controlPath)",
                                                "-o", "ServerAliveInterval=15", "-N"] + target.destination)
        command.output = .file(log.path)
        command.ownSession = true // Ctrl-C reaches host, which ends the connection itself
        command.diesWithHost = true
        let started = try command.start()
        master = started
        // The socket appears once logged in; ConnectTimeout bounds the
        // connection, and this the login after it.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: controlPath) {
            guard started.isRunning else {
                let ending = started.wait()
                master = nil
                throw failure(of: "ssh could not log in (status \(ending.status))")
            }
            guard Date() < deadline else {
                close()
                throw StepError("ssh did not log in to \(target.name) within 60 s")
            }
            usleep(5_000)
        }
    }

    /// The error for what ssh printed when it failed.
    private func failure(of what: String) -> StepError {
        let said = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return Self.failure(said, what: what, target: target)
    }

    static func failure(_ said: String, what: String, target: SSHTarget) -> StepError {
        if let refusal = PresentedKey.refusal(in: said, of: target) { return StepError(refusal) }
        if said.contains("Permission denied") {
            return StepError("\(target.name) refused the login: ssh said \"\(said)\". Check --user (the account must exist there) and that its authorized_keys has your key (--identity, or your ssh-agent and ~/.ssh/config)")
        }
        return StepError("cannot reach \(target.name): \(what): \(said)")
    }

    /// Runs `command` on the machine (with its login shell, as sshd does);
    /// output streams to `output`, apart; `input` is its standard input.
    func run(_ command: String, input: Data? = nil, output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        try open()
        let (status, errors) = try SSHCommand.run(["-T"] + arguments, command, input: input, output: output)
        // 255 is ssh's own failure, or the command's status: the first only
        // when the connection is gone.
        if status == 255, master?.isRunning != true {
            throw Self.failure(errors, what: "the connection was lost", target: target)
        }
        return status
    }

    /// Ends the connection and removes its directory.
    func close() {
        master?.stop(grace: 2)
        master = nil
        try? FileManager.default.removeItem(at: directory)
    }
}
