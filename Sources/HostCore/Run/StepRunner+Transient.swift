import Foundation
import PluginABI
import Trace

/// Steps whose machine is not kept: transient ones, on a throwaway clone of
/// their parent, and every step of a backend that saves nothing.
extension StepRunner {
    func runTransient(_ planned: Planned, on parent: CacheEntry) throws {
        let machine = try clone(parent, backend: try driver.backend(of: parent), transient: true)
        Trace.mark("\(planned.step.name): machine cloned")
        defer { Trace.mark("\(planned.step.name): machine dropped") }
        try withCall(planned.step.name, owning: machine) { context in
            context.checkpoints = (planned, parent, machine)
            try keepingLog(of: machine, planned) { try invoke(planned, context, machine) }
            Trace.mark("\(planned.step.name): step done")
        }
    }

    /// Every step, in order, on the one machine of a backend that cannot
    /// save it (HOST_STEP_NO_SAVE): nothing is cached.
    func runUnsaved(_ steps: [Planned]) throws {
        // Said where it matters: a step that would have been cached.
        let later = Array(steps.dropFirst())
        if let first = later.indices.first(where: { index in
            let step = later[index]
            return !step.step.isTransient && !step.arguments.forceTransient && !(step.step.isTransientWhenLast && index == later.count - 1)
        }).map({ later[$0] }) {
            output.progress("\(steps[0].step.name) does not save machines, so nothing is cached: \(first.step.name) and every step after it run each time, on the machine itself")
        }
        let machine = try instantiate(steps[0], from: nil)
        try withCall(steps[0].step.name, owning: machine) { owner in
            for planned in steps {
                // Each step's own call, on the owner's machine and log.
                let context = context(planned.step.name, log: owner.log)
                context.adopt(machine)
                try keepingLog(of: machine, planned) { try invoke(planned, context, machine) }
            }
        }
    }
}
