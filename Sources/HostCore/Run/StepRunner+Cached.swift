import Foundation
import HostModel
import PluginABI
import Trace

/// Steps whose machine is cached: reused when a valid entry exists, else
/// built once and published.
extension StepRunner {
    /// The machine `planned` makes from `parent`: reused when a valid entry
    /// exists, else built once (other runs asking for it meanwhile wait and
    /// reuse it). nil when the step returned nothing.
    func cached(_ planned: Planned, parent: CacheEntry?) throws -> CacheEntry? {
        let key = Producer(planned).key(parent: parent)
        let (found, stale) = try usable(key, parent: parent, planned)
        if let found {
            Trace.mark("\(planned.step.name): cached entry found")
            return hold(found, RunEvent(.reused, step: planned.step.name))
        }

        return try withBuildLock(key, planned.step.name) { lock in
            if let found = try usable(key, parent: parent, planned).entry { return hold(found, RunEvent(.reused, step: planned.step.name, by: "another run")) }
            lock.writeOwner()
            if let stale { output.report(RunEvent(.rebuilding, step: planned.step.name, key: key, reason: stale)) }
            return try build(planned, key: key, parent: parent)
        }
    }

    /// A reusable entry, younger than the step's --cache allows, whose files
    /// are those it was saved with; else why it must be rebuilt. Its backend
    /// checks it only when a machine is made from it (accept).
    func usable(_ key: String, parent: CacheEntry?, _ planned: Planned) throws -> (entry: CacheEntry?, stale: String?) {
        let (found, stale) = try store.reusable(key, parent: parent)
        guard let found else { return (nil, stale) }
        if let damage = EntryVerifier.damage(found.directory) ?? EntryVerifier.quickProblem(found.manifest, in: found.directory) {
            return (nil, damage)
        }
        if !EntryVerifier.isVerified(found.directory) {
            if let damage = EntryVerifier.digestProblem(found.manifest, in: found.directory) { return (nil, damage) }
            EntryVerifier.markVerified(found.directory)
        }
        if let cap = planned.arguments.expiryCap, found.manifest.created.addingTimeInterval(TimeInterval(cap)) <= Date() {
            return (nil, "it is older than --cache allows")
        }
        if let problem = refused[found.manifest.build] { return (nil, problem) }
        return (found, nil)
    }

    /// Lets the backend check an entry (a qcow2 chain with every backing
    /// file in place, say) before a machine is made from it. Only then: on
    /// a deep pipeline only the last entry is restored, and the chain its
    /// backend checks holds the disks of the ones below it. A refused entry
    /// ends this pass of runCached, which starts over and rebuilds it from
    /// the nearest entry before it that its backend accepts.
    func accept(_ entry: CacheEntry, backend: BackendRef) throws {
        guard !accepted.contains(entry.manifest.build) else { return }
        guard let problem = driver.problem(with: entry, backend: backend) else {
            accepted.insert(entry.manifest.build)
            return
        }
        refused[entry.manifest.build] = problem
        for earlier in held.reversed() where !accepted.contains(earlier.manifest.build) && refused[earlier.manifest.build] == nil {
            guard let problem = driver.problem(with: earlier, backend: try driver.backend(of: earlier)) else {
                accepted.insert(earlier.manifest.build)
                break
            }
            refused[earlier.manifest.build] = problem
        }
        throw HostError(.stepFailed, "\(entry.manifest.step): \(problem)")
    }

    /// Keeps `entry` for this run and reports how it came (`event`, which
    /// gets the entry's key and directory here).
    func hold(_ entry: CacheEntry, _ event: RunEvent) -> CacheEntry {
        held.append(entry)
        // A second pass of runCached finds the same entries: said once.
        if announced.insert(entry.manifest.build).inserted {
            var event = event
            (event.key, event.entry) = (entry.key, entry.directory.path)
            output.report(event)
        }
        return entry
    }

    /// What an entry records of the step that made it, and its key is made of.
    struct Producer {
        let step: String
        /// As a person would type it.
        let text: String
        let plugin: String
        let pluginDigest: String
        let arguments: String
        /// The longest it may be kept, in seconds.
        let lifetime: Int64
        /// `text` is the whole pipeline that makes the machine (`from NAME`),
        /// not a step to add to its parent's.
        var startsPipeline = false

        init(_ planned: Planned) {
            step = planned.step.name
            text = planned.text
            plugin = planned.step.plugin.path
            pluginDigest = planned.step.plugin.digest
            arguments = planned.arguments.canonical(planned.step)
            lifetime = min(planned.step.expiry, planned.arguments.expiryCap ?? .max)
        }

        init(step: String, text: String, plugin: String, pluginDigest: String, arguments: String, lifetime: Int64) {
            (self.step, self.text, self.plugin, self.pluginDigest, self.arguments, self.lifetime) = (step, text, plugin, pluginDigest, arguments, lifetime)
        }

