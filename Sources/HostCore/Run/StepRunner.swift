import Foundation
import PluginABI
import Trace

/// Runs the steps of a planned pipeline: reuses a cached machine or builds
/// and publishes it, runs transient steps on throwaway clones, runs what a
/// step applies, and on a backend that saves nothing runs every step on
/// the one machine. Single-threaded by design: plugins are called on this
/// thread only.
final class StepRunner {
    typealias Planned = PipelinePlanner.Planned

    unowned let engine: Engine
    private var store: CacheStore { engine.store }
    private var driver: BackendDriver { engine.driver }
    private var output: Output { engine.output }
    /// The backend step's run-time arguments, given to every machine this run makes.
    private var runArguments: [(ParameterInfo, ArgumentValue)] = []
    /// Entries this run reads from, kept (with their shared locks) until it ends.
    private var held: [CacheEntry] = []
    /// Builds of entries their backend accepted this run, and those it
    /// refused with why (rebuilt when looked up again).
    private var accepted: Set<String> = []
    private var refused: [String: String] = [:]
    /// Builds whose reuse this run has reported.
    private var announced: Set<String> = []
    /// The machine is wanted afterwards (push, tag): a last step that would
    /// be transient is cached.
    private var keeping = false
    /// The saved machine a `from` pipeline starts on.
    private var start: CacheEntry?

    init(engine: Engine) { self.engine = engine }

    /// Runs the steps, from `start` when given (its backend's step first),
    /// and returns the last machine cached.
    func run(_ steps: [Planned], start: CacheEntry? = nil, keeping: Bool = false) throws -> CacheEntry? {
        let backend = steps[0]
        runArguments = zip(backend.step.parameters, backend.arguments.values).filter { $0.0.isRuntime }
        self.keeping = keeping
        self.start = start
        store.sweep()
        if backend.step.savesNothing {
            try runUnsaved(steps)
            return nil
        }
        do {
            return try runCached(steps)
        } catch {
            // A saved machine that would not restore: damaged files are
            // rebuilt, once, in this run; intact ones are kept and the cause
            // is reported, since moving a parent aside discards its children.
            guard let failed = driver.restoreFailure?.directory else { throw error }
            // Our own shared locks would keep the rebuild from replacing it.
            driver.restoreFailure = nil
            held.removeAll()
            guard let (directory, damage) = damagedAncestor(of: failed) else {
                let message = (error as? HostError)?.message ?? String(describing: error)
                throw HostError((error as? HostError)?.kind ?? .stepFailed,
                                message + " (the saved machine's files are intact, so the cause lies elsewhere, such as the accelerator, memory or a full /dev/shm; it is kept)")
            }
            EntryVerifier.markDamaged(directory, damage)
            if let start, (try? store.chain(of: start).get())?.contains(where: { $0.directory == directory }) ?? true {
                // Built elsewhere or by a tagged pipeline: not this run's to rebuild.
                throw HostError(.cache, "the saved machine \(directory.lastPathComponent.prefix(12)) that `from` named did not restore and is \(damage); run the command again to pull it again (a tagged machine: run its `host tag` again)")
            }
            output.progress("the saved machine \(directory.lastPathComponent.prefix(12)) did not restore and is \(damage); rebuilding it")
            return try runCached(steps)
        }
    }

    /// The entry `failed` or one it was built on whose files are not those
    /// it was saved with, and what is wrong with it.
    private func damagedAncestor(of failed: URL) -> (URL, String)? {
        var directory: URL? = failed
        while let current = directory, case let .valid(manifest) = Manifest.read(from: current.appendingPathComponent("manifest.json")) {
            if let problem = EntryVerifier.problem(manifest, in: current) { return (current, problem) }
            directory = manifest.parentKey.map { store.location.entry($0) }
        }
        return nil
    }

