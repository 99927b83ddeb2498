import CloudImage
import PluginKit

/// os.ubuntu: Ubuntu Server's cloud image with a NoCloud seed.
let plugin = Plugin(name: "os.ubuntu", version: "1.0.0", steps: [
    CloudImageStep(name: "os.ubuntu", distribution: "Ubuntu", hostname: "ubuntu", defaultVersion: "24.04",
                   defaultMirror: UbuntuRelease.defaultMirror, mirrorVariable: "HOST_UBUNTU_MIRROR",
                   release: UbuntuRelease.init).step,
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
