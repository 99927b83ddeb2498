import ChildProcess
import Foundation
import HostModel
import PluginABI

/// `host cache ls` and `host cleanup`: what is cached and removing it, never
/// a machine another run is building or using.
public struct CacheAdmin {
    public struct Row: Sendable {
        public let key: String
        public let pipeline: String
        public let bytes: Int64
        public let created: Date?
        public let expires: Date?
        public let problem: String?
        /// For a pulled machine: the reference and manifest digest it came from.
        public let origin: (reference: String, digest: String)?
        /// The local names (`host tag`) that name it.
        public let tags: [String]
        /// Built by a plugin file no longer installed (its digest is in the
        /// key): no run can reuse it. nil when not asked or pulled.
        public var orphan: Bool?
    }

    public struct CleanupReport: Sendable {
        public var removed = 0
        public var freedBytes: Int64 = 0
        public var inUse: [String] = []
        /// Downloads removed (cloud images).
        public var downloads = 0
        /// Logs of failed steps removed.
        public var logs = 0
        /// Machines kept because a local name names them or one built on them.
        public var tagged = 0
        /// The shared package cache was stopped and emptied.
        public var packageCache = false
    }

    public enum Which: String, Sendable, CaseIterable { case all, expired }

    let store: CacheStore
    /// Asks the backends, once machines are removed, for what no machine
    /// names any more; nil when the cache is only read.
    private let sweep: BackendSweep?

    /// With `registry`, removed machines' backends are told (as `cleanup`
    /// needs); without, the cache is only read (`cache ls`).
    public init(cache: CacheLocation, registry: PluginIndex? = nil, output: Output = Output()) throws {
        guard let registry else {
            store = try CacheStore(location: cache, output: output)
            sweep = nil
            return
        }
        let services = CleanupServices(output: output)
        store = try CacheStore(location: cache, output: output, forget: BackendDriver(registry: registry, services: services).forget)
        sweep = BackendSweep(registry: registry, services: services, location: cache)
    }

    var location: CacheLocation { store.location }

    /// Every entry; with `installed`, each one built here says whether a
    /// plugin of that build is still installed.
    public func list(installed: PluginIndex? = nil) -> [Row] {
        let tags = Dictionary(grouping: MachineNames(location: location).allTags(), by: \.key)
        let digests = installed.map { Set($0.plugins.map(\.digest)) }
        return store.list().map {
            var row = Row(key: $0.key, pipeline: $0.manifest?.pipeline ?? "?", bytes: $0.bytes,
                          created: $0.manifest?.created, expires: $0.manifest?.expires, problem: $0.problem,
                          origin: $0.manifest?.origin.map { ($0.reference, $0.digest) }, tags: tags[$0.key]?.map(\.name) ?? [])
            if let digests, let manifest = $0.manifest, manifest.origin == nil { row.orphan = !digests.contains(manifest.pluginDigest) }
            return row
        }
    }

    /// `cache rm`: the entries `selectors` name (a key, or a unique prefix of
    /// one at least 4 long; or a pipeline as `cache ls` shows it, the
    /// default backend's step left out or not) and every entry built on
    /// them, leaves first; never one another run uses, nor one a local
    /// name keeps (`host tag --delete` first). A selector that names
    /// nothing, or more than one key, is a usage error and removes nothing.
    public func remove(_ selectors: [String]) throws -> CleanupReport {
        store.sweep()
        let listings = store.list()
        var chosen = Set<String>()
        for selector in selectors {
            let byKey = selector.count >= 4 ? listings.filter { $0.key.hasPrefix(selector) } : []
            let byPipeline = listings.filter { listing in
                guard let manifest = listing.manifest else { return false }
                return manifest.pipeline == selector || manifest.pipeline == manifest.backend + " + " + selector
            }
            if byKey.count > 1 {
                throw HostError.usage("\(selector) begins \(byKey.count) keys (\(byKey.prefix(3).map { String($0.key.prefix(12)) }.joined(separator: ", ")), ...); give more of the key")
            }
            guard !(byKey + byPipeline).isEmpty else {
                throw HostError.usage("no cached machine has the key or pipeline \(selector); `host cache ls` lists them")
            }
            chosen.formUnion((byKey + byPipeline).map(\.key))
        }
        // Whatever was built on a chosen entry goes with it.
        var children: [String: [String]] = [:]
        for listing in listings { if let parent = listing.manifest?.parentKey { children[parent, default: []].append(listing.key) } }
        var order: [String] = [], seen = Set<String>(), pending = Array(chosen)
        while let key = pending.popLast() {
            guard seen.insert(key).inserted else { continue }
            order.append(key) // after its parent: reversed, leaves go first
            pending += children[key] ?? []
        }
        var report = CleanupReport()
        let kept = namedChains(), bytes = Dictionary(uniqueKeysWithValues: listings.map { ($0.key, $0.bytes) })
        for key in order.reversed() {
            if kept.contains(key) {
                report.tagged += 1
            } else if try store.remove(key) {
                report.removed += 1
                report.freedBytes += bytes[key] ?? 0
            } else {
                report.inUse.append(key)
            }
        }
        store.sweep()
        return report
    }

