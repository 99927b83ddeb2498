import Foundation
import PluginABI

/// Runs pipelines: resolves steps, reuses or builds cached machines, runs
/// transient steps on throwaway clones, and serves the plugins' requests.
/// Single-threaded by design: plugins are called on this thread only.
public final class Engine {
    let registry: PluginRegistry
    let store: CacheStore
    let output: Output
    let planner: PipelinePlanner
    /// The values of the backend step's run-time parameters, given to every
    /// machine this run makes (host_backend.set_run_arguments).
    private var runArguments: [ArgumentValue.Pair] = []
    /// The status host exits with; set by steps such as exec.
    var exitStatus: Int32 = 0
    /// Entries this run reads from, kept (with their shared locks) until it ends.
    private var held: [CacheEntry] = []

    public init(registry: PluginRegistry, cache: CacheLocation, output: Output,
                defaultBackend: String = ProcessInfo.processInfo.environment["HOST_DEFAULT_BACKEND"] ?? "backend.qemu") throws {
        self.registry = registry
        self.store = try CacheStore(location: cache)
        self.output = output
        planner = PipelinePlanner(registry: registry, defaultBackend: defaultBackend)
        store.forget = { [unowned self] directory, backend in forget(directory, backend: backend) }
    }

    /// Lets a deleted machine's backend release what it keeps outside the
    /// cache for it (backend.podman-criu's images). A backend that is not
    /// installed any more keeps them.
    private func forget(_ directory: URL, backend name: String) {
        guard let step = try? registry.step(named: name), let backend = try? BackendRef(step),
              let forget = backend.table.forget else { return }
        let call = CallContext(engine: self, stepName: step.name, log: nil)
        withExtendedLifetime(call) { forget(call.raw, directory.path) }
    }

    typealias Planned = PipelinePlanner.Planned

    /// Runs `host STEP [ARGS] + STEP ...` and returns the exit status.
    public func run(_ words: [String]) throws -> Int32 {
        let steps = try planner.plan(words)
        runArguments = steps[0].arguments.runtime(steps[0].step)
        store.sweep()

        var current: CacheEntry?
        for (index, planned) in steps.enumerated() {
            let isLast = index == steps.count - 1
            let transient = planned.step.isTransient || planned.arguments.forceTransient
                || (planned.step.isTransientWhenLast && isLast)
            if transient, let parent = current {
                try runTransient(planned, on: parent)
            } else if let entry = try cached(planned, parent: current) {
                current = entry
            }
        }
        return exitStatus
    }

    // MARK: Cached steps

    /// The machine `planned` makes from `parent`: reused when a valid entry
    /// exists, else built once (other runs asking for it meanwhile wait and
    /// reuse it). nil when the step returned nothing.
    func cached(_ planned: Planned, parent: CacheEntry?) throws -> CacheEntry? {
        let key = try cacheKey(planned, parent: parent)
        let (found, stale) = try usable(key, parent: parent)
        if let found { return hold(found, planned, "cached") }

        let lock = try store.buildLock(key)
        try lock.lock(.exclusive) {
            output.progress("\(planned.step.name): waiting for another run (pid \(lock.owner() ?? "?")) that is building it")
        }
        defer { lock.unlock() }
        if let found = try usable(key, parent: parent).entry { return hold(found, planned, "built by another run") }
        lock.writeOwner()
        if let stale { output.progress("\(planned.step.name): rebuilding: \(stale)") }
        return try build(planned, key: key, parent: parent)
    }

    /// A reusable entry that its backend also finds intact (a qcow2 chain
    /// with every backing file in place, say); else why it must be rebuilt.
    private func usable(_ key: String, parent: CacheEntry?) throws -> (entry: CacheEntry?, stale: String?) {
        let (found, stale) = try store.reusable(key, parent: parent)
        guard let found else { return (nil, stale) }
        let backend = try backend(of: found)
        guard let check = backend.table.check else { return (found, nil) }
        let call = CallContext(engine: self, stepName: backend.step.name, log: nil)
        guard check(call.raw, found.machineDirectory.path) == HOST_OK else {
            return (nil, "\(backend.step.name) cannot reuse the saved machine: \(call.error ?? "no reason given")")
        }
        return (found, nil)
    }

    private func hold(_ entry: CacheEntry, _ planned: Planned, _ how: String) -> CacheEntry {
        held.append(entry)
        output.progress("\(planned.step.name): \(how) \(entry.key.prefix(12))")
        return entry
    }

    func cacheKey(_ planned: Planned, parent: CacheEntry?) throws -> String {
        Digest.of("""
            host-cache-key/1
            parent=\(parent?.key ?? "")
            plugin=\(try planned.step.plugin.digest())
            step=\(planned.step.name)
            \(planned.arguments.canonical(planned.step))
            """)
    }

