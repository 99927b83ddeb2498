/// A typed argument, converted from command-line words. Its canonical text
/// is what goes into cache keys, so equal arguments always give equal keys.
package enum ArgumentValue: Equatable, Sendable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case list([String])
    case pairs([Pair])
    /// A host path (HOST_PARAM_PATH): as given until the step resolves it
    /// (CatalogStep.resolvePath; HostCore's PathArguments), then absolute,
    /// with the digest of what it names.
    case path(String, digest: String)

    package struct Pair: Equatable, Sendable {
        package let key: String
        package let value: String

        package init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    package struct Unconvertible: Error { package let expected: String }

    /// Converts one command-line value to a scalar type.
    package static func parse(_ text: String, as type: ParameterType) throws -> ArgumentValue {
        switch type {
        case .string: return .string(text)
        case .int:
            guard let value = Int64(text) else { throw Unconvertible(expected: "a whole number such as 3") }
            return .int(value)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "on", "1": return .bool(true)
            case "false", "no", "off", "0": return .bool(false)
            default: throw Unconvertible(expected: "true or false")
            }
        case .double:
            guard let value = Double(text), value.isFinite else { throw Unconvertible(expected: "a number such as 1.5") }
            return .double(value)
        case .list, .rest: return .list([text])
        case .kwargs: throw Unconvertible(expected: "key=value pairs")
        case .path: return .path(text, digest: "")
        }
    }

    /// A default as host_plugin.h writes it: list items separated by '\n'.
    package static func parseDefault(_ text: String, as type: ParameterType) throws -> ArgumentValue {
        switch type {
        // By Character, as Foundation's components(separatedBy:) did: "\r\n" is one, and not a "\n".
        case .list, .rest: return .list(text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        default: return try parse(text, as: type)
        }
    }

    /// The value as command-line words: one, or one per list item.
    package var words: [String] {
        switch self {
        case let .string(s): [s]
        case let .int(i): [String(i)]
        case let .bool(b): [b ? "true" : "false"]
        case let .double(d): ["\(d)"]
        case let .list(items): items
        case let .pairs(pairs): pairs.map { "\($0.key)=\($0.value)" }
        case let .path(path, _): [path]
        }
    }

    /// JSON-like canonical text: typed, so "1" the string and 1 the int differ.
    /// A path is its content's digest, never its text: where it lies does
    /// not matter, what it holds does.
    package var canonical: String {
        let quote = Self.quoted
        switch self {
        case let .string(s): return quote(s)
        case let .int(i): return String(i)
        case let .bool(b): return b ? "true" : "false"
        case let .double(d): return "\(d)"
        case let .list(items): return "[" + items.map(quote).joined(separator: ",") + "]"
        case let .pairs(pairs): return "{" + pairs.map { quote($0.key) + ":" + quote($0.value) }.joined(separator: ",") + "}"
        case let .path(path, digest): return digest.isEmpty ? quote(path) : "{\"sha256\":\"\(digest)\"}"
        }
    }

    /// `text` as a JSON string, byte for byte as JSONSerialization wrote it
    /// with .withoutEscapingSlashes when keys were first made (cache keys
    /// depend on it; GoldenKeyTests, QuotingTests): `"` and `\` escaped,
    /// \b \f \n \r \t short, other C0 controls as \u00xx (lowercase hex),
    /// everything else, `/`, DEL and non-ASCII included, as it is.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
