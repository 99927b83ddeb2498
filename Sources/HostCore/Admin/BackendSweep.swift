import Foundation
import PluginABI

/// The last part of `host cleanup`: every installed backend that offers
/// host.sweep/1 (host_sweep.h) removes what it keeps outside the cache for
/// machines that no entry and no run has any more: what `forget` could not
/// release (a daemon that was down) or what was made after host died (a
/// podman client that went on importing).
struct BackendSweep {
    let registry: PluginIndex
    let services: HostServices
    let location: CacheLocation

    /// Asks each sweeping backend once (a plugin with two backend steps has
    /// one table). Loading a backend's plugin is the price of asking: there
    /// is no other way to learn what its table offers.
    func run(everything: Bool) {
        var asked = Set<String>()
        for step in registry.steps where step.isBackend && asked.insert(step.plugin.path).inserted {
            guard let backend = try? BackendRef(step), let sweep = Self.sweepTable(backend)?.sweep else { continue }
            // Listed anew for each backend: runs go on meanwhile, and an
            // earlier backend's sweep may have taken a while.
            let live = Self.liveDirectories(location).map(\.path)
            let arena = CArena()
            var scope = host_sweep_scope(struct_size: MemoryLayout<host_sweep_scope>.size, cache_directory: arena.string(location.root.path),
                                         live_directories: arena.strings(live), live_count: live.count,
                                         flags: everything ? HOST_SWEEP_EVERYTHING : 0)
            let context = CallContext(services: services, stepName: step.name, log: nil)
            withExtendedLifetime(arena) {
                CrashReport.during("the plugin \(step.plugin.path), asked as \(step.name) to sweep what it keeps for the cache,") {
                    sweep(context.raw, &scope)
                }
            }
        }
    }

    /// The backend's host.sweep/1 table, when it offers a whole one.
    static func sweepTable(_ backend: BackendRef) -> host_sweep_v1? {
        guard let table = backend.table.extension?(HOST_SWEEP_V1)?.assumingMemoryBound(to: host_sweep_v1.self),
              table.pointee.struct_size >= MemoryLayout<host_sweep_v1>.size else { return nil }
        return table.pointee
    }

    /// The machine directories that stay: those runs are building or using
    /// (temporary and transient ones that still exist once the store swept
    /// dead runs' away), then every cached machine's. In that order: a run
    /// that publishes its machine meanwhile moves it from the first kind to
    /// the second, so it is listed at least once.
    static func liveDirectories(_ location: CacheLocation) -> [URL] {
        let fm = FileManager.default
        var directories: [URL] = []
        for parent in [location.temporary] + location.transientCandidates() + location.transientFallbacks() {
            // Lock files and their partial names have a dot; machine directories do not.
            for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where !name.contains(".") {
                directories.append(parent.appendingPathComponent(name).appendingPathComponent("machine"))
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: location.machines.path)) ?? [] where !name.hasPrefix(".") {
            directories.append(location.entry(name).appendingPathComponent("machine"))
        }
        return directories
    }
}
