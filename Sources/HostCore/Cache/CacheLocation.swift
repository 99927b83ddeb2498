import ChildProcess
import Foundation
import HostModel

/// Every path host keeps state in, derived from one root:
/// `$HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/host`, else `~/.cache/host`.
public struct CacheLocation: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> CacheLocation {
        CacheLocation(root: SharedRules.cacheRoot(environment))
    }

    /// Published machines, one directory per cache key.
    public var machines: URL { root.appendingPathComponent("machines") }
    /// Machines being built or used by a run; swept when their run is gone.
    public var temporary: URL { machines.appendingPathComponent(".tmp") }
    /// Where machines of transient steps may live, never published, in
    /// order: in memory where the system offers a tmpfs (`$XDG_RUNTIME_DIR`,
    /// /dev/shm), else /tmp. One directory per user and cache, so test
    /// sandboxes and users never share one. That name is predictable: where
    /// another user made it first, a fresh one of an unpredictable name
    /// (mkdtemp, `NAME.XXXXXX`) beside it is used instead (CacheStore).
    public func transientCandidates(environment: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
        let bases = [environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) },
                     FileManager.default.isWritableFile(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : nil,
                     URL(fileURLWithPath: "/tmp")].compactMap { $0 }
        return bases.map { $0.appendingPathComponent("host-\(getuid())-\(Digest.of(root.path).prefix(12))") }
    }

    /// The fresh directories runs made beside taken candidates, for the sweep.
    func transientFallbacks() -> [URL] {
        transientCandidates().flatMap { candidate in
            let base = candidate.deletingLastPathComponent(), prefix = candidate.lastPathComponent + "."
            return ((try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? [])
                .filter { $0.hasPrefix(prefix) }.map { base.appendingPathComponent($0) }
        }
    }
    /// Entries being deleted: renamed here first so removal is atomic.
    public var trash: URL { machines.appendingPathComponent(".trash") }
    /// flock files: `KEY.build` (held while building) and `KEY.use` (shared
    /// while a run uses the entry; cleanup needs it exclusively).
    public var locks: URL { root.appendingPathComponent("locks") }

    /// What every plugin file offers, or why it failed (PluginIndexFile).
    public var pluginIndex: URL { root.appendingPathComponent("plugins.json") }
    /// Digests of host files by identity, so warm runs do not read them (PathDigests).
    public var pathDigests: URL { root.appendingPathComponent("digests.json") }
    /// The logs of steps that failed, kept for the user to read.
    public var logs: URL { root.appendingPathComponent("logs") }
    /// The shared package cache (apt-cacher-ng), which the plugins that use
    /// it start (PluginKit's PackageCache).
    public var packages: URL { root.appendingPathComponent("packages") }

    public func entry(_ key: String) -> URL { machines.appendingPathComponent(key) }

    /// `keys` and every entry they were built on, as their manifests say:
    /// what a name (a tag, a named machine) keeps from cleanup.
    func withAncestors(_ keys: [String]) -> Set<String> {
        var found = Set<String>()
        for start in keys {
            var key: String? = start
            while let current = key, found.insert(current).inserted,
                  case let .valid(manifest) = Manifest.read(from: entry(current).appendingPathComponent("manifest.json")) {
                key = manifest.parentKey
            }
        }
        return found
    }

    func prepare() throws {
        for dir in [machines, temporary, trash, locks] {
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw HostError(system: error)
            }
        }
    }
}