    /// Runs the steps from the start again whenever a backend refused an
    /// entry this run had found (each time one more, so it ends): the
    /// lookups are cheap, and the refused entry is rebuilt from its parent.
    private func runCached(_ steps: [Planned]) throws -> CacheEntry? {
        while true {
            let refusals = refused.count
            do {
                return try runCachedOnce(steps)
            } catch where refused.count > refusals {
                held.removeAll() // our own shared locks would keep the rebuild from replacing it
            }
        }
    }

    private func runCachedOnce(_ steps: [Planned]) throws -> CacheEntry? {
        var current = start
        if let start { held.append(start) }
        // From a saved machine, its backend's step made it already.
        for (index, planned) in steps.enumerated() where start == nil || index > 0 {
            let transient = planned.step.isTransient || planned.arguments.forceTransient
                || (planned.step.isTransientWhenLast && index == steps.count - 1 && !keeping)
            if transient, let parent = current {
                try runTransient(planned, on: parent)
            } else if let entry = try cached(planned, parent: current) {
                current = entry
            }
        }
        if let current { try accept(current, backend: try driver.backend(of: current)) }
        return current
    }

    // MARK: Cached steps

    /// The machine `planned` makes from `parent`: reused when a valid entry
    /// exists, else built once (other runs asking for it meanwhile wait and
    /// reuse it). nil when the step returned nothing.
    private func cached(_ planned: Planned, parent: CacheEntry?) throws -> CacheEntry? {
        let key = Producer(planned).key(parent: parent)
        let (found, stale) = try usable(key, parent: parent, planned)
        if let found {
            Trace.mark("\(planned.step.name): cached entry found")
            return hold(found, planned.step.name, "cached")
        }

        let lock = try store.buildLock(key)
        try lock.lock(.exclusive) {
            output.progress("\(planned.step.name): waiting for another run (pid \(lock.owner() ?? "?")) that is building it")
        }
        defer { lock.unlock() }
        if let found = try usable(key, parent: parent, planned).entry { return hold(found, planned.step.name, "built by another run") }
        lock.writeOwner()
        if let stale { output.progress("\(planned.step.name): rebuilding: \(stale)") }
        return try build(planned, key: key, parent: parent)
    }

