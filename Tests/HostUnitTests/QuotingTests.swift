import Foundation
@testable import HostModel
import Testing

/// HostModel replaced Foundation calls whose output enters cache keys and
/// manifests with its own code: each must give what Foundation gave, byte
/// for byte, or every user's cache would be rebuilt (GoldenKeyTests holds
/// the keys themselves).
@Suite struct QuotingTests {
    static let tricky = [
        "", "plain", "say \"hi\"", #"back\slash"#, "a/b/c", "//", "tab\there", "line\nbreak", "cr\rlf\r\n",
        "\u{08}\u{0C}", "\u{00}\u{01}\u{1B}\u{1F}", "\u{7F}\u{80}\u{9F}", "é", "e\u{301}", "日本語", "😀", "👩‍👩‍👧",
        "\u{2028}\u{2029}", "\u{FEFF}", "'single'", "it'\u{301}s", "mixed \"/\\\n\u{1}é😀",
    ]

    /// What ArgumentValue.canonical used before: JSONSerialization without escaped slashes.
    static func foundationQuote(_ text: String) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }

    @Test func quotingIsJSONSerializations() throws {
        var every = ""
        for value in 0..<0x100 { every.unicodeScalars.append(Unicode.Scalar(UInt8(value))) }
        for text in Self.tricky + [every] {
            #expect(ArgumentValue.quoted(text) == (try Self.foundationQuote(text)), "\(text.debugDescription)")
        }
    }

    /// List defaults split where components(separatedBy: "\n") split them ("\r\n" is one Character, not a "\n").
    @Test func defaultListsSplitAsFoundationDid() throws {
        for text in Self.tricky + ["a\n\nb\n", "\n", "x\r\ny"] where !text.isEmpty {
            #expect(try ArgumentValue.parseDefault(text, as: .list) == .list(text.components(separatedBy: "\n")), "\(text.debugDescription)")
        }
    }

    @Test func shellQuotingIsAsBefore() {
        for word in Self.tricky {
            let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_=./,:@%+".contains($0) }
            let before = plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
            #expect(ShellWord.quote(word) == before, "\(word.debugDescription)")
        }
    }

    @Test func hexIsStringFormats() {
        let bytes = (0...255).map(UInt8.init)
        #expect(Digest.hex(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Digest.of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
