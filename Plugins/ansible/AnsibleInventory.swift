import Foundation
import PluginKit

/// The inventory host generates for one machine: a single host, "machine",
/// reached the way the backend's host.ssh/1 says (127.0.0.1, the forwarded
/// port, the per-user key, the machine's own known_hosts with strict
/// checking), or a container through the connection its backend names.
/// Written as JSON, which
/// ansible's YAML inventory plugin reads.
struct AnsibleInventory {
    static let host = "machine"
    let variables: [String: String]

    /// From ssh(1) arguments as host.ssh/1 gives them: options, then
    /// `-p PORT`, then `USER@HOST`.
    init(sshArguments arguments: [String]) throws {
        var variables = ["ansible_connection": "ssh", "ansible_python_interpreter": "auto_silent"]
        var common: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let value = index + 1 < arguments.count ? arguments[index + 1] : nil
            switch argument {
            case "-p": variables["ansible_port"] = value; index += 2
            case "-i": variables["ansible_ssh_private_key_file"] = value; index += 2
            case "-o", "-F", "-J":
                if let value { common += [argument, value] }
                index += 2
            default:
                if argument.hasPrefix("-") {
                    common.append(argument)
                } else {
                    let parts = argument.split(separator: "@", maxSplits: 1).map(String.init)
                    variables["ansible_host"] = parts.last
                    if parts.count == 2 { variables["ansible_user"] = parts[0] }
                }
                index += 1
            }
        }
        guard variables["ansible_host"] != nil else { throw StepError("the backend's SSH arguments name no host: \(arguments)") }
        // ansible splits these with shlex. Quote only the words that need it:
        // a string of quoted words like '-o' 'X' reads as a Python literal to
        // ansible's templating, which glues the words together.
        variables["ansible_ssh_common_args"] = common.map(Self.quoted).joined(separator: " ")
        self.variables = variables
    }

    /// A container, through the ansible connection plugin its backend names
    /// (host.container/1).
    init(container: String, connection: String) {
        variables = ["ansible_connection": connection, "ansible_host": container,
                     "ansible_python_interpreter": "auto_silent"]
    }

    static func quoted(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_=/.,:@+%".contains($0) }
        guard !plain || word.isEmpty else { return word }
        return "\"" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    func write(to url: URL) throws {
        let inventory = ["all": ["hosts": [Self.host: variables]]]
        try JSONSerialization.data(withJSONObject: inventory, options: [.prettyPrinted, .sortedKeys]).write(to: url)
    }
}
