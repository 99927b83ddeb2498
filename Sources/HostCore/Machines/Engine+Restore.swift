import Foundation
import HostModel

extension Engine {
    /// A machine made from the saved one in `entry` and started, as a run
    /// of `pipeline` would make it: with the run-time arguments (forwards)
    /// its backend step gives. For a named machine's monitor.
    /// With no entry (a backend that saves nothing: backend.ssh), the
    /// machine is made anew by the pipeline's backend step.
    func restore(_ entry: CacheEntry?, pipeline: [String]) throws -> TrackedMachine {
        let backend = try entry.map { try driver.backend(of: $0) }
        // A `from` pipeline (always saved) starts on its machine's backend step, with its defaults.
        let first: Planned
        if let backend, try PipelineParser.split(pipeline)[0].name == FromStep.name {
            first = try planner.plan(continuing: backend.step, with: [], keeping: true)[0]
        } else {
            first = try planner.plan(pipeline, keeping: true)[0]
        }
        runner.runArguments = zip(first.step.parameters, first.arguments.values).filter { $0.0.isRuntime }
        let machine: TrackedMachine
        if let entry, let backend {
            machine = try runner.clone(entry, backend: backend)
        } else {
            let directory = try store.makeTemporary(backend: first.step.name, transient: true)
            machine = try runner.configured(try driver.create(first, in: directory))
        }
        do {
            try driver.up(machine, log: nil)
        } catch {
            driver.drop(machine, log: nil)
            throw error
        }
        return machine
    }

    /// Saves the running `machine`, made from `parent`, as an entry of its
    /// own owned by the named machine `name`, and ends it.
    func save(_ machine: TrackedMachine, from parent: CacheEntry, name: String, log: FileHandle?) throws -> CacheEntry {
        // A key no pipeline computes: each save is new, and only its record names it.
        let producer = StepRunner.Producer(step: "up", text: "up --name=\(name)", plugin: "", pluginDigest: "",
                                           arguments: "name=\(name) save=\(UUID().uuidString)", lifetime: Int64.max / 2)
        let context = runner.context("up", log: log)
        return try runner.publish(machine, of: machine, producer, context, key: producer.key(parent: parent),
                                  parent: parent, started: Date())
    }
}
