import ChildProcess
import Foundation
import HostModel

/// What `host pull` did.
public struct PullReport: Sendable {
    public let reference: String
    public let digest: String
    /// The machine's key in this cache.
    public let key: String
    /// Entries fetched; 0 when every one was here already (nothing was transferred).
    public let fetched: Int
    public let entries: Int
}

extension Engine {
    /// `host pull REF`.
    public func pull(_ text: String, tlsVerify: Bool) throws -> PullReport {
        try pull(try RegistryReference(text), tlsVerify: tlsVerify, checkRegistry: true)
    }

    /// The machine `reference` names, pulled when this cache lacks it (or
    /// holds it damaged), and held. Offline once pulled.
    func pulledMachine(_ reference: RegistryReference, tlsVerify: Bool) throws -> CacheEntry {
        let report = try pull(reference, tlsVerify: tlsVerify, checkRegistry: false)
        switch try store.named(report.key) {
        case let .success(entry): return entry
        case let .failure(error): throw HostError(.cache, "the machine pulled from \(reference) \(error.message)")
        }
    }

    /// Fetches what of `reference` this cache lacks and publishes it entry
    /// by entry, base first, each only once every byte of it was checked.
    /// `checkRegistry`: ask the registry what the reference names now, even
    /// when a pull of it is here (`host pull`); else use that pull.
    private func pull(_ reference: RegistryReference, tlsVerify: Bool, checkRegistry: Bool) throws -> PullReport {
        let names = MachineNames(location: store.location)
        if !checkRegistry, let record = names.pulled(reference), intact(record.key) {
            return PullReport(reference: reference.description, digest: record.digest ?? "", key: record.key, fetched: 0, entries: 0)
        }
        store.sweep() // what a pull that was cut short left
        let skopeo = Skopeo(tlsVerify: tlsVerify, output: output, logs: store.location.logs)
        let raw = try skopeo.inspect(reference)
        let digest = "sha256:" + Digest.of(raw)
        if let record = names.pulled(reference), record.digest == digest, intact(record.key) {
            return PullReport(reference: reference.description, digest: digest, key: record.key, fetched: 0, entries: 0)
        }
        let pinned = try RegistryReference(reference.repository + "@" + digest)
        guard let manifest = try? JSONDecoder().decode(OCILayout.ImageManifest.self, from: raw),
              manifest.config.mediaType == MachineImage.configType else {
            throw HostError.usage("\(reference) is not a machine pushed by host (its manifest has no \(MachineImage.configType) config); pull container images with podman or skopeo")
        }
        let configData = try skopeo.inspect(pinned, config: true)
        guard "sha256:" + Digest.of(configData) == manifest.config.digest else {
            throw HostError(.damagedData, "the config of \(reference) is not what its digest says (the registry's copy is damaged)")
        }
        let image: MachineImage
        do { image = try MachineImage.decode(configData) } catch let error as HostError {
            throw HostError(error.kind, "\(reference): \(error.message)")
        }
        let backend = try driver.backend(of: image.backend, "\(reference)")
        let keys = image.entries.map { CacheKey.pulled(key: $0.key, build: $0.build) }
        guard let topKey = keys.last else { throw HostError(.damagedData, "\(reference) lists no machine") }

        // Two pulls of one machine at once: the second waits, then finds it here.
        let lock = try store.buildLock(topKey)
        try lock.lock(.exclusive) { output.progress("pull: waiting for another run (pid \(lock.owner() ?? "?")) that is pulling it") }
        defer { lock.unlock() }
        let missing = keys.indices.filter { !intact(keys[$0]) }
        let record = MachineNames.Record(name: reference.description, key: topKey, pipeline: image.pipeline, created: Date(), digest: digest)
        guard !missing.isEmpty else {
            try names.setPulled(record)
            return PullReport(reference: reference.description, digest: digest, key: topKey, fetched: 0, entries: keys.count)
        }

        let work = try TemporaryDirectory(in: store.location.temporary)
        let layout = try OCILayout.create(at: work.url.appendingPathComponent("image"))
        // skopeo fetches no blob its destination holds: the entries already
        // here are not unpacked again, so an empty file stands for each of
        // their layers and nothing of them is transferred.
        let present = Set(keys.indices.filter { !missing.contains($0) }.map { image.entries[$0].key })
        for layer in manifest.layers where present.contains(layer.annotations?[MachineImage.entryAnnotation] ?? "") {
            _ = FileManager.default.createFile(atPath: layout.blob(layer.digest).path, contents: nil)
        }
        output.progress("pull: fetching \(missing.count) of \(keys.count) cached step(s) of \(image.pipeline)")
        try DiskSpace.naming(store.location) {
            try skopeo.copy(from: pinned.transport, to: "oci:\(layout.directory.path):machine", reference: reference, verb: "pull")
        }
        let (pulledDigest, pulled) = try layout.image()
        guard pulledDigest == digest else { throw HostError(.damagedData, "skopeo fetched manifest \(pulledDigest), not the \(digest) asked for") }

        let oldPrefixes = image.entries.map { $0.directory + "/" }
        let newPrefixes = keys.map { store.location.entry($0).appendingPathComponent("machine").path + "/" }
        var staged: [(TemporaryDirectory, Manifest)] = []
        for index in missing {
            let entry = image.entries[index]
            let directory = try store.makeTemporary(backend: image.backend)
            let saved = try unpack(entry, of: pulled, from: layout, into: directory.url, reference: reference)
            do {
                try driver.adopt(directory.machineDirectory, backend: backend, replacing: oldPrefixes, with: newPrefixes)
            } catch let error as HostError {
                throw HostError(error.kind == .stepFailed ? .environment : error.kind,
                                "\(reference) cannot resume on this computer: \(error.message); nothing was added to the cache")
            }
            let now = Date()
            let parent = index > 0 ? keys[index - 1] : nil
            let manifest = Manifest(
                key: keys[index], pipeline: saved.pipeline, step: saved.step, plugin: saved.plugin, pluginDigest: saved.pluginDigest,
                backend: saved.backend, parentKey: parent, parentBuild: index > 0 ? image.entries[index - 1].build : nil,
                build: saved.build, created: now, expires: now.addingTimeInterval(saved.expires.timeIntervalSince(saved.created)),
                dependencies: [], arguments: saved.arguments,
                paths: try DiskSpace.naming(store.location) { try EntryVerifier.record(directory.url) },
                origin: .init(reference: reference.description, digest: digest, key: entry.key, pulled: now, identity: image.identity))
            staged.append((directory, manifest))
        }
        for (directory, manifest) in staged {
            _ = try DiskSpace.naming(store.location) {
                try store.publish(directory, manifest: manifest) { output.progress("pull: waiting for other runs to stop using the damaged \(manifest.key.prefix(12))") }
            }
        }
        try names.setPulled(record)
        return PullReport(reference: reference.description, digest: digest, key: topKey, fetched: missing.count, entries: keys.count)
    }

