import Foundation
import HostModel
import PluginABI
import Trace

/// What the runner's parts share: calling a step, keeping a failed step's
/// log, making and dropping machines, and the build lock.
extension StepRunner {
    /// A step's call context; its services reach this runner for apply and checkpoints.
    func context(_ step: String, log: FileHandle?) -> CallContext {
        CallContext(services: services, steps: self, stepName: step, log: log)
    }

    /// Runs `body` with a step's call that owns `machine` (logging to the
    /// machine's log unless `log` is given); every machine the call still
    /// owns when it ends, by return or by throw, is dropped.
    func withCall<T>(_ step: String, owning machine: TrackedMachine, log: FileHandle? = nil, _ body: (CallContext) throws -> T) rethrows -> T {
        let context = context(step, log: log ?? openLog(machine))
        context.adopt(machine)
        defer { dropAll(context) }
        return try body(context)
    }

    /// Runs `body` holding the build lock of `key`: another run that holds
    /// it is waited for, and the user told it is `doing` what.
    func withBuildLock<T>(_ key: String, _ step: String, doing what: String = "building it", _ body: (FileLock) throws -> T) throws -> T {
        let lock = try store.buildLock(key)
        try lock.lock(.exclusive) { output.progress("\(step): waiting for another run (pid \(lock.owner() ?? "?")) that is \(what)") }
        defer { lock.unlock() }
        return try body(lock)
    }

    func invoke(_ planned: Planned, _ context: CallContext, _ machine: TrackedMachine) throws {
        var result: OpaquePointer?
        let entry = try planned.step.entry()
        let log = keptLog(planned).map { (source: machine.directory.url.appendingPathComponent("log.txt").path, kept: $0.path) }
        let status = CrashReport.during("the plugin \(planned.step.plugin.path), running step \(planned.step.name),", keeping: log) {
            FFIInvoker.call(entry, planned.arguments.values, call: context.raw, machine: machine.handle, result: &result)
        }
        guard status == HOST_OK else {
            let message = context.error ?? "the step reported an error without a message"
            if status == HOST_USAGE_ERROR { throw HostError.usage("\(planned.step.name): \(message)") }
            let exitStatus = services.exitStatus
            var failure = HostError(.stepFailed, "\(planned.step.name) failed: \(message)", status: exitStatus == 0 ? nil : exitStatus)
            failure.failedRestore = context.failedRestore
            throw failure
        }
        if let result {
            guard let returned = context.machine(result) else {
                throw HostError(.plugin, "\(planned.step.name) returned a machine that is not its own")
            }
            context.result = returned
        }
    }

    /// A step that failed keeps its log in CACHE/logs, named in the error,
    /// for the user to read (`host cleanup logs` removes them). Not when
    /// the failure is the command's own status (exec), which was shown.
    func keepingLog<T>(of machine: TrackedMachine, _ planned: Planned, _ body: () throws -> T) throws -> T {
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
    func keptLog(_ planned: Planned) -> URL? {
        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withFullDate, .withTime])
        guard (try? FileManager.default.createDirectory(at: store.location.logs, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])) != nil else { return nil }
        return store.location.logs.appendingPathComponent("\(stamp)-\(planned.step.name)-\(getpid()).log")
    }

    func instantiate(_ planned: Planned, from parent: CacheEntry?) throws -> TrackedMachine {
        guard let parent else {
            let directory = try store.makeTemporary(backend: planned.step.name, transient: planned.step.savesNothing)
            return try configured(try driver.create(planned, in: directory))
        }
        return try clone(parent, backend: try driver.backend(of: parent))
    }

    func clone(_ entry: CacheEntry, backend: BackendRef, transient: Bool = false) throws -> TrackedMachine {
        try accept(entry, backend: backend)
        let directory = try store.makeTemporary(backend: backend.step.name, transient: transient)
        return try configured(try driver.clone(entry, backend: backend, into: directory))
    }

    /// A machine just made, with this run's run-time arguments; dropped
    /// when it refuses them.
    func configured(_ machine: TrackedMachine) throws -> TrackedMachine {
        do {
            try driver.setRunArguments(machine, runArguments)
        } catch {
            driver.drop(machine, log: nil)
            throw error
        }
        return machine
    }

    /// Stops every machine the call still owns; their directories go with them.
    func dropAll(_ context: CallContext) {
        for machine in context.machines {
            driver.drop(machine, log: context.log)
            context.disown(machine)
        }
    }

    func openLog(_ machine: TrackedMachine) -> FileHandle? {
        let path = machine.directory.url.appendingPathComponent("log.txt").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }
}
