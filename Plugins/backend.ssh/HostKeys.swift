import Foundation
import PluginKit

/// The keys a machine presents, as ssh-keyscan reads them (before any
/// login, so they prove nothing until compared with a key the user
/// trusts): to pin the one --host-key names by its fingerprint, and to
/// show the user what a refused machine presented.
struct PresentedKey {
    /// "ssh-ed25519 AAAA..." as in a .pub file, without the host name.
    let line: String
    /// "SHA256:..."
    let fingerprint: String
    /// "ED25519", "RSA", as ssh-keygen names them.
    let type: String

    static func scan(_ target: SSHTarget) -> [PresentedKey] {
        guard let (_, listing) = try? HostTool.capture("ssh-keyscan", ["-T", "10", "-p", "\(target.port)", target.host],
                                                       package: "openssh-client") else { return [] }
        return listing.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard !line.hasPrefix("#"), fields.count >= 3 else { return nil }
            return try? PresentedKey(line: fields[1...2].joined(separator: " "))
        }
    }

    init(line: String) throws {
        let fields = line.split(separator: " ")
        guard fields.count >= 2 else { throw StepError("not a public key: \(line)") }
        self.line = fields[0...1].joined(separator: " ")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("host-key-\(UUID().uuidString).pub")
        defer { try? FileManager.default.removeItem(at: file) }
        try (self.line + "\n").write(to: file, atomically: true, encoding: .utf8)
        // "256 SHA256:... comment (ED25519)"
        let described = try HostTool.run("ssh-keygen", ["-l", "-E", "sha256", "-f", file.path], package: "openssh-client")
        let words = described.split(separator: " ")
        guard words.count >= 3, words[1].hasPrefix("SHA256:") else { throw StepError("not a public key: \(line)") }
        fingerprint = String(words[1])
        type = words.last.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "()\n")) } ?? "?"
    }

    /// The known_hosts file that trusts only what --host-key names (a
    /// public key line, or the fingerprint of a key the machine presents),
    /// written into the run's private directory.
    static func pin(_ wanted: String, for target: SSHTarget, in directory: URL) throws -> String {
        let key: PresentedKey
        if wanted.hasPrefix("SHA256:") {
            let presented = scan(target)
            guard let match = presented.first(where: { $0.fingerprint == wanted }) else {
                throw StepError(presented.isEmpty
                    ? "cannot read the host keys of \(target.knownHostsName) to compare with --host-key=\(wanted) (ssh-keyscan got none: is the address and port right, and sshd running?)"
                    : "\(target.knownHostsName) presents no key with fingerprint \(wanted) (--host-key); it presents \(describe(presented)). If it was reinstalled, check the new key on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin that")
            }
            key = match
        } else {
            do {
                key = try PresentedKey(line: wanted)
            } catch {
                throw StepError.usage("--host-key=\(wanted.prefix(60)) is neither a public key line (as in /etc/ssh/ssh_host_ed25519_key.pub) nor a SHA256: fingerprint")
            }
        }
        let file = directory.appendingPathComponent("known_hosts")
        try "\(target.knownHostsName) \(key.line)\n".write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    static func describe(_ keys: [PresentedKey]) -> String {
        keys.map { "\($0.type) \($0.fingerprint)" }.joined(separator: ", ")
    }

    /// Why ssh refused the machine's host key, with its fingerprint and
    /// the command that would accept it; nil when that was not the failure.
    static func refusal(in errorText: String, of target: SSHTarget) -> String? {
        let changed = errorText.contains("IDENTIFICATION HAS CHANGED") || errorText.contains("Host key for") && errorText.contains("has changed")
        guard changed || errorText.contains("Host key verification failed") || errorText.contains("host key is known for") else {
            return nil
        }
        let presented = scan(target)
        // The key of the type ssh named ("No ED25519 host key is known"), else all.
        let named = presented.filter { errorText.contains("No \($0.type) host key") || errorText.contains("The \($0.type) key") }
        let keys = named.isEmpty ? presented : named
        let shown = keys.isEmpty ? "(ssh-keyscan could not read its key)" : describe(keys)
        let pinned = target.pinnedKeys != nil
        let scanCommand = "ssh-keyscan -p \(target.port)\(keys.count == 1 ? " -t \(keys[0].type.lowercased())" : "") \(target.host) >> \(target.knownHosts)"
        let pinCommand = keys.count == 1 ? "--host-key=\(keys[0].fingerprint)" : "--host-key=SHA256:..."
        if changed || pinned {
            return "refusing to connect to \(target.name): its SSH host key is not the one \(pinned ? "--host-key pins" : "\(target.knownHosts) records for \(target.knownHostsName)"); it presents \(shown). It may have been reinstalled, or something is in between. If the new key is right (check it on the machine: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
                + (pinned ? "pin it with \(pinCommand)" : "replace the old one with: ssh-keygen -R '\(target.knownHostsName)' -f \(target.knownHosts) && \(scanCommand)")
        }
        return "refusing to connect to \(target.name): its SSH host key is unknown (not in \(target.knownHosts), and no --host-key pins one); it presents \(shown). If that is the machine's key (check it on the machine: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), accept it with: \(scanCommand), or pin it for this pipeline with \(pinCommand)"
    }
}
