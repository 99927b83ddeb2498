import Foundation
import PluginKit

/// What a saved QEMU machine needs to be cloned and restored, kept as
/// `qemu.json` in its directory. Paths are relative for the machine's own
/// files (the directory moves when host publishes it) and absolute for its
/// ancestors' files, which stay where host published them.
struct QemuConfig: MachineRecord {
    static let fileName = "qemu.json"
    var version = 1
    var binary: String
    /// Size and mtime of the QEMU binary: RAM state restores only on the
    /// QEMU that wrote it, so an upgrade makes host rebuild, not crash.
    var binaryStamp: String
    /// `binary`'s version ("7.2.19"): a pulled machine resumes only on a QEMU
    /// at least as new (Portability). nil in records written before it was kept.
    var qemuVersion: String?
    var accel: String
    /// The versioned machine type and the CPU model the machine was made
    /// with ("pc-i440fx-7.2", "qemu64"), never an alias a newer QEMU
    /// resolves differently: a saved state restores on a later QEMU that
    /// still offers them. nil in records written before they were pinned
    /// ("pc" and QEMU's default CPU; those restore only on the same QEMU).
    var machineType: String?
    var cpu: String?
    var memoryMiB: Int
    var cores: Int
    var extraArguments: [String] = []
    var kernel: String?
    var initrd: String?
    var append: String?
    /// Boot the disk's own boot loader through the firmware (cloud images)
    /// instead of `kernel`.
    var firmwareBoot: Bool?
    /// A read-only second drive, such as a cloud-init NoCloud seed.
    var cdrom: String?
    /// The guest shell's prompt on the serial console; nil: no console shell.
    var consolePrompt: String?
    /// The user host logs in as when the guest runs sshd; its host key is
    /// in the machine's known_hosts. nil: no SSH, use the console.
    var sshUser: String?
    /// The guest runs QEMU's guest agent (host_vm_v1.set_guest_agent):
    /// its ports are part of the machine, and commands after a restore use it.
    var guestAgent: Bool?
    /// The console shell's output ports (host.stdout, host.stderr) are part
    /// of the machine: set with the console prompt before the first boot,
    /// so a machine saved without them is restored without them.
    var outputPorts: Bool?
    /// Whether the agent answered when `state` was saved: a restore asks it
    /// only then, so a guest without one (a cloud image that lacks it, an
    /// agent a step stopped) costs no wait for an answer that cannot come.
    /// nil: saved before host recorded it, so asked.
    var agentRunning: Bool?
    /// What the guest's network reaches (host.network/1): "user" (nil),
    /// "restricted" (nothing out of the guest; forwards still work) or
    /// "none" (no network card). Applied whenever QEMU starts.
    var network: String?
    static let networkModes = ["user", "restricted", "none"]
    /// This machine's own qcow2 overlay (or base image).
    var disk = "disk.qcow2"
    /// The backing images below `disk`, nearest first.
    var chain: [String] = []
    /// RAM and device state to restore from; nil until the first boot.
    var state: String?
    /// How `state` was written: "mapped-ram" (QEMU 9 and later: a sparse
    /// file, a page at its own offset, loaded without decompressing), or
    /// nil for a zstd-compressed migration stream. Restored the same way.
    var stateFormat: String?
    /// Which save wrote `state`: its QEMU may still be running, parked for
    /// the next step (ParkedMachine).
    var savedID: String?

    /// This config as seen from a clone: every own file made absolute.
    func anchored(at directory: URL) -> QemuConfig {
        var copy = self
        copy.kernel = kernel.map { Self.resolve($0, in: directory) }
        copy.initrd = initrd.map { Self.resolve($0, in: directory) }
        copy.cdrom = cdrom.map { Self.resolve($0, in: directory) }
        copy.state = state.map { Self.resolve($0, in: directory) }
        copy.chain = [Self.resolve(disk, in: directory)] + chain
        return copy
    }

    /// What "pc" stands for in `binary` (`-machine help`: "pc ... (alias of pc-i440fx-7.2)").
    static func machineType(of binary: String) throws -> String {
        let types = try HostTool.run(binary, ["-machine", "help"], package: "qemu-system-x86")
        guard let line = types.split(separator: "\n").first(where: { $0.hasPrefix("pc ") }),
              let alias = line.range(of: "(alias of ") else {
            throw StepErrorText("\(binary) -machine help names no versioned type behind \"pc\"")
        }
        return String(line[alias.upperBound...].prefix { $0 != ")" })
    }

    /// Whether `binary` offers the machine type `type`.
    static func offers(_ type: String, binary: String) -> Bool {
        let types = (try? HostTool.run(binary, ["-machine", "help"], package: "qemu-system-x86")) ?? ""
        return types.split(separator: "\n").contains { $0.split(separator: " ").first.map(String.init) == type }
    }

    /// Whether `binary` offers the CPU model `cpu`.
    static func offersCPU(_ cpu: String, binary: String) -> Bool {
        let models = (try? HostTool.run(binary, ["-cpu", "help"], package: "qemu-system-x86")) ?? ""
        return models.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first.map(String.init) == cpu }
    }

    /// "7.2.19" from `QEMU emulator version 7.2.19 (Debian ...)`.
    static func version(of binary: String) throws -> String {
        let text = try HostTool.run(binary, ["-version"], package: "qemu-system-x86")
        guard let range = text.range(of: "version ") else { throw StepErrorText("\(binary) -version names no version") }
        return String(text[range.upperBound...].prefix { $0.isNumber || $0 == "." })
    }

    static func stamp(of binary: String) -> String {
        var info = stat()
        guard stat(binary, &info) == 0 else { return "missing" }
        return "\(info.st_size):\(info.st_mtim.tv_sec)"
    }
}
