import Foundation

/// What host records beside each cached machine: plain versioned JSON, so a
/// newer host reads every older version and an unknown one is rebuilt,
/// never misread.
struct Manifest: Codable, Sendable {
    /// 2 added `arguments` and `files`; a version-1 entry is still read and
    /// used, checked by its backend alone. 3 added `origin`.
    static let currentVersion = 3

    struct Dependency: Codable, Sendable, Equatable {
        let path: String
        let sha256: String
        /// The file's identity when it was hashed (FileStamp): while it is
        /// the same, so are the bytes, and a warm run need not read them.
        var stamp: String?

        /// `path` as it is now, stamped before it is read, so that a change
        /// made while it is hashed leaves a stamp that no longer matches.
        static func of(_ path: String) throws -> Dependency {
            let stamp = FileStamp.of(path)
            return Dependency(path: path, sha256: try Digest.ofPath(path), stamp: stamp)
        }

        /// nil when the file still has these bytes, else what happened to it.
        var change: String? {
            if let stamp, FileStamp.of(path) == stamp { return nil }
            guard let digest = try? Digest.ofPath(path) else { return "\(path) is gone" }
            return digest == sha256 ? nil : "\(path) changed"
        }
    }

    /// One file of the saved machine, as it was when published.
    struct SavedFile: Codable, Sendable, Equatable {
        /// Relative to the entry's directory ("machine/state.zst").
        let path: String
        let size: Int64
        let sha256: String
        /// `sha256` is a SparseDigest (of the data pages), not of every byte.
        var sparse: Bool?

        func digest(at path: String) throws -> String { try Self.digest(of: path, sparse: sparse == true) }

        static func digest(of path: String, sparse: Bool) throws -> String {
            sparse ? try SparseDigest.of(path) : try Digest.ofFile(path)
        }

        /// Under `machine/`, no step up or aside, a size and a SHA-256.
        var isWellFormed: Bool {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count >= 2 && parts[0] == "machine" && !parts.dropFirst().contains { $0.isEmpty || $0 == "." || $0 == ".." }
                && size >= 0 && sha256.utf8.count == 64 && sha256.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
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
    /// Every file of the saved machine (v2): what damage is measured against.
    var files: [SavedFile]?
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
        if let stray = manifest.files?.first(where: { !$0.isWellFormed }) {
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
