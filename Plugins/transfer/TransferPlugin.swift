import Foundation
import PluginKit

/// `upload SRC DST` and `download SRC DST`: files and directories between
/// host and machine, on any backend. An uploaded file or tree enters the
/// cache key by its content (a path parameter): change it, or run in a
/// folder where the same name holds something else, and the upload runs again.
let plugin = Plugin(name: "transfer", version: "1.0.0", steps: [
    Step("upload", summary: "Copy a host file or directory into the machine (re-run when it changes)",
         parameters: [.path("source", help: "host file or directory"), .string("destination", help: "path in the machine")]) { call in
        try call.upload(call.string("source"), to: call.string("destination"))
        return call.machine
    },
    Step("download", summary: "Copy a file or directory from the machine to the host",
         flags: .transient,
         parameters: [.string("source", help: "path in the machine"), .string("destination", help: "host path"),
                      .bool("force", flags: .namedOnly, help: "overwrite the host path when it exists")]) { call in
        let destination = call.string("destination")
        if !call.bool("force"), FileManager.default.fileExists(atPath: destination) {
            throw StepError.usage("\(destination) exists already; remove it or pass --force to overwrite it")
        }
        try call.download(call.string("source"), to: destination)
        return nil
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
