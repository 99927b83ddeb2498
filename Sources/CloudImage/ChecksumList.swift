import Foundation

/// A published checksum file, as a map from file name to "ALGO:HEX".
/// Reads both formats the distributions publish: BSD style
/// (`SHA256 (name) = hex`, Fedora's CHECKSUM, inside a PGP clear-signed
/// message) and GNU coreutils style (`hex  name`, Alpine's .sha512 and
/// SHA256SUMS files), with the algorithm told by the digest's length.
public enum ChecksumList {
    public static func parse(_ text: String) -> [String: String] {
        var sums: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("-----") || line.hasPrefix("Hash:") { continue }
            if let open = line.firstIndex(of: "("), let close = line.range(of: ") = ", options: .backwards), open < close.lowerBound {
                // BSD: SHA256 (Fedora-Cloud-Base-Generic-42-1.1.x86_64.qcow2) = 0a1b...
                let algorithm = line[..<open].trimmingCharacters(in: .whitespaces).lowercased()
                let name = String(line[line.index(after: open)..<close.lowerBound])
                let hex = line[close.upperBound...].trimmingCharacters(in: .whitespaces).lowercased()
                if ["sha256", "sha512"].contains(algorithm), isDigest(hex, for: algorithm) { sums[name] = "\(algorithm):\(hex)" }
                continue
            }
            // GNU: <hex>  <name>, or <hex> *<name> for binary mode.
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard fields.count == 2 else { continue }
            let hex = fields[0].lowercased()
            var name = fields[1].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("*") { name.removeFirst() }
            let algorithm = hex.count == 64 ? "sha256" : hex.count == 128 ? "sha512" : ""
            if isDigest(hex, for: algorithm) { sums[(name as NSString).lastPathComponent] = "\(algorithm):\(hex)" }
        }
        return sums
    }

    private static func isDigest(_ hex: String, for algorithm: String) -> Bool {
        let length = ["sha256": 64, "sha512": 128][algorithm]
        return hex.count == length && hex.allSatisfy { $0.isASCII && $0.isHexDigit } // not fullwidth digits
    }
}
