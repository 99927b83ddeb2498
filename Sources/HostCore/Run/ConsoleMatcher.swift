import Foundation
import HostModel

/// Finds an expected literal or POSIX extended regular expression in
/// console output, as services->console_expect promises.
struct ConsoleMatcher {
    private let literal: [UInt8]?
    private let pattern: String

    init(pattern: String, regex: Bool) throws {
        self.pattern = pattern
        literal = regex ? nil : Array(pattern.utf8)
        if regex {
            var compiled = regex_t()
            guard regcomp(&compiled, pattern, REG_EXTENDED) == 0 else {
                throw HostError(.plugin, "/\(pattern)/ is not a valid POSIX extended regular expression")
            }
            regfree(&compiled)
        }
    }

    /// The offset just past the first match, or nil.
    func matchEnd(in bytes: [UInt8]) -> Int? {
        if let literal {
            guard !literal.isEmpty, bytes.count >= literal.count else { return literal.isEmpty ? 0 : nil }
            for start in 0...(bytes.count - literal.count) where bytes[start..<(start + literal.count)].elementsEqual(literal) {
                return start + literal.count
            }
            return nil
        }
        var compiled = regex_t()
        guard regcomp(&compiled, pattern, REG_EXTENDED) == 0 else { return nil }
        defer { regfree(&compiled) }
        // regexec runs on the bytes as they came (so match offsets are offsets
        // into them), NUL-terminated, with NULs inside mapped to spaces.
        let text = bytes.map { CChar(bitPattern: $0 == 0 ? 0x20 : $0) } + [0]
        var match = regmatch_t()
        guard regexec(&compiled, text, 1, &match, 0) == 0 else { return nil }
        return Int(match.rm_eo)
    }
}
