import Foundation
import PluginABI
import PluginKit

/// `ssh`: an OpenSSH session into the machine with the user's key, checking
/// the host key recorded when the machine was built; `ssh -- CMD` runs one
/// command. Works on any backend that offers host.ssh/1.
let plugin = Plugin(name: "ssh", version: "1.0.0", steps: [
    Step("ssh", summary: "An SSH session into the machine (or `ssh -- CMD` for one command); changes are not kept",
         flags: [.transient, .interactive],
         parameters: [.rest("command", help: "a command to run instead of an interactive shell")]) { call in
        guard let arguments = try call.sshArguments() else {
            throw StepError("this machine's backend offers no SSH access (\(HOST_SSH_V1)); use the console step")
        }
        let command = call.list("command")
        guard let ssh = ["/usr/bin/ssh", "/bin/ssh"].first(where: FileManager.default.isExecutableFile) else {
            throw StepError("ssh is not installed; install the Debian package openssh-client")
        }
        let process = Process() // inherits host's terminal
        process.executableURL = URL(fileURLWithPath: ssh)
        process.arguments = command.isEmpty ? ["-t"] + arguments : arguments + ["--", command.joined(separator: " ")]
        try process.run()
        process.waitUntilExit()
        call.setExitStatus(process.terminationStatus)
        if process.terminationStatus == 255 {
            throw StepError("ssh could not connect or was refused (status 255; its own message is above)")
        }
        return nil
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
