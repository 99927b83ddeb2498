import ChildProcess
import Foundation
import HostModel

/// `host cleanup periodic`: removes expired machines, then keeps the cache
/// within a size budget (HOST_CACHE_MAX, default 50G) by removing the least
/// recently used leaves first: an entry that another entry was built on, or
/// that a local name keeps, stays until they go, and none another run uses
/// is touched. host starts it itself, in the background, at most once a day.
public enum PeriodicCleanup {
    public static let defaultBudget = "50G"
    static let interval: TimeInterval = 24 * 3600

    /// "50G", "512M", "2T", or bytes.
    public static func bytes(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        let trimmed = text.uppercased().hasSuffix("B") ? String(text.dropLast()) : text
        if let last = trimmed.last?.uppercased().first, let unit = units[last], let number = Double(trimmed.dropLast()), number >= 0 {
            return Int64(number * Double(unit))
        }
        guard let plain = Int64(trimmed), plain >= 0 else {
            throw HostError.usage("HOST_CACHE_MAX=\(text) is not a size; write one like 50G, 512M or 2T")
        }
        return plain
    }

    /// The file whose mtime says when the periodic cleanup last started.
    static func stamp(_ location: CacheLocation) -> URL { location.root.appendingPathComponent("periodic-cleanup") }

    /// Starts `host cleanup periodic` in the background, detached, when the
    /// last one started more than a day ago. A cache's first run only
    /// starts the clock: a new cache has nothing to clean.
    static func startIfDue(_ location: CacheLocation, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let file = stamp(location)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file.path),
              let last = attributes[.modificationDate] as? Date else {
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            return
        }
        guard Date().timeIntervalSince(last) > interval else { return }
        // The stamp first, so that runs starting meanwhile do not start one too.
        guard (try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: file.path)) != nil,
              let executable = Bundle.main.executableURL?.path else { return }
        var command = Command(executable, ["--quiet", "cleanup", "periodic"])
        command.ownSession = true // not killed with this run, nor by the terminal's Ctrl-C
        _ = try? command.start()
    }
}

extension CacheAdmin {
    /// Expired machines, then least recently used leaves until the cache fits `budget` bytes.
    public func cleanupPeriodic(budget: Int64) throws -> CleanupReport {
        var report = try cleanup(.expired)
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: PeriodicCleanup.stamp(location).path)
        var skipped = Set<String>(report.inUse)
        while true {
            let listings = store.list()
            guard listings.reduce(0, { $0 + $1.bytes }) > budget else { break }
            let parents = Set(listings.compactMap { $0.manifest?.parentKey })
            let kept = namedChains()
            let leaves = listings.filter { !parents.contains($0.key) && !kept.contains($0.key) && !skipped.contains($0.key) }
            guard let oldest = leaves.min(by: { lastUse($0) < lastUse($1) }) else { break }
            if try store.remove(oldest.key) {
                report.removed += 1
                report.freedBytes += oldest.bytes
            } else {
                report.inUse.append(oldest.key)
                skipped.insert(oldest.key)
            }
        }
        store.sweep()
        return report
    }

    /// When an entry was last used: its use lock's mtime, else when it was made.
    private func lastUse(_ listing: CacheStore.Listing) -> Date {
        let lock = location.locks.appendingPathComponent(listing.key + ".use").path
        return (try? FileManager.default.attributesOfItem(atPath: lock)[.modificationDate] as? Date) ?? listing.manifest?.created ?? .distantPast
    }
}
