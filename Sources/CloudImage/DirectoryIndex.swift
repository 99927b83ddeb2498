import Foundation

/// The file names in a mirror's directory listing: the HTML page Apache's
/// or nginx's autoindex serves (Fedora's and Alpine's mirrors use both).
/// Only the link targets are read, so either layout, and a listing a
/// mirror styled itself, parse the same way.
public enum DirectoryIndex {
    public static func names(in html: String) -> [String] {
        var names: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "href=\"", options: .caseInsensitive) {
            rest = rest[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            let target = String(rest[..<end])
            rest = rest[end...]
            // Sorting links (?C=M;O=A) are not entries; parents, absolute
            // links and paths (%2F or %2E%2E spelt out too) are not names in
            // this directory.
            guard !target.contains("?"), !target.contains("://") else { continue }
            let name = target.removingPercentEncoding ?? target
            guard Self.isEntry(name), !names.contains(name) else { continue }
            names.append(name)
        }
        return names
    }

    /// A file, or a directory written with its trailing slash.
    static func isEntry(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let file = parts.count == 2 && parts[1].isEmpty ? parts[0] : parts.count == 1 ? parts[0] : ""
        return !file.isEmpty && file != "." && file != ".." && !file.contains("\0")
    }
}

/// Version-aware ordering ("1.10" after "1.9") for picking the newest file.
func newestFirst(_ names: [String]) -> [String] {
    names.sorted { $0.compare($1, options: .numeric) == .orderedDescending }
}
