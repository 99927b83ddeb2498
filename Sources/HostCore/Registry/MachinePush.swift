import HostModel
import PluginABI
import ChildProcess
import Foundation

/// What `host push` did.
public struct PushReport: Sendable {
    public let reference: String
    /// The pushed manifest's digest: `host pull REPOSITORY@DIGEST` fetches exactly this.
    public let digest: String
    /// The cached steps in the machine's chain, and the layers and bytes
    /// (compressed) the image has; the registry skips those it holds already.
    public let entries: Int
    public let layers: Int
    public let bytes: Int64
}

extension Engine {
    /// `host push REF PIPELINE...`: builds the pipeline (or reuses the
    /// cache) and pushes the machine it yields, with every entry it was
    /// built on, as one OCI image (MachineImage).
    public func push(_ text: String, pipeline words: [String], tlsVerify: Bool) throws -> PushReport {
        let reference = try RegistryReference(text)
        guard reference.digest == nil else {
            throw HostError.usage("push to a tag, as in \(reference.repository):1; a digest names an image that is already there")
        }
        guard !words.isEmpty else { throw HostError.usage("push needs the pipeline that makes the machine, as in `host push \(text) os.debian + ansible package --name=patch`") }
        let portable: (BackendRef) throws -> Void = { [driver] backend in
            guard driver.portable(backend) == nil else { return }
            throw HostError.usage("\(backend.step.name) does not offer \(HOST_PORTABLE_V1): its machines keep parts outside host's cache (podman's image store, a hypervisor's volumes), so they cannot go through a registry; machines of backend.qemu can")
        }
        guard let top = try execute(words, keeping: true, check: portable) else {
            throw HostError.usage("the pipeline's last step returned no machine, so there is nothing to push")
        }
        let chain: [CacheEntry]
        switch try store.chain(of: top) {
        case let .success(entries): chain = entries
        case let .failure(error): throw HostError(.cache, "cannot push \(top.manifest.pipeline): \(error.message)")
        }
        if let old = chain.first(where: { $0.manifest.saved == nil }) {
            throw HostError(.cache, "the cached machine \(old.manifest.step) (\(old.key.prefix(12))) was saved by an older host that did not record its files; `host cleanup machines all` and building it again makes it pushable")
        }
        let work = try TemporaryDirectory(in: store.location.temporary)
        let layout = try OCILayout.create(at: work.url.appendingPathComponent("image"))
        output.progress("push: packing \(chain.count) cached step(s) of \(top.manifest.pipeline)")
        let zstd = try RequiredTool.path("zstd", package: "zstd")
        var layers: [OCILayout.Descriptor] = []
        for entry in chain {
            let annotations = [MachineImage.entryAnnotation: entry.key, MachineImage.stepAnnotation: entry.manifest.step]
            layers.append(try layout.add(try Data(contentsOf: entry.directory.appendingPathComponent("manifest.json")),
                                         mediaType: MachineImage.manifestLayerType,
                                         annotations: annotations.merging([MachineImage.pathAnnotation: "manifest.json"]) { $1 }))
            // Folders and links travel in the manifest; a file as a layer.
            for file in entry.manifest.saved ?? [] where file.kind == .file {
                // The same bytes always compress to the same blob (zstd is
                // deterministic at any thread count), so a file pushed
                // before has the digest the registry knows and is not sent.
                let packed = work.url.appendingPathComponent("packing")
                let ending = try DiskSpace.naming(store.location) {
                    try Command(zstd, ["-q", "-f", "-3", "-T0", "-o", packed.path, entry.directory.appendingPathComponent(file.path).path]).run()
                }
                guard ending == .exited(0) else { throw HostError(.environment, "zstd could not compress \(file.path) of \(entry.key.prefix(12)) (is the disk full?)") }
                layers.append(try layout.adopt(packed, mediaType: MachineImage.fileLayerType,
                                               annotations: annotations.merging([MachineImage.pathAnnotation: file.path]) { $1 }))
            }
        }
        let image = MachineImage(pipeline: top.manifest.pipeline, backend: top.manifest.backend, created: Date(),
                                 pushedBy: "host \(hostVersion)", identity: ownPublicKey(),
                                 entries: chain.map { .init(key: $0.key, build: $0.manifest.build, step: $0.manifest.step,
                                                            directory: $0.machineDirectory.path) })
        let config = try layout.add(try image.encoded(), mediaType: MachineImage.configType)
        try layout.publish(OCILayout.ImageManifest(artifactType: MachineImage.configType, config: config, layers: layers,
                                                   annotations: ["org.opencontainers.image.description": top.manifest.pipeline]),
                           name: "machine")
        let (digest, _) = try layout.image()
        try Skopeo(tlsVerify: tlsVerify, output: output, logs: store.location.logs).copy(from: "oci:\(layout.directory.path):machine", to: reference.transport,
                                                              reference: reference, verb: "push")
        return PushReport(reference: reference.description, digest: digest, entries: chain.count, layers: layers.count,
                          bytes: layers.reduce(0) { $0 + $1.size })
    }

    /// This user's public SSH key, if host made one.
    func ownPublicKey() -> String? {
        let path = store.location.root.appendingPathComponent("ssh/id_ed25519.pub").path
        return (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
