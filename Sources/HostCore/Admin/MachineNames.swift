import Foundation
import HostModel

/// Names for cached machines, kept beside the cache: local tags (`host tag
/// dev PIPELINE`, `host from dev`) in `tags/NAME`, and the registry
/// references this cache pulled in `pulled/SHA256-OF-REFERENCE`, so that
/// `host from REF` works offline once pulled. A name is only a pointer: the
/// machine is the entry it names, which cleanup keeps for a tag.
struct MachineNames {
    struct Record: Codable {
        let name: String
        let key: String
        /// The pipeline as it was typed, to say what to run should the machine go.
        let pipeline: String
        let created: Date
        /// For a pulled reference: the manifest digest it had.
        var digest: String?
    }

    let location: CacheLocation
    private var tags: URL { location.root.appendingPathComponent("tags") }
    private var pulled: URL { location.root.appendingPathComponent("pulled") }

    /// A local name: letters, digits, `.`, `_` and `-`, no `/` or `:` (so it
    /// never reads as a registry reference), not starting with `-` or `.`.
    /// `example`: a command that uses a good one, for the message.
    static func checkName(_ name: String, example: String = "host tag dev os.debian") throws {
        guard let first = name.first, first.isLetter || first.isNumber || first == "_", name.utf8.count <= 128,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw HostError.usage("\(name.debugDescription) is not a local name: use letters, digits, . _ and - (no / or :, which make a registry reference), as in `\(example)`")
        }
    }

    func tag(_ name: String) -> Record? { read(tags.appendingPathComponent(name)) }
    func setTag(_ record: Record) throws { try write(record, to: tags.appendingPathComponent(record.name)) }
    func deleteTag(_ name: String) -> Bool { (try? FileManager.default.removeItem(at: tags.appendingPathComponent(name))) != nil }

    func allTags() -> [Record] {
        ((try? FileManager.default.contentsOfDirectory(atPath: tags.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            .compactMap { read(tags.appendingPathComponent($0)) }
    }

    func pulled(_ reference: RegistryReference) -> Record? { read(pulled.appendingPathComponent(Digest.of(reference.description))) }
    func setPulled(_ record: Record) throws { try write(record, to: pulled.appendingPathComponent(Digest.of(record.name))) }

    private func read(_ file: URL) -> Record? {
        guard let data = try? Data(contentsOf: file) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Record.self, from: data)
    }

    /// Whole or not at all: written beside, then renamed.
    private func write(_ record: Record, to file: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try encoder.encode(record).write(to: file, options: .atomic)
    }
}

/// A local name, as `host tag --list` shows it.
public struct TagRow: Sendable {
    public let name: String
    public let key: String
    public let pipeline: String
    public let created: Date
    /// Whether the machine it names is still cached.
    public let cached: Bool
}

extension Engine {
    /// `host tag NAME PIPELINE...`: builds the pipeline (or reuses the
    /// cache) and names the machine it yields. Returns its key.
    public func tag(_ name: String, pipeline words: [String]) throws -> String {
        try MachineNames.checkName(name)
        guard !words.isEmpty else { throw HostError.usage("tag needs the pipeline that makes the machine, as in `host tag \(name) os.debian`") }
        guard let entry = try execute(words, keeping: true) else {
            throw HostError.usage("the pipeline's last step returned no machine, so there is nothing to name")
        }
        try MachineNames(location: store.location).setTag(.init(name: name, key: entry.key, pipeline: words.map(ShellWord.quote).joined(separator: " "),
                                                                created: Date()))
        return entry.key
    }
}

extension CacheAdmin {
    public func tags() -> [TagRow] {
        MachineNames(location: location).allTags().map {
            TagRow(name: $0.name, key: $0.key, pipeline: $0.pipeline, created: $0.created,
                   cached: FileManager.default.fileExists(atPath: location.entry($0.key).path))
        }
    }

    /// Removes a local name (not the machine: cleanup may now remove it).
    public func deleteTag(_ name: String) throws {
        try MachineNames.checkName(name)
        guard MachineNames(location: location).deleteTag(name) else {
            throw HostError.usage("no machine is named \(name); `host tag --list` shows the local names")
        }
    }
}

extension CacheAdmin {
    /// The local names, for shell completion: read without touching the cache.
    public static func tagNames(_ location: CacheLocation = .fromEnvironment()) -> [String] {
        MachineNames(location: location).allTags().map(\.name)
    }
}
