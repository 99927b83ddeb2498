import Foundation
import HostModel
import PluginABI
import Trace

/// What a running step asks of the runner through the host services:
/// another step applied to its machine (cached on its own), and
/// checkpoints of its machine part-way.
extension StepRunner: StepApplying {
    func apply(_ context: CallContext, _ machine: TrackedMachine, _ words: [String]) throws -> TrackedMachine {
        let planned = try planner.plan(single: words)
        guard !planned.step.isBackend else { throw HostError(.plugin, "\(context.stepName): cannot apply backend step \(planned.step.name)") }
        if machine.backend.step.savesNothing {
            let applied = self.context(planned.step.name, log: context.log)
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

    // A step saving its machine part-way: checkpoints.

    /// What a checkpoint of the step running in `context` records, and the
    /// machine it is a child of.
    func checkpointProducer(_ context: CallContext, key: String, description: String) throws -> (Producer, Planned, CacheEntry) {
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
        let entry: CacheEntry? = try withBuildLock(entryKey, planned.step.name, doing: "saving the same checkpoint") { lock in
            if try usable(entryKey, parent: parent, planned).entry != nil { return nil }
            lock.writeOwner()
            let started = Date()
            context.disown(machine)
            do {
                return try publish(machine, of: machine, producer, context, key: entryKey, parent: parent, started: started,
                                   checkpoint: description)
            } catch {
                driver.drop(machine, log: context.log)
                throw error
            }
        }
        // Saved by another run meanwhile: this one goes on with its own machine.
        guard let entry else { return machine }
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

    func drop(_ context: CallContext, _ machine: TrackedMachine) throws {
        guard machine !== context.checkpoints?.machine else {
            throw HostError(.plugin, "\(context.stepName): the machine a step received cannot be dropped")
        }
        driver.drop(machine, log: context.log)
        context.disown(machine)
    }
}
