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
            // Sorting links (?C=M;O=A), parents and absolute links are not entries.
            guard !target.contains("?"), !target.hasPrefix("/"), !target.hasPrefix(".."), !target.contains("://") else { continue }
            let name = target.removingPercentEncoding ?? target
            if !names.contains(name) { names.append(name) }
        }
        return names
    }
}

/// Version-aware ordering ("1.10" after "1.9") for picking the newest file.
func newestFirst(_ names: [String]) -> [String] {
    names.sorted { $0.compare($1, options: .numeric) == .orderedDescending }
}
