import ChildProcess
import Foundation
import HostModel

/// The machine cache: plain directories `machines/KEY/{manifest.json,
/// machine/, log.txt}` published by rename, so a reader sees a whole entry
/// or none.
final class CacheStore {
    let location: CacheLocation
    private let output: Output
    /// Told of every machine about to be deleted (its directory and its
    /// backend's name), so that the backend can forget what it keeps
    /// elsewhere: published entries, and the builds of runs that died.
    /// nil: the cache is only read, or no backend can be asked.
    private let forget: ((_ machineDirectory: URL, _ backend: String) -> Void)?

    init(location: CacheLocation, output: Output, forget: ((_ machineDirectory: URL, _ backend: String) -> Void)? = nil) throws {
        self.location = location
        self.output = output
        self.forget = forget
        try location.prepare()
        PathDigests.shared = PathDigests(memo: location.pathDigests)
    }

    func useLock(_ key: String) throws -> FileLock {
        try FileLock(location.locks.appendingPathComponent(key + ".use").path)
    }

    func buildLock(_ key: String) throws -> FileLock {
        try FileLock(location.locks.appendingPathComponent(key + ".build").path)
    }

    /// The entry for `key` if it may be reused as the child of `parent`
    /// (held under a shared use lock), else nil and, when an entry exists
    /// but is stale, why.
    func reusable(_ key: String, parent: CacheEntry?) throws -> (entry: CacheEntry?, stale: String?) {
        let directory = location.entry(key)
        guard FileManager.default.fileExists(atPath: directory.path) else { return (nil, nil) }
        let lock = try useLock(key)
        try lock.lock(.shared)
        switch Manifest.read(from: directory.appendingPathComponent("manifest.json")) {
        case let .unreadable(reason):
            return (nil, reason)
        case let .valid(manifest):
            if let reason = staleness(of: manifest, parent: parent) { return (nil, reason) }
            return (CacheEntry(manifest: manifest, directory: directory, useLock: lock), nil)
        }
    }

    /// The entry `key` as it is, whatever made it, held under a shared use
    /// lock, or why it cannot be used: for a machine named by a tag or a
    /// registry reference, whose pipeline is not run again.
    func named(_ key: String) throws -> Result<CacheEntry, HostError> {
        let directory = location.entry(key)
        guard FileManager.default.fileExists(atPath: directory.path) else { return .failure(HostError(.cache, "it is no longer cached")) }
        let lock = try useLock(key)
        try lock.lock(.shared)
        guard case let .valid(manifest) = Manifest.read(from: directory.appendingPathComponent("manifest.json")) else {
            return .failure(HostError(.cache, "its manifest is unreadable"))
        }
        if let damage = EntryVerifier.damage(directory) ?? EntryVerifier.quickProblem(manifest, in: directory) {
            return .failure(HostError(.cache, "it is \(damage)"))
        }
        if !EntryVerifier.isVerified(directory) {
            if let damage = EntryVerifier.digestProblem(manifest, in: directory) {
                EntryVerifier.markDamaged(directory, damage)
                return .failure(HostError(.cache, "it is \(damage)"))
            }
            EntryVerifier.markVerified(directory)
        }
        return .success(CacheEntry(manifest: manifest, directory: directory, useLock: lock))
    }

    /// `entry` and every entry it was built on, base first, each held; or why
    /// that chain is broken (an ancestor gone, damaged or rebuilt since).
    func chain(of entry: CacheEntry) throws -> Result<[CacheEntry], HostError> {
        var chain = [entry]
        while let parentKey = chain[0].manifest.parentKey {
            switch try named(parentKey) {
            case let .failure(error):
                return .failure(HostError(.cache, "the machine \(parentKey.prefix(12)) it was built on: \(error.message)"))
            case let .success(parent) where parent.manifest.build != chain[0].manifest.parentBuild:
                return .failure(HostError(.cache, "the machine \(parent.manifest.step) (\(parentKey.prefix(12))) it was built on has been rebuilt since"))
            case let .success(parent):
                chain.insert(parent, at: 0)
            }
        }
        return .success(chain)
    }

    private func staleness(of manifest: Manifest, parent: CacheEntry?) -> String? {
        if manifest.parentKey != parent?.key || manifest.parentBuild != parent?.manifest.build {
            return "its parent machine was rebuilt"
        }
        // A named machine's start (`host up --name`) does not expire under it.
        if manifest.expires <= Date(), !NamedMachines(location: location).pinnedEntries().contains(manifest.key) { return "it expired" }
        return manifest.dependencies.lazy.compactMap(\.change).first
    }

    /// A directory for a machine being built (next to the cache, so that it
    /// can be published by rename) or for a transient one (in memory).
    /// A directory to build a machine of `backend` in; the backend's name
    /// is written first, so a sweep after a crash knows whom to tell.
    func makeTemporary(backend: String, transient: Bool = false) throws -> TemporaryDirectory {
        let candidates = transient ? location.transientCandidates() : [location.temporary]
        for (index, parent) in candidates.enumerated() {
            do {
                let directory: TemporaryDirectory
                do {
                    directory = try TemporaryDirectory(in: parent)
                } catch let error as HostError where transient && error.kind == .environment {
                    // Someone else made the predictable name first: never
                    // refuse for that, nor follow it.
                    directory = try TemporaryDirectory(in: parent, fresh: true)
                }
                try Data(backend.utf8).write(to: directory.url.appendingPathComponent("backend"))
                return directory
            } catch let error as HostError where error.kind == .environment && index < candidates.count - 1 {
                output.progress("warning: \(error.message); using \(candidates[index + 1].deletingLastPathComponent().path) instead")
            } catch let error as HostError {
                throw error
            } catch {
                throw HostError(system: error, "cannot create a machine directory in \(parent.path)")
            }
        }
        throw HostError(.environment, "no place for a transient machine") // the loop above returns or throws first
    }

