import Foundation
import Trace

/// Runs pipelines. The work is in named parts: the PipelinePlanner turns
/// words into checked steps, the StepRunner reuses, builds and publishes
/// machines, the BackendDriver is the only caller of a backend's table, and
/// RunServices answers what plugins ask of host. The engine makes them and
/// holds them together for one run.
public final class Engine {
    let registry: PluginRegistry
    let store: CacheStore
    let output: Output
    let planner: PipelinePlanner
    private(set) lazy var services = RunServices(engine: self)
    private(set) lazy var driver = BackendDriver(registry: registry, services: services)
    private(set) lazy var runner = StepRunner(engine: self)

    public init(registry: PluginRegistry, cache: CacheLocation, output: Output,
                defaultBackend: String = ProcessInfo.processInfo.environment["HOST_DEFAULT_BACKEND"] ?? "backend.qemu") throws {
        self.registry = registry
        self.store = try CacheStore(location: cache, output: output)
        self.output = output
        planner = PipelinePlanner(registry: registry, defaultBackend: defaultBackend)
        store.releaser = driver
    }

    /// Runs `host STEP [ARGS] + STEP ...` and returns the exit status.
    public func run(_ words: [String]) throws -> Int32 {
        let steps = try planner.plan(words)
        Trace.mark("pipeline planned")
        try runner.run(steps)
        Trace.mark("pipeline done")
        return services.exitStatus
    }
}
