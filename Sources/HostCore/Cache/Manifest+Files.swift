import Foundation
import HostModel

/// The manifest's file, and the files it lists: what of Manifest reads or
/// hashes the disk, kept out of HostModel.
extension Manifest {
    static func read(from url: URL) -> ReadResult {
        guard let data = try? Data(contentsOf: url) else { return .unreadable("its manifest is missing") }
        return parse(data)
    }

    func write(to url: URL) throws {
        try encoded().write(to: url, options: .atomic)
    }
}

extension Manifest.Dependency {
    /// `path` as it is now, stamped before it is read, so that a change
    /// made while it is hashed leaves a stamp that no longer matches.
    static func of(_ path: String) throws -> Manifest.Dependency {
        let stamp = FileIdentity.stamp(of: path)
        return Manifest.Dependency(path: path, sha256: try PathDigests.shared.digest(of: path), stamp: stamp)
    }

    /// nil when the file still has these bytes, else what happened to it.
    var change: String? {
        if let stamp, FileIdentity.stamp(of: path) == stamp { return nil }
        guard let digest = try? PathDigests.shared.digest(of: path) else { return "\(path) is gone" }
        return digest == sha256 ? nil : "\(path) changed"
    }
}

extension Manifest.SavedPath {
    func digest(at path: String) throws -> String { try Self.digest(of: path, sparse: sparse == true) }

    static func digest(of path: String, sparse: Bool) throws -> String {
        sparse ? try SparseDigest.of(path) : try Digest.ofFile(path)
    }
}