    /// Moves a finished build into the cache under `manifest.key`, replacing
    /// a stale entry once no other run uses it.
    func publish(_ temporary: TemporaryDirectory, manifest: Manifest, waiting: () -> Void) throws -> CacheEntry {
        let destination = location.entry(manifest.key)
        do {
            try manifest.write(to: temporary.url.appendingPathComponent("manifest.json"))
            let lock = try useLock(manifest.key)
            var stale: URL?
            if FileManager.default.fileExists(atPath: destination.path) {
                try lock.lock(.exclusive, waiting: waiting)
                stale = try moveAside(destination)
            }
            do {
                try FileManager.default.moveItem(at: temporary.url, to: destination)
            } catch {
                // Put the old entry back: a failed publish changes nothing.
                if let stale { try? FileManager.default.moveItem(at: stale, to: destination) }
                throw error
            }
            if let stale { delete(stale) }
            temporary.markPublished()
            EntryVerifier.forgetNotes(destination)
            try lock.lock(.shared)
            return CacheEntry(manifest: manifest, directory: destination, useLock: lock)
        } catch let error as HostError {
            throw error
        } catch {
            throw HostError(system: error, "cannot save the machine for \(manifest.step) into \(location.machines.path); the cache is unchanged")
        }
    }

    /// Renames an entry into the trash, under a name no other run uses, so
    /// that it leaves the cache in one step; the caller deletes it.
    private func moveAside(_ directory: URL) throws -> URL {
        let target = location.trash.appendingPathComponent(directory.lastPathComponent + "-" + UUID().uuidString.lowercased())
        try FileManager.default.moveItem(at: directory, to: target)
        return target
    }

    /// Removes what dead runs left: temporary directories whose lock is
    /// free, and trash.
    func sweep() {
        let fm = FileManager.default
        let fallbacks = location.transientFallbacks()
        defer { for parent in fallbacks { rmdir(parent.path) } } // the empty ones
        for parent in [location.temporary] + location.transientCandidates() + fallbacks where (try? TemporaryDirectory.requirePrivate(parent)) != nil {
            // A directory with no lock file beside it is a dead run's: a live
            // one makes its lock first.
            for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where !name.contains(".")
                && !fm.fileExists(atPath: parent.appendingPathComponent(name + ".lock").path) {
                delete(parent.appendingPathComponent(name))
            }
            for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasSuffix(".new") {
                // A lock file whose run died before renaming it into place.
                let path = parent.appendingPathComponent(name).path
                if let lock = try? FileLock(path), lock.tryLock(.exclusive) { try? fm.removeItem(atPath: path) }
            }
            for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasSuffix(".lock") {
                let lockPath = parent.appendingPathComponent(name).path
                guard let lock = try? FileLock(lockPath), lock.tryLock(.exclusive) else { continue }
                delete(parent.appendingPathComponent(String(name.dropLast(5))))
                try? fm.removeItem(atPath: lockPath)
            }
        }
        // Entries a dead run moved aside but did not get to delete.
        for name in (try? fm.contentsOfDirectory(atPath: location.trash.path)) ?? [] {
            delete(location.trash.appendingPathComponent(name))
        }
    }

    // MARK: Listing and cleanup

    struct Listing {
        let key: String
        let manifest: Manifest?
        let problem: String?
        let bytes: Int64
    }

    func list() -> [Listing] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: location.machines.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { key in
            let directory = location.entry(key)
            let bytes = Self.diskUsage(directory)
            switch Manifest.read(from: directory.appendingPathComponent("manifest.json")) {
            case let .valid(manifest): return Listing(key: key, manifest: manifest, problem: nil, bytes: bytes)
            case let .unreadable(reason): return Listing(key: key, manifest: nil, problem: reason, bytes: bytes)
            }
        }
    }

    /// Removes one entry unless another run uses or builds it; false then.
    func remove(_ key: String) throws -> Bool {
        let use = try useLock(key), build = try buildLock(key)
        guard build.tryLock(.exclusive) else { return false }
        guard use.tryLock(.exclusive) else { return false }
        delete(try moveAside(location.entry(key)))
        EntryVerifier.forgetNotes(location.entry(key))
        return true
    }

    /// Deletes a machine's directory no run holds (an entry moved aside, a
    /// dead run's build) once its backend let go of it. The backend's name
    /// is in the `backend` file every build starts with; entries published
    /// before builds recorded it have it in their manifest only.
    private func delete(_ directory: URL) {
        if let forget {
            var backend = try? String(contentsOf: directory.appendingPathComponent("backend"), encoding: .utf8)
            if backend == nil, case let .valid(manifest) = Manifest.read(from: directory.appendingPathComponent("manifest.json")) {
                backend = manifest.backend
            }
            if let backend { forget(directory.appendingPathComponent("machine"), backend) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Bytes allocated on disk (not apparent size: qcow2 and RAM files are sparse).
    static func diskUsage(_ url: URL) -> Int64 {
        var total: Int64 = 0
        var info = stat()
        if lstat(url.path, &info) == 0 { total += Int64(info.st_blocks) * 512 }
        guard let walker = FileManager.default.enumerator(atPath: url.path) else { return total }
        while let relative = walker.nextObject() as? String {
            if lstat(url.appendingPathComponent(relative).path, &info) == 0 { total += Int64(info.st_blocks) * 512 }
        }
        return total
    }
}
