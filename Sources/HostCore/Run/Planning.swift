import HostModel

/// HostModel's planner over the installed plugins: the steps it plans are
/// StepInfo, whose code the runner calls.
typealias Planner = PipelinePlanner<PluginIndex>
typealias Planned = PlannedStep<StepInfo>

/// The plugin index is the catalog the planner looks steps up in: its
/// `steps` and `step(named:)` (with the unknown-step usage error) are the
/// protocol's.
extension PluginIndex: StepCatalog {}
