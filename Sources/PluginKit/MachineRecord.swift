import Foundation

/// What a backend keeps about a saved machine, as JSON in the machine's
/// directory. Paths in it are relative for the machine's own files (the
/// directory moves when host publishes it) and absolute for its ancestors'
/// files, which stay where host published them.
public protocol MachineRecord: Codable {
    static var fileName: String { get }
    /// The format's version; only 1 is read.
    var version: Int { get }
}

extension MachineRecord {
    public static func load(from directory: URL) throws -> Self {
        let url = directory.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw StepError("\(url.path) is missing") }
        return try decode(data, named: url.path)
    }

    /// The record in `data`, read from the file `name`.
    public static func decode(_ data: Data, named name: String) throws -> Self {
        let record = try JSONDecoder().decode(Self.self, from: data)
        guard record.version == 1 else { throw StepError("\(name) has unknown version \(record.version)") }
        return record
    }

    public func save(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent(Self.fileName), options: .atomic)
    }

    /// `path` as an absolute path, relative ones taken from `directory`.
    public static func resolve(_ path: String, in directory: URL) -> String {
        path.hasPrefix("/") ? path : directory.appendingPathComponent(path).path
    }
}
