import FuzzInput
@testable import CloudImage

/// What a mirror serves: a directory listing and a checksum file. A
/// mirror is someone else's server; whatever it sends, the names host
/// takes from a listing stay names in that directory, and a checksum is
/// only ever a whole SHA-256 or SHA-512 digest.
func fuzzMirror(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: data == nil ? 0 : count), as: UTF8.self)
    let names = DirectoryIndex.names(in: text)
    for name in names {
        let file = name.hasSuffix("/") ? String(name.dropLast()) : name
        precondition(!file.isEmpty && !file.contains("/") && file != "." && file != "..", "listing gave a path: \(name.debugDescription)")
    }
    precondition(Set(names).count == names.count, "a name listed twice")
    _ = newestFirst(names)
    for (name, sum) in ChecksumList.parse(text) {
        precondition(!name.isEmpty, "a checksum for no file")
        let parts = sum.split(separator: ":")
        precondition(parts.count == 2 && ["sha256": 64, "sha512": 128][String(parts[0])] == parts[1].count
                     && parts[1].allSatisfy { $0.isASCII && $0.isHexDigit && !$0.isUppercase }, "not a digest: \(sum)")
    }
    return 0
}
