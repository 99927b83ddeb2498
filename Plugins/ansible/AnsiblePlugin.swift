import Foundation
import PluginABI
import PluginKit

/// `ansible MODULE --arg=value ...` runs one module against the machine;
/// `ansible.playbook FILE --var=k=v` runs a playbook, whose whole folder
/// (roles/, group_vars/, templates, an ansible.cfg) is part of its cache key. Both drive the real ansible tools over SSH with an
/// inventory host generates (see AnsibleInventory).
/// ansible reaches a machine over SSH, or a container through its tool.
let reachable = [HOST_SSH_V1, HOST_CONTAINER_V1]

let plugin = Plugin(name: "ansible", version: "1.0.0", steps: [
    Step("ansible", summary: "Run one ansible module against the machine (ansible MODULE --arg=value ...)",
         parameters: [
            .string("module", help: "the module, such as package, lineinfile, ansible.builtin.user"),
            .bool("show-output", flags: .namedOnly, help: "print ansible's output as it runs (it always goes to the step log)"),
            .kwargs("arguments", help: "the module's arguments, as --name=value; repeat a name for a list"),
         ],
         needs: reachable) { call in
        // Values stay strings, as on ansible's own command line: each module
        // converts them to its declared types ("yes" to true, "a,b" to a list).
        var arguments: [String: Any] = [:]
        for (key, value) in call.pairs("arguments") {
            switch arguments[key] {
            case nil: arguments[key] = value
            case let list as [String]: arguments[key] = list + [value]
            case let first as String: arguments[key] = [first, value]
            default: break
            }
        }
        let module = call.string("module")
        let play: [[String: Any]] = [["hosts": "all", "gather_facts": false,
                                      "tasks": [["name": module, module: arguments]]]]
        try AnsibleRun(call: call, showOutput: call.bool("show-output")).run { work in
            // In the private directory: module arguments may be secrets. JSON is YAML.
            let file = work.appendingPathComponent("play.yml")
            try JSONSerialization.data(withJSONObject: play, options: .sortedKeys).write(to: file)
            return file.path
        }
        return call.machine
    },
    Step("ansible.playbook", summary: "Run an ansible playbook against the machine (re-run when anything in its folder changes)",
         parameters: [
            .path("playbook", flags: .withFolder,
                  help: "the playbook file; its plays should target hosts: all. Its folder's ansible.cfg is used, and the roles and collections paths it names are dependencies too"),
            .list("var", help: "an extra variable, NAME=VALUE (repeat for more)"),
            .bool("show-output", flags: .namedOnly, help: "print ansible's output as it runs (it always goes to the step log)"),
         ],
         needs: reachable) { call in
        let playbook = call.string("playbook")
        let configuration = AnsibleConfig(besidePlaybook: playbook)
        for path in configuration?.outsidePaths ?? [] where FileManager.default.fileExists(atPath: path) {
            try call.dependOn(file: path)
        }
        var variables: [String: String] = [:]
        for item in call.list("var") {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw StepError.usage("--var=\(item) is not NAME=VALUE")
            }
            variables[String(item[..<equals])] = String(item[item.index(after: equals)...])
        }
        try AnsibleRun(call: call, showOutput: call.bool("show-output"), configuration: configuration?.file)
            .run(extraVariables: variables) { _ in playbook }
        return call.machine
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
