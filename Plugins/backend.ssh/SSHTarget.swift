import Foundation
import PluginKit

/// Where an existing machine is and how to log in to it, from backend.ssh's
/// arguments: the ssh(1) options every connection of the run uses.
/// Host keys are always checked strictly: against the user's own
/// known_hosts, or against the one key --host-key pins.
struct SSHTarget {
    let host: String
    let port: Int
    let user: String?
    /// The known_hosts file holding the pinned key; nil: the user's own.
    var pinnedKeys: String?
    private let identity: String?
    private let extraOptions: [String]

    /// Options a user may not set with --ssh-option: host's checks and its
    /// connection. Everything else (ProxyJump, Ciphers, ...) passes through.
    private static let reserved = ["stricthostkeychecking", "controlmaster", "controlpath", "controlpersist", "batchmode",
                                   "globalknownhostsfile", "hostkeyalias", "permitlocalcommand"]

    init(host: String, port: Int, user: String, identity: String, options: [String]) throws {
        guard !host.isEmpty, !host.hasPrefix("-"), !host.contains(where: \.isWhitespace) else {
            throw StepError.usage("--host=\(host) is not a host name or address; write it like --host=build1.example or --host=10.1.2.3")
        }
        guard !user.hasPrefix("-"), !user.contains(where: { $0.isWhitespace || $0 == "@" }) else {
            throw StepError.usage("--user=\(user) is not a user name; write it like --user=root")
        }
        for option in options {
            let name = option.split(whereSeparator: { $0 == "=" || $0 == " " }).first.map { $0.lowercased() } ?? ""
            guard !option.isEmpty, !option.hasPrefix("-") else {
                throw StepError.usage("--ssh-option=\(option) is not an ssh_config option; write it like --ssh-option=ProxyJump=jump.example")
            }
            if Self.reserved.contains(name) {
                throw StepError.usage("--ssh-option=\(option): host sets \(name) itself (host keys are always checked; pin one with --host-key, or add it to your known_hosts)")
            }
        }
        self.host = host
        self.port = port
        self.user = user.isEmpty ? nil : user
        // `~/` as a shell expands it, from $HOME (an argument written
        // --identity=~/... reaches host unexpanded).
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        self.identity = identity.isEmpty ? nil : identity.hasPrefix("~/") ? home + identity.dropFirst() : identity
        if let path = self.identity, !FileManager.default.isReadableFile(atPath: path) {
            throw StepError.usage("--identity=\(identity): no readable private key there")
        }
        extraOptions = options.flatMap { ["-o", $0] }
        knownHosts = options.first { $0.lowercased().hasPrefix("userknownhostsfile") }
            .map { String($0.dropFirst("userknownhostsfile".count).drop { $0 == "=" || $0 == " " }) } ?? "~/.ssh/known_hosts"
    }

    /// The known_hosts file ssh checks when no key is pinned, for messages.
    let knownHosts: String

    /// What ssh(1) calls this host in known_hosts.
    var knownHostsName: String { port == 22 ? host : "[\(host)]:\(port)" }

    /// For messages: user@host:port.
    var name: String { "\(user.map { $0 + "@" } ?? "")\(host)\(port == 22 ? "" : ":\(port)")" }

    /// The options, host's first (ssh keeps the first value it reads for
    /// each), then the user's own.
    var options: [String] {
        var options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR"]
        if let pinnedKeys {
            options += ["-o", "UserKnownHostsFile=\(pinnedKeys)", "-o", "GlobalKnownHostsFile=/dev/null"]
        }
        if let identity { options += ["-i", identity, "-o", "IdentitiesOnly=yes"] }
        return options + extraOptions
    }

    /// Port, then destination: the order AnsibleInventory reads.
    var destination: [String] { ["-p", "\(port)", (user.map { $0 + "@" } ?? "") + host] }
}
