/// A machine's address in an OCI registry, `HOST[:PORT]/PATH[:TAG]` or
/// `HOST[:PORT]/PATH@sha256:HEX`, checked by the distribution spec's rules
/// before skopeo is asked anything. A word with a `/` or a `:` is a
/// reference; one without is a local name (MachineNames).
package struct RegistryReference: CustomStringConvertible, Equatable, Sendable {
    /// Everything before the tag or digest ("registry.example/team/debian").
    package let repository: String
    package let tag: String?
    package let digest: String?

    package var description: String { repository + (digest.map { "@" + $0 } ?? ":" + (tag ?? "")) }
    /// skopeo's transport name for it.
    package var transport: String { "docker://" + description }

    package static func looksLikeReference(_ word: String) -> Bool { word.contains("/") || word.contains(":") }

    package init(_ text: String) throws {
        func bad(_ why: String) -> HostError {
            HostError.usage("\(text.debugDescription) is not a registry reference: \(why); write one like registry.example:5000/team/debian-patch:1")
        }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = String(rest[rest.index(after: at)...])
            guard digest.hasPrefix("sha256:"), digest.utf8.count == 71,
                  digest.dropFirst(7).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { throw bad("a digest is sha256: and 64 lowercase hex digits") }
            self.digest = digest
            rest = rest[..<at]
        } else {
            digest = nil
        }
        // A tag's colon comes after the last slash; one before it is the port's.
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tag = String(rest[rest.index(after: colon)...])
            guard digest == nil else { throw bad("give a tag or a digest, not both") }
            guard let first = tag.first, first.isLetter || first.isNumber || first == "_", tag.utf8.count <= 128,
                  tag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
                throw bad("a tag is up to 128 letters, digits, _ . and -, not starting with . or -")
            }
            self.tag = tag
            rest = rest[..<colon]
        } else {
            tag = digest == nil ? "latest" : nil // as skopeo and docker read it
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { throw bad("it names no registry host and repository") }
        let host = parts[0]
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }) else {
            throw bad("\(host.debugDescription) is not a registry host")
        }
        for part in parts.dropFirst() {
            // Lowercase letters and digits, joined by single separators.
            let valid = !part.isEmpty && part.first.map({ $0.isLowercase || $0.isNumber }) == true
                && part.last.map({ $0.isLowercase || $0.isNumber }) == true
                && part.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) })
            guard valid else { throw bad("\(part.debugDescription) is not a repository name part (lowercase letters, digits, . _ -)") }
        }
        repository = String(rest)
    }
}
