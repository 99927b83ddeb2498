import PluginKit
/// Dotted release numbers ("7.2.19", "4.1"), compared part by part as numbers.
public enum VersionNumber {
    /// Whether `version` is an earlier release than `other` ("7.2.19" before "10.0.2").
    public static func isOlder(_ version: String, than other: String) -> Bool {
        func parts(_ text: String) -> [Int] { text.split(separator: ".").compactMap { Int($0) } }
        return parts(version).lexicographicallyPrecedes(parts(other))
    }
}
