/// What the host services need of the step runner while a step runs: the
/// re-entry of apply and checkpoints. The runner gives itself to each step's
/// CallContext, so the services hold no reference to it.
protocol StepApplying {
    /// Runs the step `words` on `machine` (cached on its own) and returns the machine it made.
    func apply(_ context: CallContext, _ machine: TrackedMachine, _ words: [String]) throws -> TrackedMachine
    /// Saves `machine` part-way through the step as a child of its parent; returns the restored copy to go on with.
    func checkpoint(_ context: CallContext, _ machine: TrackedMachine, key: String, description: String) throws -> TrackedMachine
    /// The machine of a checkpoint saved earlier, or nil when there is none to reuse.
    func resume(_ context: CallContext, key: String) throws -> TrackedMachine?
    /// Ends a machine the step made and no longer wants (services->discard).
    func drop(_ context: CallContext, _ machine: TrackedMachine) throws
}
