// HostCore: the engine, the part of host that touches the system. Plugins
// are found through the plugin index (PluginIndex, PluginIndexFile,
// PluginScanner), a pipeline is planned by HostModel's PipelinePlanner over
// that index (Planner, Planning.swift), run (StepRunner) and cached
// (CacheStore); BackendDriver is the only caller of a backend's table,
// RunServices answers what plugins ask of host, and CallContext is one
// host_call. The pure part (grammar, binding, planning, keys, manifests,
// registry formats, HostError) is HostModel; what of it needs files lives
// here as extensions (PathArguments, Manifest+Files, Digest+File, OCILayout,
// HostError+System).
//
// The machines, by name (one name per idea, across the code base):
// - TrackedMachine (here): host's record of one machine of a run: its
//   backend, its directory, the entry it was cloned from, and the
//   backend's own object for it.
// - host_machine * (host_plugin.h): the opaque handle a step receives; it
//   points at a TrackedMachine, and PluginKit wraps it as MachineHandle.
// - void *machine in host_backend: the backend's own object, which PluginKit
//   backends implement as a BackendMachine (QemuMachine, PodmanMachine).
// - a saved machine: a cache entry's `machine/` directory (CacheEntry).
//
// The verbs, one each: a running machine is *dropped* (BackendDriver.drop,
// host_backend.drop; a step asks with services->discard, PluginKit's
// call.drop); a deleted entry's backend *forgets* what it kept outside the
// cache (host_backend.forget); a call *disowns* a machine it no longer has
// to drop (saved, or dropped already).

/// host's version, as `host --version` prints it and a pushed machine records.
public let hostVersion = "0.1.0"
