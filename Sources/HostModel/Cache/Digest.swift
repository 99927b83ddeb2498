import Crypto
import FoundationEssentials

/// SHA-256 in lower-case hex, the one digest host uses for cache keys,
/// plugin files and file dependencies. Of bytes in memory here; HostCore
/// streams a file through it (Digest.ofFile).
package enum Digest {
    package static func of(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    package static func of(_ text: String) -> String { of(Data(text.utf8)) }

    /// A finished hash as two lower-case hex digits a byte, as
    /// String(format: "%02x") wrote it.
    package static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
