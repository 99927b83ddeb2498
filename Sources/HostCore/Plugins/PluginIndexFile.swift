import Foundation
import HostModel

/// The plugin index kept under the cache root (`plugins.json`), as
/// GStreamer keeps registry.bin: for each plugin file its identity, digest
/// and whole descriptor, or why it failed. A file is scanned again only
/// when it or host itself changes, so a run reads this file instead of
/// loading every plugin, and a plugin that crashed while scanned is not
/// tried again on every run.
struct PluginIndexFile: Codable {
    /// 2: steps record the capabilities their backend offers.
    static let version = 2

    struct Scanned: Codable {
        let name: String
        let version: String
        let digest: String
        let steps: [StepRecord]
    }

    struct Record: Codable {
        let path: String
        /// nil when the file could not even be stat'ed.
        let identity: FileIdentity?
        var scanned: Scanned?
        var failure: String?
        /// The failure may lie outside the file (a shared library it needs
        /// is missing): `list-plugins` tries it again.
        var retryable = false
        /// Not scanned at all (the scanner itself could not run): reported,
        /// never kept, so the next run scans the file.
        var unscanned: Bool?
    }

    var version = PluginIndexFile.version
    /// The host binary that scanned these: a new host reads descriptors anew.
    var host: FileIdentity?
    var records: [Record] = []

    /// The cache in `file`, or an empty one when it is missing, unreadable,
    /// of another version, or written by another host binary.
    static func read(_ file: URL, host: FileIdentity?) -> PluginIndexFile {
        guard let data = try? Data(contentsOf: file),
              let cache = try? JSONDecoder().decode(PluginIndexFile.self, from: data),
              cache.version == version, cache.host == host
        else { return PluginIndexFile(host: host) }
        return cache
    }

    /// Written whole and renamed into place: a reader sees the old file or
    /// the new one. Two runs writing at once lose nothing but a rescan.
    func write(_ file: URL) {
        guard let data = try? JSONEncoder().encode(self) else { return }
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid())")
        guard (try? data.write(to: temporary)) != nil else { return }
        if rename(temporary.path, file.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
    }
}
