/// A word as a person would type it in a shell: plain words as they are,
/// any other in single quotes. How manifests, tags and messages show a
/// pipeline, so what they show can be pasted back.
package enum ShellWord {
    package static func quote(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_=./,:@%+".contains($0) }
        // By Character, as Foundation's replacingOccurrences(of:with:) did.
        return plain && !word.isEmpty ? word : "'" + word.replacing("'", with: "'\\''") + "'"
    }
}
