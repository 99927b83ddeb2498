import Foundation
import HostModel

/// `from NAME [--keep-authorized-keys] [--tls-verify=false]`: starts a
/// pipeline on a saved machine named by a local tag or a registry
/// reference (pulled first when this cache lacks it), which it resumes
/// as it was saved. host's own step, not a plugin's: what it names is
/// host's cache.
struct FromStep {
    static let name = "from"

    let target: String
    let keepAuthorizedKeys: Bool
    let tlsVerify: Bool

    init(_ invocation: PipelineParser.Invocation) throws {
        var target: String?, keep = false, verify = true
        for word in invocation.words {
            switch word {
            case "--keep-authorized-keys": keep = true
            case "--tls-verify=false": verify = false
            case "--tls-verify", "--tls-verify=true": verify = true
            case _ where word.hasPrefix("-"):
                throw HostError.usage("from takes --keep-authorized-keys and --tls-verify=false, not \(word)")
            case _ where target == nil: target = word
            default: throw HostError.usage("from takes one machine, a local name or a registry reference, not also \(word.debugDescription); join steps with +")
            }
        }
        guard let target else {
            throw HostError.usage("from needs the machine to start from: a local name (`host tag --list`) or a registry reference, as in `host from registry.example/team/debian:1 + ssh`")
        }
        if RegistryReference.looksLikeReference(target) { _ = try RegistryReference(target) } else { try MachineNames.checkName(target) }
        self.target = target
        keepAuthorizedKeys = keep
        tlsVerify = verify
    }

    /// The saved machine to start from, held; for a pulled one (`pull`
    /// fetches what the cache lacks), with this user's key authorized in
    /// the guest by a step of `runner`'s.
    func resolve(runner: StepRunner, pull: (RegistryReference, _ tlsVerify: Bool) throws -> CacheEntry) throws -> CacheEntry {
        guard RegistryReference.looksLikeReference(target) else { return try tagged(runner.store) }
        let pulled = try pull(try RegistryReference(target), tlsVerify)
        return try authorizingOwnKey(on: pulled, runner)
    }

    private func tagged(_ store: CacheStore) throws -> CacheEntry {
        let names = MachineNames(location: store.location)
        guard let record = names.tag(target) else {
            let known = names.allTags().map(\.name)
            throw HostError.usage("no machine is named \(target)" + (known.isEmpty ? "" : " (local names: \(known.joined(separator: ", ")))")
                                  + "; name one with `host tag \(target) PIPELINE`, or give a registry reference")
        }
        let rebuild = "run `host tag \(target) \(record.pipeline)` to make it again"
        switch try store.named(record.key) {
        case let .failure(error):
            throw HostError(.cache, "the machine named \(target) (\(record.pipeline)): \(error.message); \(rebuild)")
        case let .success(entry):
            if case let .failure(error) = try store.chain(of: entry) {
                throw HostError(.cache, "the machine named \(target) (\(record.pipeline)) cannot be used: \(error.message); \(rebuild)")
            }
            return entry
        }
    }

    /// The machine was built with its pusher's key: authorize this user's
    /// (root's and every home's authorized_keys that held the pusher's),
    /// before any step, through the guest agent or the console, since SSH
    /// would not let this user in yet. Cached as a step of its own.
    private func authorizingOwnKey(on entry: CacheEntry, _ runner: StepRunner) throws -> CacheEntry {
        guard let theirs = entry.manifest.origin?.identity, let theirKey = Self.keyBody(theirs) else { return entry }
        let mine = try String(contentsOfFile: try SSHIdentity.ensure(in: runner.store.location) + ".pub", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard theirKey != Self.keyBody(mine) else { return entry }
        let script = """
            new=\(ShellWord.quote(mine)) old=\(ShellWord.quote(theirKey)) keep=\(keepAuthorizedKeys ? 1 : 0)
            for f in /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys; do
              [ -f "$f" ] && grep -qF "$old" "$f" || continue
              if [ "$keep" = 0 ]; then grep -vF "$old" "$f" > "$f.host-new"; cat "$f.host-new" > "$f"; rm -f "$f.host-new"; fi
              grep -qxF "$new" "$f" || printf '%s\\n' "$new" >> "$f"
              echo "$f"
            done
            """
        var producer = StepRunner.Producer(step: Self.name, text: "from \(target)" + (keepAuthorizedKeys ? " --keep-authorized-keys" : ""),
                                           plugin: "host", pluginDigest: "host-from/1",
                                           arguments: "authorize=\(mine)\nrevoke=\(keepAuthorizedKeys ? "" : theirKey)",
                                           lifetime: defaultExpirySeconds)
        producer.startsPipeline = true
        return try runner.derive(producer, from: entry) { machine, context in
            var changed = Data()
            let status = try runner.driver.exec(machine, script, log: context.log) { stream, chunk in if stream == 1 { changed.append(chunk) } }
            guard status == 0 else { throw HostError(.stepFailed, "from: authorizing your SSH key in the guest failed (status \(status)); its log says more") }
            let files = String(decoding: changed, as: UTF8.self).split(separator: "\n").joined(separator: ", ")
            runner.output.progress("from: " + (files.isEmpty ? "no authorized_keys in the guest held the pusher's key; none changed"
                                                                : "your SSH key is authorized in \(files)" + (keepAuthorizedKeys ? " (the pusher's stays)" : " instead of the pusher's")))
        }
    }

    /// The base64 part of an OpenSSH public key line, which names the key.
    static func keyBody(_ line: String) -> String? {
        let fields = line.split(separator: " ")
        return fields.count >= 2 ? String(fields[1]) : nil
    }
}