    public struct Verification: Sendable {
        public let key: String
        public let pipeline: String
        /// nil: intact.
        public let problem: String?
    }

    /// Checks saved machines' files against their manifests: those not yet
    /// checked where they lie, or with `all` every one. A damaged entry is
    /// marked, so the next run rebuilds it.
    public func verify(all: Bool) -> [Verification] {
        store.list().compactMap { listing in
            let directory = store.location.entry(listing.key)
            guard let manifest = listing.manifest else {
                return Verification(key: listing.key, pipeline: "?", problem: listing.problem)
            }
            if !all && EntryVerifier.isVerified(directory) { return nil }
            let problem = EntryVerifier.problem(manifest, in: directory)
            if let problem { EntryVerifier.markDamaged(directory, problem) } else { EntryVerifier.markVerified(directory) }
            return Verification(key: listing.key, pipeline: manifest.pipeline, problem: problem)
        }
    }

    /// Removes every machine (`all`), or those expired or unreadable; a
    /// machine a local name names, and those it was built on, only with
    /// `tagged`. Then the backends sweep what they keep for machines that
    /// are gone (BackendSweep).
    public func cleanup(_ which: Which, tagged: Bool = false) throws -> CleanupReport {
        let report = try removeMachines(which, tagged: tagged)
        sweep?.run(everything: false)
        return report
    }

    private func removeMachines(_ which: Which, tagged: Bool) throws -> CleanupReport {
        store.sweep()
        var report = CleanupReport()
        let kept = tagged ? [] : namedChains()
        for listing in store.list() {
            if which == .expired, let manifest = listing.manifest, manifest.expires > Date() { continue }
            if kept.contains(listing.key) {
                report.tagged += 1
                continue
            }
            if try store.remove(listing.key) {
                report.removed += 1
                report.freedBytes += listing.bytes
            } else {
                report.inUse.append(listing.key)
            }
        }
        store.sweep()
        return report
    }

    /// The keys of machines that local names name (tags, named machines),
    /// and of those they were built on.
    func namedChains() -> Set<String> {
        location.withAncestors(MachineNames(location: location).allTags().map(\.key) + NamedMachines(location: location).starts())
    }

    /// `cleanup downloads`: every finished or cut-off download no run is fetching.
    /// The shared package cache is stopped and emptied with them.
    public func cleanupDownloads() -> CleanupReport {
        let removed = DownloadCache(location: store.location, output: Output(quiet: true)).removeAll()
        let packages = emptyPackageCache()
        return CleanupReport(freedBytes: removed.bytes + (packages ?? 0), downloads: removed.count, packageCache: packages != nil)
    }

    /// Stops apt-cacher-ng (the pid its file names, if that is still it)
    /// and removes its directory; the bytes that freed, nil when there was none.
    private func emptyPackageCache() -> Int64? {
        let packages = store.location.packages
        guard FileManager.default.fileExists(atPath: packages.path) else { return nil }
        if let pid = SharedRules.runningPid(in: packages.appendingPathComponent("run/pid"), program: "apt-cacher-ng") {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while kill(pid, 0) == 0, Date() < deadline { usleep(20_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        let bytes = CacheStore.diskUsage(packages)
        try? FileManager.default.removeItem(at: packages)
        return bytes
    }

    /// `cleanup logs`: the kept logs of failed steps.
    public func cleanupLogs() -> CleanupReport {
        var report = CleanupReport()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: store.location.logs.path)) ?? [] {
            let file = store.location.logs.appendingPathComponent(name)
            report.freedBytes += CacheStore.diskUsage(file)
            if (try? FileManager.default.removeItem(at: file)) != nil { report.logs += 1 }
        }
        return report
    }

    /// `cleanup everything`: all machines, downloads, logs and the transient
    /// directory. Lock files stay: unlinking one that a run holds or waits
    /// on would let the next run lock a new file and build the same machine
    /// at the same time.
    public func cleanupEverything() throws -> CleanupReport {
        var report = try removeMachines(.all, tagged: true)
        sweep?.run(everything: true)
        let downloads = cleanupDownloads(), logs = cleanupLogs()
        report.downloads = downloads.downloads
        report.packageCache = downloads.packageCache
        report.logs = logs.logs
        report.freedBytes += downloads.freedBytes + logs.freedBytes
        for parent in store.location.transientCandidates() { rmdir(parent.path) } // only once no run has a transient machine in it
        return report
    }
}

/// The host services while cleaning up: backends being told to let go of a
/// deleted machine may log; there is no machine to work on.
final class CleanupServices: HostServices {
    private let output: Output

    init(output: Output) { self.output = output }

    func log(_ context: CallContext, _ level: host_log_level, _ message: String) {
        if level.rawValue >= HOST_LOG_WARNING.rawValue || output.verbose { output.report(RunEvent(.message, step: context.stepName, message: message)) }
    }
}
