import Foundation
import HostModel
import Trace

/// Runs pipelines. The work is in named parts: the PipelinePlanner turns
/// words into checked steps, the StepRunner reuses, builds and publishes
/// machines, the BackendDriver is the only caller of a backend's table, and
/// RunServices answers what plugins ask of host. The engine makes them,
/// each given what it uses; none of them holds the engine.
public final class Engine {
    let registry: PluginIndex
    let store: CacheStore
    let output: Output
    let planner: Planner
    let services: RunServices
    let driver: BackendDriver
    let runner: StepRunner

    public init(registry: PluginIndex, cache: CacheLocation, output: Output,
                defaultBackend: String = ProcessInfo.processInfo.environment["HOST_DEFAULT_BACKEND"] ?? "backend.qemu") throws {
        self.registry = registry
        self.output = output
        planner = Planner(registry: registry, defaultBackend: defaultBackend)
        services = RunServices(registry: registry, location: cache, output: output)
        driver = BackendDriver(registry: registry, services: services)
        store = try CacheStore(location: cache, output: output, forget: driver.forget)
        runner = StepRunner(store: store, driver: driver, output: output, planner: planner, services: services)
    }

    /// Runs `host STEP [ARGS] + STEP ...` and returns the exit status.
    public func run(_ words: [String]) throws -> Int32 {
        defer { PeriodicCleanup.startIfDue(store.location) }
        try execute(words, keeping: false)
        return services.exitStatus
    }

    /// Runs a pipeline, or `from NAME + STEP ...`, and returns the last
    /// machine it cached, held. `keeping`: the machine is wanted afterwards
    /// (push, tag), so a last step that would be transient is cached.
    /// `check` sees the backend before anything runs.
    @discardableResult
    func execute(_ words: [String], keeping: Bool, check: (BackendRef) throws -> Void = { _ in }) throws -> CacheEntry? {
        defer { PathDigests.shared.save() }
        let invocations = try PipelineParser.split(words)
        guard invocations[0].name == FromStep.name else {
            let steps = try planner.plan(words, keeping: keeping)
            try check(try BackendRef(steps[0].step))
            Trace.mark("pipeline planned")
            defer { Trace.mark("pipeline done") }
            return try runner.run(steps, keeping: keeping)
        }
        let from = try FromStep(invocations[0])
        let rest = Array(invocations.dropFirst())
        try planner.checkFollowing(rest) // a mistyped step is said before anything is pulled
        let start = try from.resolve(runner: runner) { try pulledMachine($0, tlsVerify: $1) }
        let backend = try driver.backend(of: start)
        try check(backend)
        let steps = try planner.plan(continuing: backend.step, with: rest, keeping: keeping)
        return try runner.run(steps, start: start, keeping: keeping)
    }
}
