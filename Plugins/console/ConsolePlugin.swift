import Foundation
import PluginKit
import PluginSupport

/// `console`: the machine's serial console on this terminal, raw, until
/// Ctrl-] (or the end of standard input when it is not a terminal).
/// Transient: what is done there is not kept.
let detachKey: UInt8 = 0x1d // Ctrl-]

let plugin = Plugin(name: "console", version: "1.0.0", steps: [
    Step("console", summary: "The machine's serial console on this terminal; Ctrl-] detaches; changes are not kept",
         flags: [.transient, .interactive],
         parameters: [.string("directory", default: "", flags: .namedOnly,
                              help: "a directory to change to first (typed as `cd DIR` on the console's shell)")]) { call in
        try call.start()
        // A fresh prompt, after the cd when asked; fails first on a machine with no console.
        let directory = call.string("directory")
        try call.consoleSend(directory.isEmpty ? "\n" : "cd \(ShellTransfer.quoted(directory))\n")
        StandardStream.error.write("host: connected to the serial console; press Ctrl-] to detach (changes are not kept)\r\n")
        let terminal = TerminalMode.save()
        terminal?.makeRaw()
        defer {
            terminal?.restore()
            StandardStream.error.write("\r\nhost: detached from the console\n")
        }
        var input = [UInt8](repeating: 0, count: 1024)
        var inputOpen = true
        while true {
            let output = try call.consoleRead(timeoutMs: 20)
            if !output.isEmpty { StandardStream.output.write(output) }
            guard inputOpen else {
                if output.isEmpty { return nil } // input ended and the guest went quiet
                continue
            }
            var poller = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0 else { continue }
            let count = read(0, &input, input.count)
            if count <= 0 {
                inputOpen = false
                continue
            }
            let keys = input.prefix(count)
            if let detach = keys.firstIndex(of: detachKey) {
                if detach > 0 { try call.consoleSend(bytes: Array(keys[..<detach])) }
                return nil
            }
            try call.consoleSend(bytes: Array(keys))
        }
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
