import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// `ssh`: an OpenSSH session into the machine with the user's key, checking
/// the host key recorded when the machine was built; `ssh -- CMD` runs one
/// command. Works on any backend that offers host.ssh/1.
let plugin = Plugin(name: "ssh", version: "1.0.0", steps: [
    Step("ssh", summary: "An SSH session into the machine (or `ssh -- CMD` for one command); changes are not kept",
         flags: [.transient, .interactive],
         parameters: [.rest("command", help: "a command to run instead of an interactive shell"),
                      .string("directory", default: "", flags: .namedOnly, help: "the directory the shell or command starts in")],
         needs: [HOST_SSH_V1]) { call in
        guard let arguments = try call.sshArguments() else {
            throw StepError("this machine's backend offers no SSH access (\(HOST_SSH_V1)); use the console step")
        }
        var command = call.list("command").joined(separator: " ")
        let ssh = try HostTool.path("ssh", package: "openssh-client")
        // A terminal for the shell only when there is one to give it.
        let terminal = command.isEmpty ? (isatty(0) == 1 ? ["-t"] : ["-T"]) : []
        let directory = call.string("directory")
        if !directory.isEmpty {
            // The user's login shell, as sshd would start it, only elsewhere.
            command = "cd \(ShellTransfer.quoted(directory)) && " + (command.isEmpty ? "exec \"${SHELL:-/bin/sh}\" -l" : command)
        }
        let (ending, interrupted) = try TerminalProgram.run(ssh, terminal + arguments + (command.isEmpty ? [] : ["--", command]))
        guard !interrupted else {
            call.setExitStatus(128 + SIGINT)
            throw StepError("interrupted (Ctrl-C); what ran is not kept")
        }
        call.setExitStatus(ending.status)
        switch ending {
        case .exited(255):
            throw StepError("ssh exited with status 255: it could not connect or lost the connection (its own message is above), or the command itself exited 255")
        case let .killed(signal):
            throw StepError("ssh was killed by signal \(signal) (\(String(cString: strsignal(signal))))")
        case .exited, .timedOut:
            return nil
        }
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
