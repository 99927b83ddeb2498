import Foundation
import HostModel
import PluginABI

/// Every plugin host could find, the steps they offer, and why any failed.
/// A broken plugin never stops the others from loading, and no plugin's
/// code runs in this process until a pipeline uses one of its steps.
public final class PluginIndex: @unchecked Sendable {
    public struct Failure: Sendable {
        public let path: String
        public let reason: String
    }

    public private(set) var plugins: [PluginInfo] = []
    public private(set) var failures: [Failure] = []
    /// Steps offered by exactly one plugin.
    private var unique: [String: StepInfo] = [:]
    /// Step names offered more than once, with every file offering them.
    public private(set) var conflicts: [String: [String]] = [:]

    /// Where plugins are looked for, in order: the plugin directory installed
    /// next to the executable (`BIN/../lib/host/plugins`), each entry of
    /// `$HOST_PLUGIN_PATH`, then the user's own (userDirectory) and
    /// `~/.local/lib/host/plugins`.
    public static func searchPath(environment: [String: String] = ProcessInfo.processInfo.environment,
                                  executable: URL? = Bundle.main.executableURL) -> [URL] {
        var dirs: [URL] = []
        if let executable {
            dirs.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("../lib/host/plugins").standardizedFileURL)
        }
        for entry in (environment["HOST_PLUGIN_PATH"] ?? "").split(separator: ":") where !entry.isEmpty {
            dirs.append(URL(fileURLWithPath: String(entry)))
        }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        dirs.append(userDirectory(environment: environment))
        dirs.append(home.appendingPathComponent(".local/lib/host/plugins"))
        return dirs
    }

    /// A user's own plugins, beside their configuration:
    /// `$XDG_CONFIG_HOME/host/plugins`, else `~/.config/host/plugins`.
    public static func userDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) } ?? home.appendingPathComponent(".config")
        return config.appendingPathComponent("host/plugins")
    }

    /// The plugins in `directories`. What each offers comes from the plugin index
    /// file in `cache`; files that are new or changed since (or every file,
    /// when host itself changed) are read by a scanner child of
    /// `executable`. With `retryFailures`, failures that may have been fixed
    /// outside the file (a missing library installed since) are tried again.
    public init(searching directories: [URL], cache: CacheLocation,
                executable: String = Bundle.main.executablePath ?? "/proc/self/exe", retryFailures: Bool = false) {
        var paths: [String] = []
        for directory in directories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where name.hasSuffix(".so") {
                let path = directory.appendingPathComponent(name).resolvingSymlinksInPath().path
                if !paths.contains(path) { paths.append(path) }
            }
        }
        let file = cache.pluginIndex
        var index = PluginIndexFile.read(file, host: FileIdentity(executable))
        var known = Dictionary(index.records.map { ($0.path, $0) }) { first, _ in first }
        let stale = paths.filter { path in
            guard let record = known[path], record.identity == FileIdentity(path) else { return true }
            return retryFailures && record.retryable
        }
        if !stale.isEmpty {
            for record in PluginScanner.scan(stale, executable: executable) { known[record.path] = record }
        }
        let records = paths.compactMap { known[$0] }
        if !stale.isEmpty || records.count != index.records.count {
            index.records = records.filter { $0.unscanned != true }
            try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            index.write(file)
        }
        for record in records { add(record) }
    }

    /// The plugins a plugin index holds, as they are: no disk is read and
    /// no scanner started (the unit tests' fixed catalogs).
    init(records: [PluginIndexFile.Record]) {
        for record in records { add(record) }
    }

    private func add(_ record: PluginIndexFile.Record) {
        guard let scanned = record.scanned, let identity = record.identity else {
            failures.append(Failure(path: record.path, reason: record.failure ?? "it could not be read"))
            return
        }
        if let other = plugins.first(where: { $0.name == scanned.name }) {
            failures.append(Failure(path: record.path, reason: "plugin name \(scanned.name) is already taken by \(other.path)"))
            return
        }
        let plugin = PluginInfo(name: scanned.name, version: scanned.version, path: record.path, digest: scanned.digest, identity: identity)
        plugins.append(plugin)
        for step in scanned.steps { register(StepInfo(record: step, plugin: plugin)) }
    }

    private func register(_ step: StepInfo) {
        if var files = conflicts[step.name] {
            files.append(step.plugin.path)
            conflicts[step.name] = files
        } else if let existing = unique.removeValue(forKey: step.name) {
            // Never shadow silently: neither copy runs until one is removed.
            conflicts[step.name] = [existing.plugin.path, step.plugin.path]
        } else {
            unique[step.name] = step
        }
    }

    public var steps: [StepInfo] { unique.values.sorted { $0.name < $1.name } }

    public func step(named name: String) throws -> StepInfo {
        if let step = unique[name] { return step }
        if let files = conflicts[name] {
            throw HostError(.plugin, "step \(name) is offered by more than one plugin: \(files.joined(separator: ", ")); remove all but one")
        }
        // Its plugin may be one that failed to load: by convention a step is
        // named after its plugin's file ("acme.hello" in acme.so,
        // "backend.qemu" in backend_qemu.so, "self_test.count" in self_test.so).
        let owns = { (file: String) -> Bool in
            let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            return [stem, stem.replacingOccurrences(of: "_", with: ".")].contains { name == $0 || name.hasPrefix($0 + ".") }
        }
        if let failed = failures.first(where: { owns($0.path) }) {
            throw HostError(.plugin, "step \(name) is not available: its plugin \(failed.path) failed to load: \(failed.reason)")
        }
        var message = "unknown step \(name)"
        let near = suggestions(for: name)
        if !near.isEmpty { message += "; did you mean \(near.joined(separator: ", "))?" }
        message += " (`host list-plugins` shows every step"
        if !failures.isEmpty {
            let named = failures.prefix(3).map(\.path).joined(separator: ", ") + (failures.count > 3 ? ", ..." : "")
            message += "; \(failures.count) plugin file(s) failed to load (\(named)), and it says why"
        }
        throw HostError.usage(message + ")")
    }

    /// The closest step names, nearest first: a typo or a prefix.
    func suggestions(for name: String) -> [String] {
        let scored = unique.keys.map { ($0, Self.distance($0, name)) }
            .filter { $0.1 <= max(2, name.count / 3) || $0.0.hasPrefix(name + ".") }
        return scored.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(3).map(\.0)
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
