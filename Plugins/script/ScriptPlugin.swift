import Foundation
import PluginKit

/// `script.run FILE` uploads a host script into the machine and runs it;
/// the script's content is part of the cache key (a path parameter). Transient when last, as in
/// fingertip: re-running a script being debugged does not fill the disk,
/// while `+ script.run x + ssh` keeps the result to inspect.
/// `script.test FILE` runs one and makes host exit with its status.

/// The script a step was given, as a file URL; a usage error when it is
/// not a file.
func scriptFile(_ path: String) throws -> URL {
    let local = URL(fileURLWithPath: path).standardizedFileURL
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: local.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw StepError.usage("\(path) is not a file; give the path of a script on this computer")
    }
    return local
}

/// Uploads `path` and runs it, streaming its output; returns its status.
func runScript(_ call: StepCall, _ path: String) throws -> Int32 {
    let local = try scriptFile(path)
    let remote = "/tmp/host-script-\(UUID().uuidString.prefix(8))-\(local.lastPathComponent.filter { $0.isLetter || $0.isNumber || ".-_".contains($0) })"
    try call.upload(local.path, to: remote)
    // A script without #! runs under /bin/sh, as the shell does on ENOEXEC.
    // Removed afterwards, so the saved machine does not keep a copy.
    return try call.exec("chmod 0755 '\(remote)' && '\(remote)'; s=$?; rm -f '\(remote)'; exit $s", stream: true).status
}

let plugin = Plugin(name: "script", version: "1.0.0", steps: [
    Step("script.run", summary: "Upload a script and run it in the machine (re-run when the script changes)",
         flags: .transientWhenLast,
         parameters: [.path("file", help: "the script on the host")]) { call in
        let status = try runScript(call, call.string("file"))
        guard status == 0 else { throw StepError("\(call.string("file")) exited with status \(status)") }
        return call.machine
    },
    Step("script.test", summary: "Run a script in the machine; host exits with its status",
         flags: .transient,
         parameters: [.path("file", help: "the script on the host")]) { call in
        let status = try runScript(call, call.string("file"))
        call.setExitStatus(status)
        guard status == 0 else { throw StepError("\(call.string("file")) exited with status \(status)") }
        return nil
    },
    Step("script.debug", summary: "Run a script command by command in one shell, checkpointing the machine; an edited script goes on from its first change",
         parameters: [
            .path("file", help: "the script on the host"),
            .double("every", default: 2, range: 0...86400, flags: .namedOnly, help: "seconds a command must take for the machine to be checkpointed after it"),
            .bool("watch", flags: .namedOnly, help: "run again from the first changed line whenever the script is saved, until Ctrl-C"),
         ]) { call in
        try ScriptDebugger(call: call, path: call.string("file"), every: call.double("every")).run(watch: call.bool("watch"))
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
