// PluginKit: Swift conveniences for plugin authors, over host_plugin.h.
// Optional: a plugin in C needs only the header.
//
// The machines, by name:
// - MachineHandle: the host_machine * a step receives (or apply returns);
//   meaningful only during the call, and only to host's services.
// - BackendMachine: a Swift backend's own object for one machine (the
//   `void *` host_backend's functions receive).
// - VirtualMachine and ContainerMachine: the host.vm/1 and host.container/1
//   capabilities of a step's machine, whatever backend offers them.
