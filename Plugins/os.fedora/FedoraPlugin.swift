import CloudImage
import PluginKit

/// os.fedora: Fedora Cloud Base (the Generic qcow2) with a NoCloud seed.
let plugin = Plugin(name: "os.fedora", version: "1.0.0", steps: [
    CloudImageStep(name: "os.fedora", distribution: "Fedora", hostname: "fedora", defaultVersion: "43",
                   defaultMirror: FedoraRelease.defaultMirror, mirrorVariable: "HOST_FEDORA_MIRROR",
                   release: FedoraRelease.init).step,
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
