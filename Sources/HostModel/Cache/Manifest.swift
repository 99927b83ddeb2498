import FoundationEssentials

/// What host records beside each cached machine: plain versioned JSON, so a
/// newer host reads every older version and an unknown one is rebuilt,
/// never misread. The types, their JSON and their checks; reading and
/// writing the file, and hashing what it lists, is HostCore's (Manifest+Files).
package struct Manifest: Codable, Sendable {
    /// 2 added `arguments` and `files`; a version-1 entry is still read and
    /// used, checked by its backend alone. 3 added `origin`. 4 replaced
    /// `files` with `paths`, every path by type. Fields a later host adds
    /// are optional and need no new version: an older host ignores them.
    package static let currentVersion = 4

    package struct Dependency: Codable, Sendable, Equatable {
        /// As the step gave it: a relative path is taken from the working
        /// directory of the run that checks it, so a run in another folder
        /// checks that folder's file (host_plugin.h, depend_file).
        package let path: String
        package let sha256: String
        /// The file's identity when it was hashed (FileIdentity.stamp): while it is
        /// the same, so are the bytes, and a warm run need not read them.
        package var stamp: String?

        package init(path: String, sha256: String, stamp: String? = nil) {
            self.path = path
            self.sha256 = sha256
            self.stamp = stamp
        }
    }

    /// One path of the saved machine, by type, as it was when published.
    /// v2 and v3 listed regular files only (`files`, no `type`); v4 lists
    /// every path (`paths`): what a path is matters as much as what a file
    /// holds, since a directory swapped for a symlink leads a restore
    /// outside the cache.
    package struct SavedPath: Codable, Sendable, Equatable {
        package enum Kind: String, Codable, Sendable {
            case file, directory, symlink
            /// An overlayfs whiteout (a character device 0/0): a file a
            /// layer deletes from the layers below it (backend.nspawn).
            case whiteout
        }
        /// Relative to the entry's directory ("machine/state.zst").
        package let path: String
        /// nil in v2 and v3, whose paths are all regular files.
        package var type: Kind?
        /// A file's size and SHA-256.
        package var size: Int64?
        package var sha256: String?
        /// `sha256` is a SparseDigest (of the data pages), not of every byte.
        package var sparse: Bool?
        /// A symlink's target, as readlink gives it.
        package var target: String?

        package init(path: String, type: Kind? = nil, size: Int64? = nil, sha256: String? = nil, sparse: Bool? = nil, target: String? = nil) {
            self.path = path
            self.type = type
            self.size = size
            self.sha256 = sha256
            self.sparse = sparse
            self.target = target
        }

        package var kind: Kind { type ?? .file }

        /// Under `machine/`, no step up or aside; a file with a size and a
        /// SHA-256, a symlink with a target, nothing else with either.
        package var isWellFormed: Bool {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0] == "machine", !parts.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                return false
            }
            switch kind {
            case .file:
                guard let size, let sha256 else { return false }
                return target == nil && size >= 0 && sha256.utf8.count == 64
                    && sha256.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
            case .symlink: return size == nil && sha256 == nil && !(target ?? "").isEmpty
            case .directory, .whiteout: return size == nil && sha256 == nil && target == nil
            }
        }
    }

    package var version = Manifest.currentVersion
    package let key: String
    /// The pipeline up to this step, as a person would type it.
    package let pipeline: String
    package let step: String
    package let plugin: String
    package let pluginDigest: String
    /// The backend step whose plugin can clone this machine.
    package let backend: String
    package let parentKey: String?
    /// Which build of the parent this was made from: a rebuilt parent
    /// (same key, new build) invalidates its children.
    package let parentBuild: String?
    /// Unique per build.
    package let build: String
    package let created: Date
    package let expires: Date
    package let dependencies: [Dependency]
    /// The step's canonical arguments, which the key was made from (v2).
    package var arguments: String?
    /// Every regular file of the saved machine (v2, v3).
    package var files: [SavedPath]?
    /// Every path of the saved machine, by type (v4): what damage is measured against.
    package var paths: [SavedPath]?
    /// What was recorded of the saved machine, whichever version recorded it.
    package var saved: [SavedPath]? { paths ?? files }
    /// Where a pulled entry came from (v3); nil for one built here.
    package var origin: Origin?

    package init(key: String, pipeline: String, step: String, plugin: String, pluginDigest: String, backend: String,
                 parentKey: String?, parentBuild: String?, build: String, created: Date, expires: Date, dependencies: [Dependency],
                 arguments: String? = nil, files: [SavedPath]? = nil, paths: [SavedPath]? = nil, origin: Origin? = nil) {
        self.key = key
        self.pipeline = pipeline
        self.step = step
        self.plugin = plugin
        self.pluginDigest = pluginDigest
        self.backend = backend
        self.parentKey = parentKey
        self.parentBuild = parentBuild
        self.build = build
        self.created = created
        self.expires = expires
        self.dependencies = dependencies
        self.arguments = arguments
        self.files = files
        self.paths = paths
        self.origin = origin
    }

    /// A machine pulled from a registry: built elsewhere, so it can be
    /// pulled again but never rebuilt here.
    package struct Origin: Codable, Sendable, Equatable {
        /// What was pulled ("registry.example/team/debian:1").
        package let reference: String
        /// The OCI manifest's digest, which names exactly what was pulled.
        package let digest: String
        /// The entry's key where it was built; its key here is derived from it and its build.
        package let key: String
        package let pulled: Date
        /// The public key of whoever pushed it, which the guest authorizes.
        package let identity: String?

        package init(reference: String, digest: String, key: String, pulled: Date, identity: String?) {
            self.reference = reference
            self.digest = digest
            self.key = key
            self.pulled = pulled
            self.identity = identity
        }
    }

    /// Whether the key is the one its recorded inputs give: a manifest
    /// edited, swapped in from another entry, or cut short is damage.
    package var keyIsConsistent: Bool {
        if let origin { return key == CacheKey.pulled(key: origin.key, build: build) }
        guard let arguments else { return true } // version 1 recorded no arguments
        return key == CacheKey.of(parentKey: parentKey, pluginDigest: pluginDigest, step: step, arguments: arguments)
    }

    private struct VersionOnly: Decodable { let version: Int }

    package enum ReadResult {
        case valid(Manifest)
        case unreadable(String)
    }

    package static func parse(_ data: Data) -> ReadResult {
        guard let version = try? decoder.decode(VersionOnly.self, from: data).version else {
            return .unreadable("its manifest is not valid JSON")
        }
        guard (1...currentVersion).contains(version) else {
            return .unreadable("its manifest has version \(version), which this host (version \(currentVersion)) does not know")
        }
        let manifest: Manifest
        do {
            manifest = try decoder.decode(Manifest.self, from: data)
        } catch {
            return .unreadable("its manifest is damaged: \(error)")
        }
        // An entry may come from another machine (a registry): a listed file
        // outside its own machine directory would be hashed, or be read
        // forever (/dev/zero), when the entry is checked.
        if let stray = manifest.saved?.first(where: { !$0.isWellFormed || (manifest.paths == nil && $0.kind != .file) }) {
            return .unreadable("its manifest lists \(stray.path.debugDescription), which is not a file of its machine")
        }
        return .valid(manifest)
    }

    /// The JSON host writes: sorted and indented, so entries diff well.
    package func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