    /// A reusable entry, younger than the step's --cache allows, whose files
    /// are those it was saved with; else why it must be rebuilt. Its backend
    /// checks it only when a machine is made from it (accept).
    private func usable(_ key: String, parent: CacheEntry?, _ planned: Planned) throws -> (entry: CacheEntry?, stale: String?) {
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
    private func accept(_ entry: CacheEntry, backend: BackendRef) throws {
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

    private func hold(_ entry: CacheEntry, _ step: String, _ how: String) -> CacheEntry {
        held.append(entry)
        // A second pass of runCached finds the same entries: said once.
        if announced.insert(entry.manifest.build).inserted {
            output.progress("\(step): \(how) \(entry.key.prefix(12))")
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

    private func build(_ planned: Planned, key: String, parent: CacheEntry?) throws -> CacheEntry? {
        let started = Date()
        let machine = try instantiate(planned, from: parent)
        let context = CallContext(services: engine.services, stepName: planned.step.name, log: openLog(machine))
        context.adopt(machine)
        if let parent { context.checkpoints = (planned, parent, machine) }
        defer { dropAll(context) }
        return try keepingLog(of: machine, planned) {
            try invoke(planned, context, machine)
            guard let result = context.result else {
                output.progress("\(planned.step.name): returned nothing, so nothing was cached")
                return nil
            }
            return try publish(result, of: machine, Producer(planned), context, key: key, parent: parent, started: started)
        }
    }

    /// Saves the machine a step returned and moves it into the cache.
    private func publish(_ result: TrackedMachine, of machine: TrackedMachine, _ producer: Producer, _ context: CallContext, key: String,
                         parent: CacheEntry?, started: Date, built: String = "built", checkpoint: Bool = false) throws -> CacheEntry {
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
            dependencies: checkpoint ? [] : context.dependencies,
            arguments: producer.arguments,
            paths: files)
        let entry = try DiskSpace.naming(store.location) {
            try store.publish(result.directory, manifest: manifest) {
                output.progress("\(producer.step): waiting for other runs to stop using the old \(key.prefix(12))")
            }
        }
        accepted.insert(manifest.build)
        return hold(entry, producer.step, built + String(format: " in %.2f s,", Date().timeIntervalSince(started)))
    }

    // MARK: host's own steps

    /// The machine `producer` makes from `parent` by `work`, host's own code
    /// rather than a plugin's (`from` authorizing the puller's key): cached
    /// as any step's result, and built once.
    func derive(_ producer: Producer, from parent: CacheEntry,
                _ work: (TrackedMachine, CallContext) throws -> Void) throws -> CacheEntry {
        let key = producer.key(parent: parent)
        if case let (found?, _) = try store.reusable(key, parent: parent), EntryVerifier.damage(found.directory) == nil,
           EntryVerifier.quickProblem(found.manifest, in: found.directory) == nil {
            return hold(found, producer.step, "cached")
        }
        let lock = try store.buildLock(key)
        try lock.lock(.exclusive) {
            output.progress("\(producer.step): waiting for another run (pid \(lock.owner() ?? "?")) that is building it")
        }
        defer { lock.unlock() }
        let started = Date()
        let backend = try driver.backend(of: parent)
        // Before the pipeline runs, so with its backend step's defaults.
        let defaults = try engine.planner.plan(continuing: backend.step, with: [], keeping: false)[0]
        runArguments = zip(defaults.step.parameters, defaults.arguments.values).filter { $0.0.isRuntime }
        let machine = try clone(parent, backend: backend)
        let context = CallContext(services: engine.services, stepName: producer.step, log: openLog(machine))
        context.adopt(machine)
        defer { dropAll(context) }
        try driver.up(machine, log: context.log)
        try work(machine, context)
        return try publish(machine, of: machine, producer, context, key: key, parent: parent, started: started)
    }

    // MARK: Transient steps, and backends that save nothing

    private func runTransient(_ planned: Planned, on parent: CacheEntry) throws {
        let machine = try clone(parent, backend: try driver.backend(of: parent), transient: true)
        Trace.mark("\(planned.step.name): machine cloned")
        let context = CallContext(services: engine.services, stepName: planned.step.name, log: openLog(machine))
        context.adopt(machine)
        context.checkpoints = (planned, parent, machine)
        defer {
            dropAll(context)
            Trace.mark("\(planned.step.name): machine dropped")
        }
        try keepingLog(of: machine, planned) { try invoke(planned, context, machine) }
        Trace.mark("\(planned.step.name): step done")
    }

    /// Every step, in order, on the one machine of a backend that cannot
    /// save it (HOST_STEP_NO_SAVE): nothing is cached.
    private func runUnsaved(_ steps: [Planned]) throws {
        // Said where it matters: a step that would have been cached.
        let later = Array(steps.dropFirst())
        if let first = later.indices.first(where: { index in
            let step = later[index]
            return !step.step.isTransient && !step.arguments.forceTransient && !(step.step.isTransientWhenLast && index == later.count - 1)
        }).map({ later[$0] }) {
            output.progress("\(steps[0].step.name) does not save machines, so nothing is cached: \(first.step.name) and every step after it run each time, on the machine itself")
        }
        let machine = try instantiate(steps[0], from: nil)
        let owner = CallContext(services: engine.services, stepName: steps[0].step.name, log: openLog(machine))
        owner.adopt(machine)
        defer { dropAll(owner) }
        for planned in steps {
            let context = CallContext(services: engine.services, stepName: planned.step.name, log: owner.log)
            context.adopt(machine)
            try keepingLog(of: machine, planned) { try invoke(planned, context, machine) }
        }
    }

    /// A step that failed keeps its log in CACHE/logs, named in the error,
    /// for the user to read (`host cleanup logs` removes them). Not when
    /// the failure is the command's own status (exec), which was shown.
    private func keepingLog<T>(of machine: TrackedMachine, _ planned: Planned, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as HostError where error.status == nil && error.kind != .usage {
            let log = machine.directory.url.appendingPathComponent("log.txt")
            guard CacheStore.diskUsage(log) > 0, let kept = keptLog(planned),
                  (try? FileManager.default.copyItem(at: log, to: kept)) != nil
            else { throw error }
            throw HostError(error.kind, error.message + " (the step's log: \(kept.path))")
        }
    }

    /// Where a failed step's log is kept (CACHE/logs, made 0700), or nil
    /// when that folder cannot be made.
    private func keptLog(_ planned: Planned) -> URL? {
        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withFullDate, .withTime])
        guard (try? FileManager.default.createDirectory(at: store.location.logs, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])) != nil else { return nil }
        return store.location.logs.appendingPathComponent("\(stamp)-\(planned.step.name)-\(getpid()).log")
    }

