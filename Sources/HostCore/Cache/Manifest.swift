import Foundation

/// What host records beside each cached machine: plain versioned JSON, so a
/// newer host reads every older version and an unknown one is rebuilt,
/// never misread.
struct Manifest: Codable, Sendable {
    /// 2 added `arguments` and `files`; a version-1 entry is still read and
    /// used, checked by its backend alone. 3 added `origin`. 4 replaced
    /// `files` with `paths`, every path by type. Fields a later host adds
    /// are optional and need no new version: an older host ignores them.
    static let currentVersion = 4

    struct Dependency: Codable, Sendable, Equatable {
        /// As the step gave it: a relative path is taken from the working
        /// directory of the run that checks it, so a run in another folder
        /// checks that folder's file (host_plugin.h, depend_file).
        let path: String
        let sha256: String
        /// The file's identity when it was hashed (FileIdentity.stamp): while it is
        /// the same, so are the bytes, and a warm run need not read them.
        var stamp: String?

        /// `path` as it is now, stamped before it is read, so that a change
        /// made while it is hashed leaves a stamp that no longer matches.
        static func of(_ path: String) throws -> Dependency {
            let stamp = FileIdentity.stamp(of: path)
            return Dependency(path: path, sha256: try PathDigests.shared.digest(of: path), stamp: stamp)
        }

        /// nil when the file still has these bytes, else what happened to it.
        var change: String? {
            if let stamp, FileIdentity.stamp(of: path) == stamp { return nil }
            guard let digest = try? PathDigests.shared.digest(of: path) else { return "\(path) is gone" }
            return digest == sha256 ? nil : "\(path) changed"
        }
    }

    /// One path of the saved machine, by type, as it was when published.
    /// v2 and v3 listed regular files only (`files`, no `type`); v4 lists
    /// every path (`paths`): what a path is matters as much as what a file
    /// holds, since a directory swapped for a symlink leads a restore
    /// outside the cache.
    struct SavedPath: Codable, Sendable, Equatable {
        enum Kind: String, Codable, Sendable {
            case file, directory, symlink
            /// An overlayfs whiteout (a character device 0/0): a file a
            /// layer deletes from the layers below it (backend.nspawn).
            case whiteout
        }
        /// Relative to the entry's directory ("machine/state.zst").
        let path: String
        /// nil in v2 and v3, whose paths are all regular files.
        var type: Kind?
        /// A file's size and SHA-256.
        var size: Int64?
        var sha256: String?
        /// `sha256` is a SparseDigest (of the data pages), not of every byte.
        var sparse: Bool?
        /// A symlink's target, as readlink gives it.
        var target: String?

        var kind: Kind { type ?? .file }

        func digest(at path: String) throws -> String { try Self.digest(of: path, sparse: sparse == true) }

        static func digest(of path: String, sparse: Bool) throws -> String {
            sparse ? try SparseDigest.of(path) : try Digest.ofFile(path)
        }

        /// Under `machine/`, no step up or aside; a file with a size and a
        /// SHA-256, a symlink with a target, nothing else with either.
        var isWellFormed: Bool {
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

    var version = Manifest.currentVersion
    let key: String
    /// The pipeline up to this step, as a person would type it.
    let pipeline: String
    let step: String
    let plugin: String
    let pluginDigest: String
    /// The backend step whose plugin can clone this machine.
    let backend: String
    let parentKey: String?
    /// Which build of the parent this was made from: a rebuilt parent
    /// (same key, new build) invalidates its children.
    let parentBuild: String?
    /// Unique per build.
    let build: String
    let created: Date
    let expires: Date
    let dependencies: [Dependency]
    /// The step's canonical arguments, which the key was made from (v2).
    var arguments: String?
    /// Every regular file of the saved machine (v2, v3).
    var files: [SavedPath]?
    /// Every path of the saved machine, by type (v4): what damage is measured against.
    var paths: [SavedPath]?
    /// What was recorded of the saved machine, whichever version recorded it.
    var saved: [SavedPath]? { paths ?? files }
    /// Where a pulled entry came from (v3); nil for one built here.
    var origin: Origin?

    /// A machine pulled from a registry: built elsewhere, so it can be
    /// pulled again but never rebuilt here.
    struct Origin: Codable, Sendable, Equatable {
        /// What was pulled ("registry.example/team/debian:1").
        let reference: String
        /// The OCI manifest's digest, which names exactly what was pulled.
        let digest: String
        /// The entry's key where it was built; its key here is derived from it and its build.
        let key: String
        let pulled: Date
        /// The public key of whoever pushed it, which the guest authorizes.
        let identity: String?
    }

    /// Whether the key is the one its recorded inputs give: a manifest
    /// edited, swapped in from another entry, or cut short is damage.
    var keyIsConsistent: Bool {
        if let origin { return key == CacheKey.pulled(key: origin.key, build: build) }
        guard let arguments else { return true } // version 1 recorded no arguments
        return key == CacheKey.of(parentKey: parentKey, pluginDigest: pluginDigest, step: step, arguments: arguments)
    }

    private struct VersionOnly: Decodable { let version: Int }

    enum ReadResult {
        case valid(Manifest)
        case unreadable(String)
    }

    static func read(from url: URL) -> ReadResult {
        guard let data = try? Data(contentsOf: url) else { return .unreadable("its manifest is missing") }
        return parse(data)
    }

    static func parse(_ data: Data) -> ReadResult {
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

    func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
