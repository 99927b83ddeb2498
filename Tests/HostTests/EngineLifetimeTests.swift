import Foundation
import Testing
@testable import HostCore

/// The engine's parts hold no reference back to what owns them: after a
/// run, the engine and everything it made are freed (a cycle would keep
/// them, and their open files and plugin handles, for the process's life).
@Suite struct EngineLifetimeTests {
    @Test func anEngineAndWhatItMadeAreFreedAfterARun() throws {
        let sandbox = try Sandbox()
        let cache = CacheLocation(root: sandbox.cache)
        let registry = PluginIndex(searching: [sandbox.plugins], cache: cache,
                                      executable: Sandbox.products.appendingPathComponent("host").path)
        weak var engine: Engine?, runner: StepRunner?, services: RunServices?, store: CacheStore?
        try {
            let made = try Engine(registry: registry, cache: cache, output: Output(quiet: true), defaultBackend: "backend.fixture")
            #expect(try made.run(["backend.fixture", "+", "exec", "true", "+", "exec", "--transient", "true"]) == 0)
            (engine, runner, services, store) = (made, made.runner, made.services, made.store)
        }()
        #expect(engine == nil)
        #expect(runner == nil)
        #expect(services == nil)
        #expect(store == nil)
    }
}