        func key(parent: CacheEntry?) -> String {
            CacheKey.of(parentKey: parent?.key, pluginDigest: pluginDigest, step: step, arguments: arguments)
        }
    }

    func build(_ planned: Planned, key: String, parent: CacheEntry?) throws -> CacheEntry? {
        let started = Date()
        let machine = try instantiate(planned, from: parent)
        return try withCall(planned.step.name, owning: machine) { context in
            if let parent { context.checkpoints = (planned, parent, machine) }
            return try keepingLog(of: machine, planned) {
                try invoke(planned, context, machine)
                guard let result = context.result else {
                    output.progress("\(planned.step.name): returned nothing, so nothing was cached")
                    return nil
                }
                return try publish(result, of: machine, Producer(planned), context, key: key, parent: parent, started: started)
            }
        }
    }

    /// Saves the machine a step returned and moves it into the cache.
    func publish(_ result: TrackedMachine, of machine: TrackedMachine, _ producer: Producer, _ context: CallContext, key: String,
                 parent: CacheEntry?, started: Date, checkpoint: String? = nil) throws -> CacheEntry {
        try driver.up(result, log: context.log)
        try DiskSpace.naming(store.location) { try driver.down(result, log: context.log) }
        driver.drop(result, log: context.log)
        if result.directory !== machine.directory {
            // The step returned a machine from `apply`: its log goes with it.
            try? FileManager.default.copyItem(at: machine.directory.url.appendingPathComponent("log.txt"),
                                              to: result.directory.url.appendingPathComponent("step.log"))
        }
        let digestsStarted = Date()
        let files = try DiskSpace.naming(store.location) { try EntryVerifier.record(result.directory.url) }
        // scripts/benchmark reads this line: the digests' cost next to the save's.
        let regular = files.filter { $0.kind == .file }
        context.write(log: String(format: "recorded %d files, %.1f MiB, with their SHA-256 in %.2f s", regular.count,
                                  Double(regular.reduce(0) { $0 + ($1.size ?? 0) }) / 1_048_576, Date().timeIntervalSince(digestsStarted)))
        let now = Date()
        let lifetime = min(producer.lifetime, context.expiryCap ?? .max)
        var expires = now.addingTimeInterval(TimeInterval(lifetime))
        if let parentExpiry = parent?.manifest.expires, parentExpiry < expires { expires = parentExpiry }
        let manifest = Manifest(
            key: key,
            pipeline: (producer.startsPipeline ? "" : parent.map { $0.manifest.pipeline + " + " } ?? "") + producer.text,
            step: producer.step, plugin: producer.plugin, pluginDigest: producer.pluginDigest,
            backend: result.backend.step.name, parentKey: parent?.key, parentBuild: parent?.manifest.build,
            build: UUID().uuidString.lowercased(), created: now, expires: expires,
            // A checkpoint's key holds what made it, not the step's files.
            dependencies: checkpoint == nil ? context.dependencies : [],
            arguments: producer.arguments,
            paths: files)
        let entry = try DiskSpace.naming(store.location) {
            try store.publish(result.directory, manifest: manifest) {
                output.progress("\(producer.step): waiting for other runs to stop using the old \(key.prefix(12))")
            }
        }
        accepted.insert(manifest.build)
        return hold(entry, RunEvent(.built, step: producer.step, seconds: Date().timeIntervalSince(started), checkpoint: checkpoint))
    }

    /// The machine `producer` makes from `parent` by `work`, host's own code
    /// rather than a plugin's (`from` authorizing the puller's key): cached
    /// as any step's result, and built once.
    func derive(_ producer: Producer, from parent: CacheEntry,
                _ work: (TrackedMachine, CallContext) throws -> Void) throws -> CacheEntry {
        let key = producer.key(parent: parent)
        if case let (found?, _) = try store.reusable(key, parent: parent), EntryVerifier.damage(found.directory) == nil,
           EntryVerifier.quickProblem(found.manifest, in: found.directory) == nil {
            return hold(found, RunEvent(.reused, step: producer.step))
        }
        return try withBuildLock(key, producer.step) { _ in
            let started = Date()
            let backend = try driver.backend(of: parent)
            // Before the pipeline runs, so with its backend step's defaults.
            let defaults = try planner.plan(continuing: backend.step, with: [], keeping: false)[0]
            runArguments = zip(defaults.step.parameters, defaults.arguments.values).filter { $0.0.isRuntime }
            let machine = try clone(parent, backend: backend)
            return try withCall(producer.step, owning: machine) { context in
                try driver.up(machine, log: context.log)
                try work(machine, context)
                return try publish(machine, of: machine, producer, context, key: key, parent: parent, started: started)
            }
        }
    }
}
