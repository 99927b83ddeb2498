import Foundation
import PluginABI

/// Every plugin host could find, the steps they offer, and why any failed.
/// A broken plugin never stops the others from loading.
public final class PluginRegistry: @unchecked Sendable {
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
    /// `$HOST_PLUGIN_PATH`, then `~/.local/lib/host/plugins`.
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
        dirs.append(home.appendingPathComponent(".local/lib/host/plugins"))
        return dirs
    }

    public init(searching directories: [URL]) {
        var seen: Set<String> = []
        for directory in directories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where name.hasSuffix(".so") {
                let path = directory.appendingPathComponent(name).resolvingSymlinksInPath().path
                guard seen.insert(path).inserted else { continue }
                load(path)
            }
        }
    }

    private func load(_ path: String) {
        if let problem = ELFCheck.problem(with: path) {
            failures.append(Failure(path: path, reason: "the file \(problem)"))
            return
        }
        do {
            let library = try DynamicLibrary.open(path)
            guard let symbol = library.symbol(HOST_PLUGIN_ENTRY_V1) else {
                failures.append(Failure(path: path, reason: "it exports no \(HOST_PLUGIN_ENTRY_V1) function; a plugin must export it (see host_plugin.h)"))
                return
            }
            let entry = unsafeBitCast(symbol, to: host_plugin_entry_fn.self)
            guard let descriptor = entry() else {
                failures.append(Failure(path: path, reason: "its \(HOST_PLUGIN_ENTRY_V1) returned NULL"))
                return
            }
            let (plugin, steps) = try DescriptorReader.read(UnsafeRawPointer(descriptor), path: path)
            if let other = plugins.first(where: { $0.name == plugin.name }) {
                failures.append(Failure(path: path, reason: "plugin name \(plugin.name) is already taken by \(other.path)"))
                return
            }
            plugins.append(plugin)
            for step in steps { register(step) }
        } catch let error as DescriptorReader.Invalid {
            failures.append(Failure(path: path, reason: error.reason))
        } catch {
            failures.append(Failure(path: path, reason: String(describing: error)))
        }
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
        var message = "unknown step \(name)"
        let near = suggestions(for: name)
        if !near.isEmpty { message += "; did you mean \(near.joined(separator: ", "))?" }
        message += " (`host list-plugins` shows every step"
        if !failures.isEmpty { message += "; \(failures.count) plugin file(s) failed to load" }
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
