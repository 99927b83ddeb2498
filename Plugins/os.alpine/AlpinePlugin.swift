import CloudImage
import PluginKit

/// os.alpine: Alpine's nocloud cloud-init image (BIOS boot) with a NoCloud seed.
let plugin = Plugin(name: "os.alpine", version: "1.0.0", steps: [
    CloudImageStep(name: "os.alpine", distribution: "Alpine", hostname: "alpine", defaultVersion: "3.22",
                   defaultMirror: AlpineRelease.defaultMirror, mirrorVariable: "HOST_ALPINE_MIRROR",
                   release: AlpineRelease.init).step,
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
