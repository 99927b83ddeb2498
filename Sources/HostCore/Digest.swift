import Crypto
import Foundation

/// SHA-256 in lower-case hex, the one digest host uses for cache keys,
/// plugin files and file dependencies.
enum Digest {
    static func of(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func of(_ text: String) -> String { of(Data(text.utf8)) }

    /// A file's digest, or for a directory the digest of every file's
    /// relative path and digest, so that a tree can be a dependency too.
    static func ofPath(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw HostError(.environment, "\(path) does not exist")
        }
        guard isDirectory.boolValue else { return try ofFile(path) }
        let walker = FileManager.default.enumerator(atPath: path)
        var lines: [String] = []
        while let relative = walker?.nextObject() as? String {
            let full = path + "/" + relative
            var inner: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: full, isDirectory: &inner)
            lines.append(inner.boolValue ? "\(relative)/" : "\(relative) \(try ofFile(full))")
        }
        return of(lines.sorted().joined(separator: "\n"))
    }

    /// Streams the file so a large dependency or download is not read into
    /// memory whole. SHA-256 unless another hash is given.
    static func ofFile<H: HashFunction>(_ path: String, using hasher: H = SHA256()) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw HostError(.environment, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = hasher
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