    private func build(_ planned: Planned, key: String, parent: CacheEntry?) throws -> CacheEntry? {
        let started = Date()
        let machine = try instantiate(planned, from: parent)
        let context = CallContext(engine: self, stepName: planned.step.name, log: openLog(machine))
        context.adopt(machine)
        defer { dropAll(context) }
        return try keepingLog(of: machine, planned) { try runAndPublish(planned, context, machine, key: key, parent: parent, started: started) }
    }

    private func runAndPublish(_ planned: Planned, _ context: CallContext, _ machine: Machine, key: String, parent: CacheEntry?,
                      started: Date) throws -> CacheEntry? {
        try invoke(planned, context, machine)
        guard let result = context.result else {
            output.progress("\(planned.step.name): returned nothing, so nothing was cached")
            return nil
        }
        try up(result, context)
        try backendCall(result, context, "down") { $0.table.down($1, result.object) }
        result.isUp = false
        drop(result, context)
        if result.directory !== machine.directory {
            // The step returned a machine from `apply`: its log goes with it.
            try? FileManager.default.copyItem(at: machine.directory.url.appendingPathComponent("log.txt"),
                                              to: result.directory.url.appendingPathComponent("step.log"))
        }
        let now = Date()
        var expires = now.addingTimeInterval(TimeInterval(min(planned.step.expiry, context.expiryCap ?? .max)))
        if let parentExpiry = parent?.manifest.expires, parentExpiry < expires { expires = parentExpiry }
        let manifest = Manifest(
            key: key,
            pipeline: (parent.map { $0.manifest.pipeline + " + " } ?? "") + planned.text,
            step: planned.step.name, plugin: planned.step.plugin.path, pluginDigest: try planned.step.plugin.digest(),
            backend: result.backend.step.name, parentKey: parent?.key, parentBuild: parent?.manifest.build,
            build: UUID().uuidString.lowercased(), created: now, expires: expires, dependencies: context.dependencies)
        let entry = try store.publish(result.directory, manifest: manifest) {
            output.progress("\(planned.step.name): waiting for other runs to stop using the old \(key.prefix(12))")
        }
        return hold(entry, planned, String(format: "built in %.2f s,", Date().timeIntervalSince(started)))
    }

    // MARK: Transient steps

    private func runTransient(_ planned: Planned, on parent: CacheEntry) throws {
        let machine = try clone(parent, backend: try backend(of: parent), transient: true)
        let context = CallContext(engine: self, stepName: planned.step.name, log: openLog(machine))
        context.adopt(machine)
        defer { dropAll(context) }
        try keepingLog(of: machine, planned) { try invoke(planned, context, machine) }
    }

