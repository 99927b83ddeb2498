import PluginKit

/// `exec CMD...`: runs a command in the machine on any backend. Transient
/// when last, so `host X + exec CMD` runs CMD every time and keeps nothing,
/// while `host X + exec 'touch /x' + exec 'test -e /x'` caches the first.
let plugin = Plugin(name: "exec", version: "1.0.0", steps: [
    Step("exec", summary: "Run a shell command in the machine, print its output and exit with its status",
         flags: .transientWhenLast,
         parameters: [.rest("command", required: true, help: "the command; several words are joined with spaces and run by /bin/sh -c")]) { call in
        let command = call.list("command").joined(separator: " ")
        let result = try call.exec(command, stream: true)
        call.setExitStatus(result.status)
        guard result.status == 0 else {
            throw StepError("`\(command)` exited with status \(result.status)")
        }
        return call.machine
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