    private func invoke(_ planned: Planned, _ context: CallContext, _ machine: TrackedMachine) throws {
        var result: OpaquePointer?
        let entry = try planned.step.entry()
        let log = keptLog(planned).map { (source: machine.directory.url.appendingPathComponent("log.txt").path, kept: $0.path) }
        let status = CrashReport.during("the plugin \(planned.step.plugin.path), running step \(planned.step.name),", keeping: log) {
            FFIInvoker.call(entry, planned.arguments.values, call: context.raw, machine: machine.handle, result: &result)
        }
        guard status == HOST_OK else {
            let message = context.error ?? "the step reported an error without a message"
            if status == HOST_USAGE_ERROR { throw HostError.usage("\(planned.step.name): \(message)") }
            let exitStatus = engine.services.exitStatus
            throw HostError(.stepFailed, "\(planned.step.name) failed: \(message)", status: exitStatus == 0 ? nil : exitStatus)
        }
        if let result {
            guard let returned = context.machine(result) else {
                throw HostError(.plugin, "\(planned.step.name) returned a machine that is not its own")
            }
            context.result = returned
        }
    }

    // MARK: apply: a step running another step, cached on its own

    func apply(_ context: CallContext, _ machine: TrackedMachine, _ words: [String]) throws -> TrackedMachine {
        let planned = try engine.planner.plan(single: words)
        guard !planned.step.isBackend else { throw HostError(.plugin, "\(context.stepName): cannot apply backend step \(planned.step.name)") }
        if machine.backend.step.savesNothing {
            let applied = CallContext(services: engine.services, stepName: planned.step.name, log: context.log)
            applied.adopt(machine)
            try invoke(planned, applied, machine)
            return machine
        }
        guard let origin = machine.origin, !machine.isDirty else {
            throw HostError(.plugin, "\(context.stepName): apply needs the machine as the step received it (or as an earlier apply returned it); it was already changed, so the result could not be cached correctly")
        }
        if planned.step.isTransient || planned.arguments.forceTransient {
            try runTransient(planned, on: origin)
            return machine
        }
        guard let entry = try cached(planned, parent: origin) else { return machine }
        let applied = try clone(entry, backend: machine.backend)
        context.adopt(applied)
        return applied
    }

    // MARK: Checkpoints: a step saving its machine part-way

    /// What a checkpoint of the step running in `context` records, and the
    /// machine it is a child of.
    private func checkpointProducer(_ context: CallContext, key: String, description: String) throws -> (Producer, PipelinePlanner.Planned, CacheEntry) {
        guard let (planned, parent, _) = context.checkpoints else {
            throw HostError(.plugin, "\(context.stepName): checkpoints need a step that received a saved machine (not a pipeline's first step)")
        }
        let step = planned.step
        // The step's own arguments stay out: the key says what the machine holds.
        let producer = Producer(step: step.name, text: "\(step.name) (\(description))", plugin: step.plugin.path,
                                pluginDigest: step.plugin.digest, arguments: "checkpoint\n" + key, lifetime: step.expiry)
        return (producer, planned, parent)
    }

