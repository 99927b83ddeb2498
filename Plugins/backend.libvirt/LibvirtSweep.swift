import CLibvirt
import Crypto
import Foundation
import PluginABI
import PluginKit

/// host's volumes are named so that `host cleanup` finds those no entry
/// names any more (host.sweep/1, host_sweep.h): an entry forgotten while
/// the hypervisor's daemon was down, a run killed while it made a volume.
/// A name is `host.TAG.OWNER.UUID-SUFFIX`: TAG says which cache on which
/// computer made it (a pool is shared by every cache of every user there,
/// and a remote one by other computers), OWNER the host process that made
/// it (RunOwner). The pools a cache used are listed in a file of the
/// cache's, so a sweep knows where to look with no entry left.
enum LibvirtSweep {
    /// The cache's directory as host derives it from the environment it
    /// shares with its plugins.
    static var cacheDirectory: String { SharedRules.cacheRoot().path }

    /// 12 hex digits of SHA-256 over this computer's machine-id and the
    /// cache's directory.
    static func tag(of cache: String) -> String {
        let machine = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))
            ?? (try? String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8)) ?? ""
        let digest = SHA256.hash(data: Data((machine.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" + cache).utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// A new volume's name, for a machine of this cache in `pool` on `uri`,
    /// which the cache's list of pools then holds.
    static func volumeName(_ suffix: String, pool: String, uri: String) -> String {
        let cache = cacheDirectory
        notePool(pool, uri: uri)
        return "host.\(tag(of: cache)).\(RunOwner.current).\(UUID().uuidString.lowercased())-\(suffix)"
    }

    /// The cache makes a volume in `pool` on `uri` (or the KVM probe sends its test kernel there).
    static func notePool(_ pool: String, uri: String) {
        PoolList(cache: cacheDirectory).add(PoolList.Pool(uri: uri, name: pool))
    }

    /// The process that made a volume of host's.
    static func owner(ofVolume name: String) -> String {
        let parts = name.split(separator: ".", maxSplits: 3)
        return parts.count == 4 ? String(parts[2]) : ""
    }

    /// Deletes the volumes of the cache that no live machine directory
    /// names and no running host made, in every pool the cache used or a
    /// live machine names; with `everything`, also the KVM probe's test
    /// kernels. A pool left with none of these leaves the list; one whose
    /// hypervisor cannot be reached stays on it.
    static func sweep(_ call: BackendCall, _ scope: SweepScope) {
        let (cache, live, everything) = (scope.cacheDirectory, scope.liveDirectories, scope.everything)
        let list = PoolList(cache: cache)
        var pools = Set(list.read())
        var named = Set<String>()
        for path in live {
            guard let config = try? LibvirtConfig.load(from: URL(fileURLWithPath: path)) else { continue }
            named.formUnion(config.own)
            named.formUnion(config.volumes.map(\.name))
            pools.insert(PoolList.Pool(uri: config.uri, name: config.pool))
        }
        let prefix = "host.\(tag(of: cache))."
        for entry in pools.sorted(by: { ($0.uri, $0.name) < ($1.uri, $1.name) }) {
            let pool: StoragePool
            do {
                guard let found = try StoragePool.existing(entry.name, on: try Hypervisor.connect(entry.uri)) else {
                    list.remove(entry)
                    continue
                }
                pool = found
            } catch {
                call.log("cannot sweep the pool \(entry.name) on \(entry.uri): \(error); its volumes that no cached machine names stay until a cleanup reaches it", level: .warning)
                continue
            }
            pool.refresh()
            var kept = 0
            for name in pool.volumeNames() {
                if name.hasPrefix(prefix) {
                    if named.contains(name) || RunOwner.isRunning(owner(ofVolume: name)) {
                        kept += 1
                    } else {
                        pool.delete(name)
                        call.log("deleted the volume \(name) in the pool \(entry.name) on \(entry.uri), which no cached machine names", level: .info)
                    }
                } else if name.hasPrefix(HypervisorAccelerator.probeVolumePrefix) {
                    // Kept for the next probe there; its pool stays listed until then.
                    if everything { pool.delete(name) } else { kept += 1 }
                }
            }
            if kept == 0 { list.remove(entry) }
        }
    }
}

/// The pools a cache made volumes in, as `backend.libvirt/pools.json` in
/// the cache, changed under a lock: runs add to it as a sweep takes pools off.
struct PoolList {
    struct Pool: Codable, Hashable {
        let uri: String
        let name: String
    }

    let file: URL

    init(cache: String) { file = URL(fileURLWithPath: cache).appendingPathComponent("backend.libvirt/pools.json") }

    func read() -> [Pool] {
        guard let data = FileManager.default.contents(atPath: file.path) else { return [] }
        return (try? JSONDecoder().decode([Pool].self, from: data)) ?? []
    }

    func add(_ pool: Pool) { change { if !$0.contains(pool) { $0.append(pool) } } }

    func remove(_ pool: Pool) { change { $0.removeAll { $0 == pool } } }

    /// Read, changed and written back while holding an flock on a file
    /// beside it (the list itself is replaced by rename).
    private func change(_ body: (inout [Pool]) -> Void) {
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(file.path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        var pools = read()
        let before = pools
        body(&pools)
        guard pools != before, let data = try? JSONEncoder().encode(pools) else { return }
        try? data.write(to: file, options: .atomic)
    }
}
