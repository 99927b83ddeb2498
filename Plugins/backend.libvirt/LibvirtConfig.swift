import Foundation
import PluginKit

/// What a libvirt machine is, kept as `libvirt.json` in its cache entry
/// on the client: where it lives (URI, pool), its volumes there, and how
/// to define its domain again. Its files on the hypervisor are volumes;
/// the only ones here are those staged before the first boot (`staged/`),
/// which the first `up` uploads.
struct LibvirtConfig: MachineRecord {
    static let fileName = "libvirt.json"
    var version = 1
    var uri: String
    var pool: String
    /// libvirt's domain type: "kvm", or "qemu" (TCG).
    var domainType: String
    /// The versioned machine type, pinned at the first boot ("pc-i440fx-7.2").
    var machineType: String?
    var memoryMiB: Int
    var cores: Int
    /// The disk's size in bytes when the OS step sets none of its own.
    var diskSize: UInt64
    var append: String?
    /// Boot the disk's boot loader through the firmware instead of `kernel`.
    var firmwareBoot: Bool?
    var consolePrompt: String?
    var sshUser: String?
    var guestAgent: Bool?
    /// Whether the agent answered when `state` was saved (GuestSession).
    var agentRunning: Bool?
    /// "restricted": QEMU's user network with restrict=on (seal); nil: "user".
    var network: String?
    /// The domain's name and UUID, fixed by the first boot: libvirt restores
    /// a saved domain only under the name and UUID it was saved with.
    var domainName: String
    var domainUUID: String
    /// Volumes on the hypervisor: this machine's disk, the disks below it
    /// (nearest first), its boot files and the saved RAM and device state.
    var disk: Volume?
    var chain: [Volume] = []
    var kernel: Volume?
    var initrd: Volume?
    var cdrom: Volume?
    var state: Volume?
    /// The volumes this entry made, deleted when it leaves the cache (its
    /// ancestors' belong to them).
    var own: [String] = []

    var volumes: [Volume] { [disk, kernel, initrd, cdrom, state].compactMap { $0 } + chain }

    static let staged = "staged"
}