    func checkpoint(_ context: CallContext, _ machine: TrackedMachine, key: String, description: String) throws -> TrackedMachine {
        let (producer, planned, parent) = try checkpointProducer(context, key: key, description: description)
        let entryKey = producer.key(parent: parent)
        let lock = try store.buildLock(entryKey)
        try lock.lock(.exclusive) {
            output.progress("\(planned.step.name): waiting for another run (pid \(lock.owner() ?? "?")) that is saving the same checkpoint")
        }
        defer { lock.unlock() }
        if try usable(entryKey, parent: parent, planned).entry != nil { return machine }
        lock.writeOwner()
        let started = Date()
        context.release(machine)
        let entry: CacheEntry
        do {
            entry = try publish(machine, of: machine, producer, context, key: entryKey, parent: parent, started: started,
                                built: "\(description) saved", checkpoint: true)
        } catch {
            driver.drop(machine, log: context.log)
            throw error
        }
        let restored = try clone(entry, backend: machine.backend)
        context.adopt(restored)
        return restored
    }

    func resume(_ context: CallContext, key: String) throws -> TrackedMachine? {
        let (producer, planned, parent) = try checkpointProducer(context, key: key, description: "")
        let (found, stale) = try usable(producer.key(parent: parent), parent: parent, planned)
        guard let found else {
            if let stale { context.write(log: "checkpoint not reused: \(stale)") }
            return nil
        }
        let backend = try driver.backend(of: found)
        // Checked here rather than by accept: a refused checkpoint is
        // simply not resumed, and must not make the run start over.
        if !accepted.contains(found.manifest.build) {
            if let problem = driver.problem(with: found, backend: backend) {
                context.write(log: "checkpoint not reused: \(problem)")
                return nil
            }
            accepted.insert(found.manifest.build)
        }
        held.append(found)
        let machine = try clone(found, backend: backend)
        context.adopt(machine)
        return machine
    }

    func discard(_ context: CallContext, _ machine: TrackedMachine) throws {
        guard machine !== context.checkpoints?.machine else {
            throw HostError(.plugin, "\(context.stepName): the machine a step received cannot be discarded")
        }
        driver.drop(machine, log: context.log)
        context.release(machine)
    }

    // MARK: Machines

    private func instantiate(_ planned: Planned, from parent: CacheEntry?) throws -> TrackedMachine {
        guard let parent else {
            let directory = try store.makeTemporary(backend: planned.step.name, transient: planned.step.savesNothing)
            return try configured(try driver.create(planned, in: directory))
        }
        return try clone(parent, backend: try driver.backend(of: parent))
    }

    private func clone(_ entry: CacheEntry, backend: BackendRef, transient: Bool = false) throws -> TrackedMachine {
        try accept(entry, backend: backend)
        let directory = try store.makeTemporary(backend: backend.step.name, transient: transient)
        return try configured(try driver.clone(entry, backend: backend, into: directory))
    }

    /// A machine just made, with this run's run-time arguments; dropped
    /// when it refuses them.
    private func configured(_ machine: TrackedMachine) throws -> TrackedMachine {
        do {
            try driver.setRunArguments(machine, runArguments)
        } catch {
            driver.drop(machine, log: nil)
            throw error
        }
        return machine
    }

    /// Stops every machine the call still owns; their directories go with them.
    private func dropAll(_ context: CallContext) {
        for machine in context.machines {
            driver.drop(machine, log: context.log)
            context.release(machine)
        }
    }

    private func openLog(_ machine: TrackedMachine) -> FileHandle? {
        let path = machine.directory.url.appendingPathComponent("log.txt").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }
}
