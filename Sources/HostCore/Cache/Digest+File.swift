import Crypto
import Foundation
import HostModel

extension HostModel.Digest {
    /// Streams the file so a large dependency or download is not read into
    /// memory whole. SHA-256 unless another hash is given. Here, not in
    /// HostModel: it reads a file.
    static func ofFile<H: HashFunction>(_ path: String, using hasher: H = SHA256()) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw HostError(.environment, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = hasher
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }
}
