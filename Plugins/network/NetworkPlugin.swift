import Foundation
import PluginABI
import PluginKit

/// `seal` and `unseal`: a machine built with the network (mirrors, package
/// caches) runs its tests without it. From the step on, the guest reaches
/// nothing outside it; forwarded ports, SSH's among them, still work.
/// Cached: the network is recorded with the machine.
func setNetwork(_ call: StepCall, _ mode: String) throws -> MachineHandle? {
    guard let set = call.extensionTable(HOST_NETWORK_V1, as: host_network_v1.self)?.set_network else {
        throw StepError("this machine's backend cannot change its network") // the planner says so first, from `needs`
    }
    // The backend set the call's error itself.
    guard set(call.rawCall, call.backendObject(), mode) == HOST_OK else { throw HostServiceFailed() }
    return call.machine
}

let plugin = Plugin(name: "network", version: "1.0.0", steps: [
    Step("seal", summary: "Cut the machine off the network from here on: nothing goes out; forwarded ports and SSH still work",
         needs: [HOST_NETWORK_V1]) { call in try setNetwork(call, "restricted") },
    Step("unseal", summary: "Give the machine its network back from here on (after seal)",
         needs: [HOST_NETWORK_V1]) { call in try setNetwork(call, "user") },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
