import Crypto
import Foundation

/// SHA-256 in lower-case hex, the one digest host uses for cache keys,
/// plugin files and file dependencies.
enum Digest {
    static func of(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func of(_ text: String) -> String { of(Data(text.utf8)) }

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
