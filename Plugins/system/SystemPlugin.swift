import Foundation
import PluginABI
import PluginKit

/// Small steps on the guest's system: `hostname NAME` and `wait-for
/// COMMAND...` on any backend that runs commands, `reboot` on virtual
/// machines.
func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

/// A host name as RFC 1123 has it: labels of letters, digits and inner hyphens.
func checkHostname(_ name: String) throws {
    let labels = name.split(separator: ".", omittingEmptySubsequences: false)
    let valid = !name.isEmpty && name.utf8.count <= 253 && labels.allSatisfy { label in
        !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
            && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }
    guard valid else { throw StepError.usage("\(name.debugDescription) is not a host name: letters, digits and inner hyphens, labels joined by dots, as in web-1") }
}

let plugin = Plugin(name: "system", version: "1.0.0", steps: [
    Step("hostname", summary: "Set the machine's host name, now and after a reboot (cached)",
         parameters: [.string("name", help: "the new host name, like web-1")]) { call in
        let name = call.string("name")
        try checkHostname(name)
        // /etc/hostname for the next boot, the kernel's now, and /etc/hosts so the name resolves.
        let script = """
            echo \(name) > /etc/hostname && hostname \(name) && \
            if [ -f /etc/hosts ] && grep -q '^127.0.1.1' /etc/hosts; then sed -i 's/^127\\.0\\.1\\.1.*/127.0.1.1\t\(name)/' /etc/hosts; \
            else printf '127.0.1.1\\t%s\\n' \(name) >> /etc/hosts; fi
            """
        let result = try call.exec(script)
        guard result.status == 0 else { throw StepError("setting the host name failed (status \(result.status)): \(trimmed(result.err + result.out))") }
        return call.machine
    },
    Step("wait-for", summary: "Run a command in the machine until it succeeds (a service that starts, a file that appears)",
         flags: .transientWhenLast,
         parameters: [.int("timeout", default: 300, range: 1...86400, flags: .namedOnly, help: "seconds to keep trying"),
                      .int("interval", default: 1, range: 1...3600, flags: .namedOnly, help: "seconds between tries"),
                      .rest("command", required: true, help: "the command, run by /bin/sh -c, until its status is 0")]) { call in
        let command = call.list("command").joined(separator: " ")
        let timeout = Double(call.int("timeout")), interval = UInt32(call.int("interval"))
        let started = Date()
        var tries = 0
        while true {
            let result = try call.exec(command)
            tries += 1
            if result.status == 0 {
                call.log(String(format: "`%@` succeeded after %d tries, %.1f s", command, tries, Date().timeIntervalSince(started)))
                return call.machine
            }
            guard Date().timeIntervalSince(started) + Double(interval) < timeout else {
                throw StepError("`\(command)` did not succeed within \(Int(timeout)) s (\(tries) tries; the last exited with status \(result.status): \(trimmed(result.err + result.out).suffix(300)))")
            }
            sleep(interval)
        }
    },
    Step("reboot", summary: "Reboot the virtual machine and wait until it is back (cached)",
         parameters: [.int("timeout", default: 300, range: 1...86400, flags: .namedOnly, help: "seconds to wait for the guest to come back")],
         needs: [HOST_VM_V1]) { call in
        guard let vm = call.extensionTable(HOST_VM_V1, as: host_vm_v1.self), let reboot = vm.reboot else {
            throw StepError("this machine's backend cannot reboot it (its \(HOST_VM_V1) table predates plugin ABI 1.5)")
        }
        try call.start()
        let started = Date()
        guard reboot(call.rawCall, call.backendObject(), call.int("timeout") * 1000) == HOST_OK else { throw HostServiceFailed() }
        call.log(String(format: "back after %.1f s", Date().timeIntervalSince(started)))
        return call.machine
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
