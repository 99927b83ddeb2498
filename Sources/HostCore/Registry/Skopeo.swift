import ChildProcess
import Foundation
import HostModel

/// The registry client: skopeo, which speaks the distribution API, TLS and
/// the credentials `skopeo login` (or podman's and docker's) stored. host
/// never sees a password; `tlsVerify` is on unless the user turns it off.
struct Skopeo {
    let tlsVerify: Bool
    let output: Output
    /// Where a failed call's own words are kept (CACHE/logs), for the user
    /// to read past host's summary of them.
    let logs: URL

    private func program() throws -> String { try RequiredTool.path("skopeo", package: "skopeo") }

    /// The manifest `reference` names, exactly as the registry sent it (its
    /// digest is the SHA-256 of these bytes); with `config`, its config blob.
    func inspect(_ reference: RegistryReference, config: Bool = false) throws -> Data {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("host-skopeo-\(UUID().uuidString)")
        defer {
            for suffix in [".out", ".err"] { try? FileManager.default.removeItem(atPath: scratch.path + suffix) }
        }
        var command = Command(try program(), ["inspect", "--raw", "--tls-verify=\(tlsVerify)", "--retry-times=2"]
                              + (config ? ["--config"] : []) + [reference.transport])
        command.output = .file(scratch.path + ".out")
        command.error = .file(scratch.path + ".err")
        command.timeLimit = 120
        command.diesWithHost = true
        let ending = try command.run()
        let said = (try? String(contentsOfFile: scratch.path + ".err", encoding: .utf8)) ?? ""
        guard ending == .exited(0), let data = FileManager.default.contents(atPath: scratch.path + ".out") else {
            throw explain(ending, said, reference, "read")
        }
        return data
    }

    /// Copies an image between two skopeo locations (`oci:DIR:NAME`,
    /// `docker://...`), showing skopeo's progress lines as it goes.
    func copy(from source: String, to destination: String, reference: RegistryReference, verb: String) throws {
        let pushing = destination.hasPrefix("docker://")
        var command = Command(try program(), ["copy", "--retry-times=2", pushing ? "--dest-tls-verify=\(tlsVerify)" : "--src-tls-verify=\(tlsVerify)",
                                              source, destination])
        // A copy that makes no progress for this long is stuck, not slow.
        command.timeLimit = 4 * 3600
        command.diesWithHost = true
        let (ending, tail) = try command.runLines { line in
            // "Copying blob sha256:HEX": one line a layer, shortened.
            guard line.hasPrefix("Copying "), let digest = line.split(separator: " ").last else { return }
            output.progress("\(verb): skopeo: \(line.split(separator: " ").dropLast().joined(separator: " ").lowercased()) \(digest.dropFirst("sha256:".count).prefix(12))")
        }
        guard ending == .exited(0) else { throw explain(ending, tail, reference, pushing ? "push to" : "pull from") }
    }

    /// skopeo's error, said as what the user can do about it. skopeo's own
    /// lines (`time=… level=fatal msg="…"`) go to --verbose and a log file.
    private func explain(_ ending: Command.Ending, _ said: String, _ reference: RegistryReference, _ what: String) -> HostError {
        let text = Self.message(said)
        let host = reference.repository.split(separator: "/").first.map(String.init) ?? reference.repository
        let lower = said.lowercased()
        if output.verbose { output.progress("skopeo said: \(said.trimmingCharacters(in: .whitespacesAndNewlines))") }
        let kept = keep(said).map { " (skopeo's own words: \($0.path))" } ?? ""
        if ending == .timedOut { return HostError(.remote, "skopeo did not finish (\(what) \(reference)) in time: \(text)\(kept)") }
        if lower.contains("manifest unknown") || lower.contains("name unknown") {
            return HostError(.remote, "\(reference) is not in the registry (no such repository or tag); check the name with `skopeo list-tags docker://\(reference.repository)`")
        }
        if lower.contains("server gave http response to https client") {
            return HostError(.remote, "\(host) speaks plain HTTP, not HTTPS; if you trust the network to it, add --tls-verify=false")
        }
        if lower.contains("x509") || lower.contains("certificate") {
            return HostError(.remote, "the TLS certificate of \(host) is not trusted (\(text)); install its CA certificate, or add --tls-verify=false if you trust the network")
        }
        if lower.contains("unauthorized") || lower.contains("authentication required") || lower.contains("denied") {
            return HostError(.remote, "\(host) refused to let you \(what) \(reference): log in first with `skopeo login \(host)` (host uses skopeo's credentials and stores none)")
        }
        if lower.contains("connection refused") || lower.contains("no such host") || lower.contains("i/o timeout")
            || lower.contains("network is unreachable") || lower.contains("dial tcp") {
            return HostError(.remote, "cannot reach the registry \(host): \(text)")
        }
        if lower.contains("digest") && (lower.contains("did not match") || lower.contains("mismatch")) {
            let which = said.firstMatch(of: /expected sha256:([0-9a-f]{12})[0-9a-f]*, got sha256:([0-9a-f]{12})/)
                .map { " (it should be \($0.output.1), it is \($0.output.2))" } ?? ""
            return HostError(.damagedData, "a layer of \(reference) is not what its digest says\(which): the registry's copy is damaged; push the machine again. Nothing was added to the cache\(kept)")
        }
        return HostError(.remote, "skopeo could not \(what) \(reference): \(text)\(kept)")
    }

    /// The last thing skopeo said, without its log prefix (`time="…"
    /// level=fatal msg="…"`): the msg's text alone.
    static func message(_ said: String) -> String {
        let line = said.split(separator: "\n").last(where: { !$0.isEmpty }).map(String.init) ?? "no message"
        guard let start = line.range(of: "msg=\"") else { return line }
        var text = String(line[start.upperBound...])
        if text.hasSuffix("\"") { text.removeLast() }
        return text.replacingOccurrences(of: "\\\"", with: "\"")
    }

    /// Writes skopeo's words into CACHE/logs; nil when it could not.
    private func keep(_ said: String) -> URL? {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let file = logs.appendingPathComponent("skopeo-\(stamp)-\(getpid()).log")
        try? FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return (try? Data(said.utf8).write(to: file)) == nil ? nil : file
    }
}
