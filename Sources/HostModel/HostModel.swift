// HostModel: what host knows, as values. The pipeline grammar
// (PipelineParser), a step's words bound to typed arguments (ArgumentValue,
// ArgumentBinder), a pipeline planned over a catalog of steps
// (PipelinePlanner over a StepCatalog of CatalogSteps, each described by a
// StepRecord and its ParameterInfo), cache keys (CacheKey, Digest of bytes),
// what an entry records (Manifest), and how a machine is addressed and laid
// out in a registry (RegistryReference, OCIImage, MachineImage). HostError,
// the one error host shows, is here because all of these throw it.
//
// The rule: pure. No files, no processes, no dynamic loading, no clock read
// where `now` can be passed in: Foundation's value types only
// (FoundationEssentials: Data, Date, JSON coding), the PluginABI header's
// constants and swift-crypto's SHA-256. Whatever needs the disk or a plugin
// is asked through a protocol HostCore implements (CatalogStep: an unknown
// capability loads the plugin, a host path is resolved and digested) or is
// an extension in HostCore (Manifest+Files, Digest+File, OCILayout,
// HostError+System). ModelPurityTests holds the line.
//
// The machine it speaks of is the saved one only, as data: a Manifest's
// SavedPaths and a MachineImage's entries describe a cache entry's
// `machine/` directory; the running machines (TrackedMachine, host_machine)
// are HostCore's.
