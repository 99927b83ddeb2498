import Crypto
import Glibc
import HostModel

/// The digest of a sparse file, such as a RAM state saved with QEMU's
/// mapped-ram (512 MiB apparent, a tenth of it data): SHA-256 over each
/// 4 KiB page that is not all zeros, preceded by its offset, then the size.
/// It depends on the bytes alone, not on where a filesystem keeps holes, so
/// a copy that filled them in has the same digest; reading only the data
/// (SEEK_DATA, SEEK_HOLE) makes it cost what the data costs, where hashing
/// every byte of the file would cost seconds per save.
enum SparseDigest {
    static let page = 4096
    /// lseek's whence values for data and holes (Linux), which Glibc's
    /// module leaves out (they need _GNU_SOURCE).
    private static let seekData: Int32 = 3, seekHole: Int32 = 4

    static func of(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HostError(.environment, "cannot read \(path)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw HostError(.environment, "cannot read \(path)") }
        let size = Int64(info.st_size)
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 256 * Self.page)
        var offset: Int64 = 0
        while offset < size {
            let data = Int64(lseek(fd, off_t(offset), seekData))
            guard data >= 0 else { break } // ENXIO: only a hole is left
            // Whole pages: a hole may start inside one on a filesystem of smaller blocks.
            let hole = Int64(lseek(fd, off_t(data), seekHole)), page = Int64(Self.page)
            let end = min((hole + page - 1) / page * page, size)
            var position = data - data % page
            while position < end {
                let count = min(buffer.count, Int(end - position))
                let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(position)) }
                guard read > 0 else { throw HostError(.environment, "cannot read \(path)") }
                buffer.withUnsafeBytes { bytes in
                    var start = 0
                    while start < read {
                        let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + Self.page, read)])
                        if !isZero(chunk) {
                            withUnsafeBytes(of: (position + Int64(start)).littleEndian) { hasher.update(bufferPointer: $0) }
                            hasher.update(bufferPointer: chunk)
                        }
                        start += Self.page
                    }
                }
                position += Int64(read)
            }
            offset = max(end, position)
        }
        withUnsafeBytes(of: size.littleEndian) { hasher.update(bufferPointer: $0) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a file holds less than half its size in data: worth the sparse digest.
    static func isSparse(_ info: stat) -> Bool { Int64(info.st_blocks) * 512 < Int64(info.st_size) / 2 }

    private static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
            index += 8
        }
        return bytes[index...].allSatisfy { $0 == 0 }
    }
}