    /// A step that failed keeps its log in CACHE/logs, named in the error,
    /// for the user to read (`host cleanup logs` removes them). Not when
    /// the failure is the command's own status (exec), which was shown.
    private func keepingLog<T>(of machine: Machine, _ planned: Planned, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as HostError where error.status == nil && error.kind != .usage {
            let log = machine.directory.url.appendingPathComponent("log.txt")
            let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withFullDate, .withTime])
            let kept = store.location.logs.appendingPathComponent("\(stamp)-\(planned.step.name)-\(getpid()).log")
            guard CacheStore.diskUsage(log) > 0,
                  (try? FileManager.default.createDirectory(at: store.location.logs, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])) != nil,
                  (try? FileManager.default.copyItem(at: log, to: kept)) != nil
            else { throw error }
            throw HostError(error.kind, error.message + " (the step's log: \(kept.path))")
        }
    }

    private func invoke(_ planned: Planned, _ context: CallContext, _ machine: Machine) throws {
        var result: OpaquePointer?
        let status = FFIInvoker.call(planned.step, planned.arguments.values, call: context.raw,
                                     machine: machine.handle, result: &result)
        guard status == HOST_OK else {
            let message = context.error ?? "the step reported an error without a message"
            if status == HOST_USAGE_ERROR { throw HostError.usage("\(planned.step.name): \(message)") }
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

    func apply(_ context: CallContext, _ machine: Machine, _ words: [String]) throws -> Machine {
        guard let origin = machine.origin, !machine.isDirty else {
            throw HostError(.plugin, "\(context.stepName): apply needs the machine as the step received it (or as an earlier apply returned it); it was already changed, so the result could not be cached correctly")
        }
        let planned = try planner.plan(single: words)
        guard !planned.step.isBackend else { throw HostError(.plugin, "\(context.stepName): cannot apply backend step \(planned.step.name)") }
        if planned.step.isTransient || planned.arguments.forceTransient {
            try runTransient(planned, on: origin)
            return machine
        }
        guard let entry = try cached(planned, parent: origin) else { return machine }
        let applied = try clone(entry, backend: machine.backend)
        context.adopt(applied)
        return applied
    }

    // MARK: Machines

    private func instantiate(_ planned: Planned, from parent: CacheEntry?) throws -> Machine {
        guard let parent else {
            let backend = try BackendRef(planned.step)
            let machine = Machine(backend: backend, directory: try store.makeTemporary(backend: backend.step.name), origin: nil)
            let context = CallContext(engine: self, stepName: backend.step.name, log: nil)
            try backendCall(machine, context, "create") { backend, call in
                backend.table.create(call, machine.directory.machineDirectory.path, &machine.object)
            }
            try giveRunArguments(machine, context)
            return machine
        }
        return try clone(parent, backend: try backend(of: parent))
    }

    private func backend(of entry: CacheEntry) throws -> BackendRef {
        do {
            return try BackendRef(try registry.step(named: entry.manifest.backend))
        } catch {
            throw HostError(.plugin, "the cached machine \(entry.key.prefix(12)) needs backend \(entry.manifest.backend), which is not available: \(error)")
        }
    }

    private func clone(_ entry: CacheEntry, backend: BackendRef, transient: Bool = false) throws -> Machine {
        let machine = Machine(backend: backend, directory: try store.makeTemporary(backend: backend.step.name, transient: transient), origin: entry)
        let context = CallContext(engine: self, stepName: backend.step.name, log: nil)
        try backendCall(machine, context, "clone") { backend, call in
            backend.table.clone(call, entry.machineDirectory.path, machine.directory.machineDirectory.path, &machine.object)
        }
        try giveRunArguments(machine, context)
        return machine
    }

    /// The backend step's run-time arguments, for a machine just made.
    private func giveRunArguments(_ machine: Machine, _ context: CallContext) throws {
        guard let give = machine.backend.table.set_run_arguments else { return }
        let arena = CArena()
        let arguments = arena.kvList(runArguments)
        try withExtendedLifetime(arena) {
            try backendCall(machine, context, "configure") { _, call in give(call, machine.object, arguments) }
        }
    }

    /// Calls one backend function, turning HOST_ERROR into a HostError that
    /// names the backend and the operation.
    private func backendCall(_ machine: Machine, _ context: CallContext, _ operation: String,
                             _ body: (BackendRef, UnsafeMutablePointer<host_call>) -> host_status) throws {
        let call = CallContext(engine: self, stepName: machine.backend.step.name, log: context.log)
        let status = body(machine.backend, call.raw)
        if status == HOST_USAGE_ERROR { throw HostError.usage("\(machine.backend.step.name): \(call.error ?? "no reason given")") }
        guard status == HOST_OK else {
            throw HostError(.stepFailed, "\(machine.backend.step.name) could not \(operation) the machine: \(call.error ?? "no reason given")")
        }
    }

    func up(_ machine: Machine, _ context: CallContext) throws {
        guard !machine.isUp else { return }
        try backendCall(machine, context, "start") { $0.table.up($1, machine.object) }
        machine.isUp = true
    }

    private func drop(_ machine: Machine, _ context: CallContext) {
        guard machine.object != nil else { return }
        let call = CallContext(engine: self, stepName: machine.backend.step.name, log: context.log)
        machine.backend.table.drop(call.raw, machine.object)
        machine.object = nil
    }

    /// Stops every machine the call still owns; their directories go with them.
    private func dropAll(_ context: CallContext) {
        for machine in context.machines {
            drop(machine, context)
            context.release(machine)
        }
    }

    private func openLog(_ machine: Machine) -> FileHandle? {
        let path = machine.directory.url.appendingPathComponent("log.txt").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }

    // MARK: Services the plugins call

    private var identityPath: UnsafeMutablePointer<CChar>?

    /// The per-user SSH key's path, as a C string that lives as long as host.
    func identity() throws -> UnsafePointer<CChar> {
        if let identityPath { return UnsafePointer(identityPath) }
        guard let path = strdup(try SSHIdentity.ensure(in: store.location)) else {
            throw HostError(.environment, "out of memory")
        }
        identityPath = path
        return UnsafePointer(path)
    }

    func fetch(_ context: CallContext, url: String, checksum: String?) throws -> String {
        let downloads = DownloadCache(location: store.location, output: output)
        guard let checksum else { return try downloads.fetchUnverified(url, into: try context.scratchDirectory()) }
        let path = try downloads.fetch(url, checksum: try DownloadCache.Checksum(checksum))
        context.write(log: "fetched \(url) (\(checksum)) as \(path)")
        return path
    }

    func log(_ context: CallContext, _ level: host_log_level, _ message: String) {
        context.write(log: message)
        if level.rawValue >= HOST_LOG_INFO.rawValue || output.verbose {
            output.progress("\(context.stepName): \(message)")
        }
    }

    /// Collects a command's output as the backend streams it.
    private final class Collector {
        var out = Data(), err = Data()
        let stream: Bool
        let log: FileHandle?
        init(stream: Bool, log: FileHandle?) { self.stream = stream; self.log = log }
    }

    func exec(_ context: CallContext, _ machine: Machine, _ command: String, stream: Bool) throws -> (status: Int32, out: Data, err: Data) {
        try up(machine, context)
        machine.isDirty = true
        context.write(log: "$ \(command)")
        let collector = Collector(stream: stream, log: context.log)
        var sink = host_output(struct_size: MemoryLayout<host_output>.size,
                               context: Unmanaged.passUnretained(collector).toOpaque()) { raw, stream, data, length in
            guard let raw, let data else { return }
            let collector = Unmanaged<Collector>.fromOpaque(raw).takeUnretainedValue()
            let chunk = Data(bytes: data, count: length)
            if stream == 2 { collector.err.append(chunk) } else { collector.out.append(chunk) }
            collector.log?.write(chunk)
            if collector.stream { (stream == 2 ? FileHandle.standardError : FileHandle.standardOutput).write(chunk) }
        }
        var status: Int32 = 0
        try withExtendedLifetime(collector) {
            try backendCall(machine, context, "run `\(command)` in") { backend, call in
                backend.table.exec(call, machine.object, command, &sink, &status)
            }
        }
        return (status, collector.out, collector.err)
    }

    func transfer(_ context: CallContext, _ machine: Machine, upload: Bool, _ local: String, _ remote: String) throws {
        try up(machine, context)
        if upload {
            machine.isDirty = true
            try backendCall(machine, context, "upload \(local) to") { $0.table.upload($1, machine.object, local, remote) }
        } else {
            try backendCall(machine, context, "download \(remote) from") { $0.table.download($1, machine.object, remote, local) }
        }
    }

    func consoleSend(_ context: CallContext, _ machine: Machine, _ bytes: [UInt8]) throws {
        try up(machine, context)
        machine.isDirty = true
        try backendCall(machine, context, "type on the console of") { backend, call in
            bytes.withUnsafeBytes { raw in
                backend.table.console_send(call, machine.object, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
            }
        }
    }

    /// Console output for an interactive reader: what expect left over
    /// first, then what the backend reads within `timeoutMs`.
    func consoleRead(_ context: CallContext, _ machine: Machine, capacity: Int, timeoutMs: Int64) throws -> [UInt8] {
        try up(machine, context)
        if !machine.console.isEmpty {
            let bytes = Array(machine.console.prefix(capacity))
            machine.console.removeFirst(bytes.count)
            return bytes
        }
        var buffer = [UInt8](repeating: 0, count: max(capacity, 1))
        var got = 0
        try backendCall(machine, context, "read the console of") { backend, call in
            buffer.withUnsafeMutableBytes { bytes in
                backend.table.console_read(call, machine.object, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                           min(capacity, bytes.count), timeoutMs, &got)
            }
        }
        return Array(buffer.prefix(got))
    }

    func consoleExpect(_ context: CallContext, _ machine: Machine, _ pattern: String, regex: Bool, timeoutMs: Int64) throws {
        try up(machine, context)
        let matcher = try ConsoleMatcher(pattern: pattern, regex: regex)
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutMs) / 1000)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = matcher.matchEnd(in: machine.console) {
                machine.console.removeFirst(end)
                return
            }
            let remaining = Int64(deadline.timeIntervalSinceNow * 1000)
            guard remaining > 0 else {
                let tail = String(decoding: machine.console.suffix(200), as: UTF8.self)
                throw HostError(.stepFailed, "\(context.stepName): the console did not show \(regex ? "a match for /\(pattern)/" : "\"\(pattern)\"") within \(timeoutMs) ms; it last showed: \(tail)")
            }
            var got = 0
            try backendCall(machine, context, "read the console of") { backend, call in
                buffer.withUnsafeMutableBytes { bytes in
                    backend.table.console_read(call, machine.object, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                               bytes.count, remaining, &got)
                }
            }
            machine.console.append(contentsOf: buffer.prefix(got))
            context.log?.write(Data(buffer.prefix(got)))
        }
    }
}