    /// Whether `key` is here, whole, on a chain that is whole.
    private func intact(_ key: String) -> Bool {
        guard case let .success(entry)? = try? store.named(key) else { return false }
        if case .success? = try? store.chain(of: entry) { return true }
        return false
    }

    /// Writes one entry's files from the layout into `directory`, each
    /// checked against the digest its manifest recorded when it was saved,
    /// and returns that manifest.
    private func unpack(_ entry: MachineImage.Entry, of manifest: OCILayout.ImageManifest, from layout: OCILayout, into directory: URL,
                        reference: RegistryReference) throws -> Manifest {
        let layers = manifest.layers.filter { $0.annotations?[MachineImage.entryAnnotation] == entry.key }
        func damaged(_ what: String) -> HostError {
            HostError(.damagedData, "\(reference) is damaged: in its entry for \(entry.step) (\(entry.key.prefix(12))), \(what); nothing was added to the cache")
        }
        guard let manifestLayer = layers.first(where: { $0.annotations?[MachineImage.pathAnnotation] == "manifest.json" }) else {
            throw damaged("the manifest layer is missing")
        }
        let saved: Manifest
        switch Manifest.parse(try layout.verifiedData(manifestLayer)) {
        case let .valid(parsed) where parsed.key == entry.key && parsed.build == entry.build: saved = parsed
        case .valid: throw damaged("the manifest names another machine")
        case let .unreadable(reason): throw damaged(reason.replacingOccurrences(of: "its manifest", with: "the manifest"))
        }
        let zstd = try RequiredTool.path("zstd", package: "zstd")
        // Folders and links are made again as they were saved; a link that
        // leads out of the machine is damage, never made. Whiteouts are
        // for layered backends, which do not travel yet.
        for path in saved.saved ?? [] where path.kind != .file {
            let target = directory.appendingPathComponent(path.path)
            switch path.kind {
            case .directory: try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            case .symlink:
                let link = path.target ?? ""
                let resolved = target.deletingLastPathComponent().appendingPathComponent(link).standardized.path
                guard !link.hasPrefix("/"), resolved.hasPrefix(directory.appendingPathComponent("machine").path + "/") else {
                    throw damaged("\(path.path) is a symlink out of the machine (\(link))")
                }
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(atPath: target.path, withDestinationPath: link)
            default: throw damaged("\(path.path) is a \(path.kind.rawValue), which a pulled machine cannot hold yet")
            }
        }
        for file in saved.saved ?? [] where file.kind == .file {
            guard let layer = layers.first(where: { $0.annotations?[MachineImage.pathAnnotation] == file.path && $0.mediaType == MachineImage.fileLayerType }) else {
                throw damaged("the layer of \(file.path) is missing")
            }
            let target = directory.appendingPathComponent(file.path)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            // zstd writes runs of zeros as holes: a RAM state stays sparse.
            let ending = try DiskSpace.naming(store.location) {
                try Command(zstd, ["-q", "-d", "-f", "-o", target.path, layout.blob(layer.digest).path]).run()
            }
            guard ending == .exited(0) else { throw damaged("the layer of \(file.path) does not decompress") }
            guard (try? file.digest(at: target.path)) == file.sha256 else { throw damaged("\(file.path) is not the file that was pushed (its SHA-256 differs)") }
        }
        try Data(saved.backend.utf8).write(to: directory.appendingPathComponent("backend"))
        return saved
    }
}
