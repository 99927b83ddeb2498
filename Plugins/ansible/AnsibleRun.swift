import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// One run of ansible-playbook against the machine: a private working
/// directory (inventory, ansible's temporary files, its SSH control sockets
/// in a 0700 directory), output streamed line by line into the step log
/// (and to the terminal when asked), and on failure ansible's own message.
struct AnsibleRun {
    let call: StepCall
    let showOutput: Bool
    /// The playbook folder's ansible.cfg; nil: an empty one of host's own.
    var configuration: URL? = nil

    /// `playbook` gives the playbook's path; it may write one into the
    /// private directory it is handed.
    func run(extraVariables: [String: String] = [:], playbook: (_ work: URL) throws -> String) throws {
        let inventoryHost: AnsibleInventory
        if let arguments = try call.sshArguments() {
            inventoryHost = try AnsibleInventory(sshArguments: arguments)
        } else if let container = call.container {
            let (name, connection) = try container.reach()
            inventoryHost = AnsibleInventory(container: name, connection: connection)
        } else {
            throw StepError("ansible reaches machines over SSH or as containers, and this machine's backend offers neither \(HOST_SSH_V1) nor \(HOST_CONTAINER_V1)")
        }

        let work = try PrivateDirectory.make("host-ansible")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("cp"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: work) }
        let inventory = work.appendingPathComponent("inventory.yml")
        try inventoryHost.write(to: inventory)
        call.log("inventory: " + ((try? String(contentsOf: inventory, encoding: .utf8)) ?? ""), level: .debug)
        // The playbook's own, or an empty one: no ansible.cfg from the current
        // directory or home changes what runs. host's settings below are
        // environment variables, which win over any ansible.cfg.
        let configuration = self.configuration ?? work.appendingPathComponent("ansible.cfg")
        if self.configuration == nil { try Data().write(to: configuration) }

        var command = ["-i", inventory.path, try playbook(work)]
        if !extraVariables.isEmpty {
            let json = try JSONSerialization.data(withJSONObject: extraVariables, options: .sortedKeys)
            command += ["--extra-vars", String(decoding: json, as: UTF8.self)]
        }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in [
            "ANSIBLE_HOME": work.appendingPathComponent("home").path,
            "ANSIBLE_LOCAL_TEMP": work.appendingPathComponent("tmp").path,
            "ANSIBLE_SSH_CONTROL_PATH_DIR": work.appendingPathComponent("cp").path,
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CONFIG": configuration.path,
        ] { environment[key] = value }
        var failures: [String] = []
        func handle(_ line: String) {
            // Without --show-output, each task's name as it starts is the progress.
            let isTask = line.hasPrefix("TASK [")
            call.log(isTask && !showOutput ? line.trimmingCharacters(in: CharacterSet(charactersIn: "* ")) : line,
                     level: showOutput || isTask ? .info : .debug)
            if let message = Self.failure(in: line) { failures.append(message) }
        }
        let ansible = Command(try HostTool.path("ansible-playbook", package: "ansible"), command, environment: environment)
        let ending = try ansible.runLines(handle).ending
        guard ending == .exited(0) else {
            throw StepError(failures.isEmpty
                            ? "ansible-playbook exited with status \(ending.status) (its output is in the step log; --show-output prints it)"
                            : failures.joined(separator: "\n"))
        }
    }

    /// ansible's own words from a failure line: the "msg" of
    /// `fatal: [machine]: FAILED! => {...}`, or an `ERROR!` line.
    static func failure(in line: String) -> String? {
        if line.hasPrefix("ERROR!") { return line }
        guard line.hasPrefix("fatal:") || line.contains("FAILED!") || line.contains("UNREACHABLE!") else { return nil }
        if let arrow = line.range(of: "=> "),
           let object = try? JSONSerialization.jsonObject(with: Data(line[arrow.upperBound...].utf8)) as? [String: Any],
           let message = object["msg"] as? String {
            return message
        }
        return line
    }
}
