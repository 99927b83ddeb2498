import Foundation

/// A typed argument, converted from command-line words. Its canonical text
/// is what goes into cache keys, so equal arguments always give equal keys.
enum ArgumentValue: Equatable, Sendable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case list([String])
    case pairs([Pair])
    /// A host path (HOST_PARAM_PATH): as given until the binder resolves it
    /// (PathArguments), then absolute, with the digest of what it names.
    case path(String, digest: String)

    struct Pair: Equatable, Sendable { let key: String; let value: String }

    struct Unconvertible: Error { let expected: String }

    /// Converts one command-line value to a scalar type.
    static func parse(_ text: String, as type: ParameterType) throws -> ArgumentValue {
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
    static func parseDefault(_ text: String, as type: ParameterType) throws -> ArgumentValue {
        switch type {
        case .list, .rest: return .list(text.isEmpty ? [] : text.components(separatedBy: "\n"))
        default: return try parse(text, as: type)
        }
    }

    /// The value as command-line words: one, or one per list item.
    var words: [String] {
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
    var canonical: String {
        func quote(_ s: String) -> String {
            // JSONSerialization escapes exactly as JSON needs; a string always encodes.
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data()
            return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        }
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
}
