/// Turns command-line words into the steps to run, and refuses, before any
/// work, a pipeline that cannot work: each refusal is a usage error whose
/// one sentence says what to write instead. It knows the steps only through
/// its catalog (HostCore's PluginIndex; a fixture in the unit tests), and
/// hands back the catalog's own step type, so the runner gets StepInfo.
package struct PipelinePlanner<Catalog: StepCatalog> {
    package let registry: Catalog
    /// Which backend a pipeline starts on when its first step is not one.
    package let defaultBackend: String

    package typealias Step = Catalog.Step
    package typealias Planned = PlannedStep<Step>

    package init(registry: Catalog, defaultBackend: String) {
        self.registry = registry
        self.defaultBackend = defaultBackend
    }

    /// The whole pipeline, the default backend first when none was named.
    /// `keeping`: the machine is wanted afterwards (push, tag).
    package func plan(_ words: [String], keeping: Bool = false) throws -> [Planned] {
        let invocations = try PipelineParser.split(words)
        // Shape before arguments: `host ansible` should hear that it needs a
        // machine, not that the module is missing.
        let steps = try invocations.map { try registry.step(named: $0.name) }
        try checkShape(steps, invocations)
        var planned = try zip(steps, invocations).map { try Self.bind($1, to: $0) }
        if !steps[0].isBackend {
            let backend: Step
            do {
                backend = try registry.step(named: defaultBackend)
            } catch {
                throw HostError.usage("\(steps[0].name) runs on the default backend \(defaultBackend), which is not installed; start the pipeline with a backend step or set HOST_DEFAULT_BACKEND (\(registry.steps.filter(\.isBackend).map(\.name).joined(separator: ", ")))")
            }
            planned.insert(try Self.bind(.init(name: defaultBackend, words: []), to: backend), at: 0)
        }
        try checkNeeds(planned.map(\.step))
        if planned[0].step.savesNothing, let transient = planned.dropFirst().first(where: { $0.arguments.forceTransient }) {
            throw HostError.usage("\(transient.step.name) --transient cannot be undone on \(planned[0].step.name): it works on an existing machine, which it cannot save or restore, so what a step does there stays; remove --transient")
        }
        if planned[0].arguments.forceTransient {
            throw HostError.usage("\(planned[0].step.name) cannot be transient: it makes the machine every later step works on; remove --transient")
        }
        if let first = planned.dropFirst().first, first.step.startsPipeline, planned.count > 2,
           first.step.isTransient || first.arguments.forceTransient {
            throw HostError.usage("\(first.step.name) --transient would drop the system it installs, so \(planned[2].step.name) would get an empty machine; remove --transient (the installed system is cached and reused)")
        }
        if keeping { try checkKept(planned) }
        return planned
    }

    /// The steps after `from NAME`, on the named machine's backend (first,
    /// with its defaults), which nothing may replace.
    package func plan(continuing backend: Step, with invocations: [PipelineParser.Invocation], keeping: Bool) throws -> [Planned] {
        let following = try checkFollowing(invocations)
        let planned = [try Self.bind(.init(name: backend.name, words: []), to: backend)] + following
        try checkNeeds(planned.map(\.step))
        if keeping { try checkKept(planned) }
        return planned
    }

    /// The steps after `from NAME` bound, which says what is wrong with them
    /// before anything is pulled: none may make a new machine.
    @discardableResult
    package func checkFollowing(_ invocations: [PipelineParser.Invocation]) throws -> [Planned] {
        let steps = try invocations.map { try registry.step(named: $0.name) }
        if let installer = steps.first(where: { $0.startsPipeline }) {
            throw HostError.usage("\(installer.name) makes a new machine, so it cannot follow `from`, which starts from a saved one; remove \(installer.name) or start a pipeline of its own with it")
        }
        return try zip(steps, invocations).map { try Self.bind($1, to: $0) }
    }

    /// A kept machine ends with the last step whose result is cached: one
    /// that is always transient (`ssh`, `--transient`) would do work that
    /// is thrown away.
    private func checkKept(_ planned: [Planned]) throws {
        guard planned.count > 1, let last = planned.last, last.step.isTransient || last.arguments.forceTransient else { return }
        throw HostError.usage("\(last.step.name) is transient, so nothing it does is kept in the machine; remove it (the machine is the one the steps before it make)")
    }

    /// The one step `apply` runs.
    package func plan(single words: [String]) throws -> Planned {
        let invocations = try PipelineParser.split(words)
        guard invocations.count == 1 else { throw HostError(.plugin, "apply takes one step, not a pipeline") }
        return try Self.bind(invocations[0], to: try registry.step(named: invocations[0].name))
    }

    private func checkShape(_ steps: [Step], _ invocations: [PipelineParser.Invocation]) throws {
        guard steps[0].startsPipeline else {
            let starters = registry.steps.filter(\.startsPipeline).map(\.name)
            let example = starters.first { $0.hasPrefix("os.") } ?? starters.first ?? "backend.qemu"
            throw HostError.usage("\(steps[0].name) needs a machine, so it cannot start a pipeline; start with a step that makes one (\(starters.joined(separator: ", "))), as in `host \(example) + \(invocations[0].name)`")
        }
        for (index, step) in steps.enumerated().dropFirst() {
            if step.isBackend {
                let others = invocations.indices.filter { $0 != index }.map { invocations[$0].name }
                throw HostError.usage(steps[0].isBackend
                    ? "a pipeline runs on one backend, and this one starts with \(steps[0].name); remove \(step.name)"
                    : "\(step.name) is a backend, so it can only be the first step of a pipeline, as in `host \(step.name) + \(others.joined(separator: " + "))`")
            }
            if step.startsPipeline && !(index == 1 && steps[0].isBackend) {
                throw HostError.usage("\(step.name) installs a new system, so it can only come first or right after a backend step; make it a pipeline of its own, as in `host \(steps[0].isBackend ? steps[0].name + " + " : "")\(step.name) + ...`")
            }
        }
    }

    /// Each step's machine must offer one of the capabilities it needs.
    private func checkNeeds(_ steps: [Step]) throws {
        let backend = steps[0]
        if backend.savesNothing, let installer = steps.dropFirst().first(where: \.startsPipeline) {
            throw HostError.usage("\(installer.name) installs an operating system, and \(backend.name) works on an existing machine, which has its own already; remove \(installer.name)")
        }
        for step in steps.dropFirst() where !step.needs.isEmpty && !step.needs.contains(where: backend.offers) {
            let offering = registry.steps.filter { candidate in candidate.isBackend && step.needs.contains(where: candidate.offers) }.map(\.name)
            let needs = step.needs.joined(separator: " or ")
            throw HostError.usage("\(step.name) needs a machine offering \(needs), which \(backend.name) does not; "
                + (offering.first.map { "start the pipeline with a backend that does (\(offering.joined(separator: ", "))), as in `host \($0) + \(step.name)`" }
                   ?? "no installed backend offers it"))
        }
    }

    private static func bind(_ invocation: PipelineParser.Invocation, to step: Step) throws -> Planned {
        let arguments = try ArgumentBinder.bind(invocation.words, to: step)
        let text = ([invocation.name] + invocation.words.map(ShellWord.quote)).joined(separator: " ")
        return Planned(step: step, arguments: arguments, text: text)
    }
}

/// One step of a pipeline, resolved and with its arguments converted.
package struct PlannedStep<Step: CatalogStep>: Sendable {
    package let step: Step
    package let arguments: BoundArguments
    /// The step as a person would type it, for manifests and messages.
    package let text: String

    package init(step: Step, arguments: BoundArguments, text: String) {
        self.step = step
        self.arguments = arguments
        self.text = text
    }
}
