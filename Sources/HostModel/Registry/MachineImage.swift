import FoundationEssentials

/// How host lays out a cached machine as one OCI image (README, "Machines
/// in a registry"): the config blob is this struct; the layers are, entry by
/// entry from the base up, the entry's manifest.json and then each file of
/// its saved machine, zstd-compressed, annotated with the entry's key, its
/// step and the file's path. Each file is a layer of its own, named by its
/// digest, so the registry stores a file that two machines share once, and
/// a base pushed before is not sent again.
package struct MachineImage: Codable, Sendable {
    package static let configType = "application/vnd.host.machine.v1+json"
    package static let manifestLayerType = "application/vnd.host.manifest.v1+json"
    package static let fileLayerType = "application/vnd.host.file.v1+zstd"
    package static let entryAnnotation = "vnd.host.entry"
    package static let stepAnnotation = "vnd.host.step"
    /// The file's path in its entry ("machine/disk.qcow2"), under OCI's own name for it.
    package static let pathAnnotation = "org.opencontainers.image.title"

    package var version = 1
    /// The whole pipeline that built the top entry.
    package let pipeline: String
    package let backend: String
    package let created: Date
    /// The host that pushed it ("host 0.1.0").
    package let pushedBy: String
    /// The pusher's public SSH key, which the guest authorizes: a puller
    /// replaces it with their own (`from`).
    package let identity: String?
    /// Base first; the last one is the machine.
    package let entries: [Entry]

    package struct Entry: Codable, Sendable {
        package let key: String
        package let build: String
        package let step: String
        /// Its machine directory where it was pushed from: the paths in its
        /// files (a qcow2's backing file) name it, and a puller rewrites them.
        package let directory: String

        package init(key: String, build: String, step: String, directory: String) {
            self.key = key
            self.build = build
            self.step = step
            self.directory = directory
        }
    }

    package init(pipeline: String, backend: String, created: Date, pushedBy: String, identity: String?, entries: [Entry]) {
        self.pipeline = pipeline
        self.backend = backend
        self.created = created
        self.pushedBy = pushedBy
        self.identity = identity
        self.entries = entries
    }

    package static func decode(_ data: Data) throws -> MachineImage {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            let image = try decoder.decode(MachineImage.self, from: data)
            guard image.version == 1 else {
                throw HostError(.damagedData, "it was pushed in format version \(image.version), which this host (format 1) does not know; update host")
            }
            guard !image.entries.isEmpty else { throw HostError(.damagedData, "its config lists no machine") }
            for entry in image.entries {
                // Keys and builds are what host makes (a SHA-256, a UUID), nothing a path could be made of.
                guard entry.key.wholeMatch(of: /[0-9a-f]{64}/) != nil else {
                    throw HostError(.damagedData, "its config names the entry key \(entry.key.debugDescription), which is not a key host makes (64 hexadecimal digits): the image was altered or not pushed by host")
                }
                guard entry.build.wholeMatch(of: /[0-9a-f-]{1,64}/) != nil else {
                    throw HostError(.damagedData, "its config names the build \(entry.build.debugDescription) for entry \(entry.key.prefix(12)), which is not a build host makes: the image was altered or not pushed by host")
                }
            }
            return image
        } catch let error as HostError {
            throw error
        } catch {
            throw HostError(.damagedData, "its config is not a machine host can read: \(error)")
        }
    }

    package func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}
