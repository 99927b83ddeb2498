import PluginKit

let plugin = Plugin(name: "hello_swift", version: "1.0.0", steps: [
    Step("hello_swift.greet", summary: "Write a greeting into hello_swift.txt in the machine",
         parameters: [.string("name", default: "world", help: "who to greet")]) { call in
        try call.run("echo 'Hello from Swift, \(call.string("name"))!' > hello_swift.txt")
        return call.machine // keep the change: host caches the result
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
