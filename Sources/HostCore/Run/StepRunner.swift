import Foundation
import HostModel
import PluginABI
import Trace

/// Runs the steps of a planned pipeline: reuses a cached machine or builds
/// and publishes it (StepRunner+Cached), runs transient steps on throwaway
/// clones and, on a backend that saves nothing, every step on the one
/// machine (StepRunner+Transient), and what a step applies or checkpoints
/// (StepRunner+Applying); StepRunner+Calls holds what they share.
/// Single-threaded by design: plugins are called on this thread only.
final class StepRunner {
    let store: CacheStore
    let driver: BackendDriver
    let output: Output
    let planner: Planner
    let services: RunServices
    /// The backend step's run-time arguments, given to every machine this run makes.
    var runArguments: [(ParameterInfo, ArgumentValue)] = []
    /// Entries this run reads from, kept (with their shared locks) until it ends.
    var held: [CacheEntry] = []
    /// Builds of entries their backend accepted this run, and those it
    /// refused with why (rebuilt when looked up again).
    var accepted: Set<String> = []
    var refused: [String: String] = [:]
    /// Builds whose reuse this run has reported.
    var announced: Set<String> = []
    /// The machine is wanted afterwards (push, tag): a last step that would
    /// be transient is cached.
    private var keeping = false
    /// The saved machine a `from` pipeline starts on.
    private var start: CacheEntry?

    init(store: CacheStore, driver: BackendDriver, output: Output, planner: Planner, services: RunServices) {
        self.store = store
        self.driver = driver
        self.output = output
        self.planner = planner
        self.services = services
    }

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
            guard let failed = ((error as? HostError)?.failedRestore).map(URL.init(fileURLWithPath:)) else { throw error }
            // Our own shared locks would keep the rebuild from replacing it.
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
            output.report(RunEvent(.rebuilding, key: directory.lastPathComponent,
                                   reason: "the saved machine \(directory.lastPathComponent.prefix(12)) did not restore and is \(damage)"))
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

}
