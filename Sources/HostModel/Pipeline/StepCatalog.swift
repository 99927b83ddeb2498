/// One step as the planner and the binder see it: its record (name, flags,
/// parameters, needs, offers) and the two questions only its owner can
/// answer. HostCore's StepInfo answers them from the plugin and the disk;
/// a test's fixture answers them from data, so planning needs no plugin file.
package protocol CatalogStep: Sendable {
    var record: StepRecord { get }

    /// Whether this backend step's machines offer the capability `id`. For
    /// an id host does not know, StepInfo loads the plugin to ask it: the
    /// model only calls this, and only when a pipeline's needs require it.
    func offers(_ id: String) -> Bool

    /// A path parameter's word made into its value: absolute, with the
    /// digest of what it names, or a usage error when it names nothing.
    /// Reading the file is the owner's (HostCore: PathArguments); the
    /// binder calls this for every non-empty path it bound.
    func resolvePath(_ text: String, for parameter: ParameterInfo) throws -> ArgumentValue
}

extension CatalogStep {
    package var name: String { record.name }
    package var parameters: [ParameterInfo] { record.parameters }
    /// Extension ids of which the machine's backend must offer one (host_step.needs).
    package var needs: [String] { record.needs }
    package var isTransient: Bool { record.isTransient }
    package var startsPipeline: Bool { record.startsPipeline }
    package var isBackend: Bool { record.isBackend }
    package var savesNothing: Bool { record.savesNothing }
}

/// Every step a pipeline may name: what the planner needs of the installed
/// plugins (PluginIndex in HostCore), and no more.
package protocol StepCatalog {
    associatedtype Step: CatalogStep

    /// Every step that can run, by name.
    var steps: [Step] { get }

    /// The step called `name`, or the error that says why there is none
    /// (a usage error for an unknown name, with the nearest ones).
    func step(named name: String) throws -> Step
}
