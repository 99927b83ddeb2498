import Foundation
import PluginABI
import GuestAccess
import PluginKit
import PluginSupport

/// Saved chains deeper than this are flattened into one image on clone, so
/// a long pipeline never makes every disk read walk dozens of files.
let maximumChainDepth = 16

struct QemuBackend: Backend {
    /// A new VM with the size, accelerator and empty disk the backend.qemu
    /// step's arguments ask for.
    func create(_ call: BackendCall, directory: String, arguments: Arguments) throws -> BackendMachine {
        guard arguments.string("arch") == "x86_64" else {
            throw StepError.usage("--arch=\(arguments.string("arch")) is not supported yet; use x86_64")
        }
        let memory = try mebibytes(arguments.string("ram"), "ram")
        let network = arguments.string("network")
        guard QemuConfig.networkModes.contains(network) else {
            throw StepError.usage("--network=\(network) is not a network mode; use user, restricted or none")
        }
        _ = try Tool.path("zstd")
        let binary = try Tool.path("qemu-system-x86_64")
        let url = URL(fileURLWithPath: directory)
        let machine = QemuMachine(directory: url, config: QemuConfig(
            binary: binary, binaryStamp: QemuConfig.stamp(of: binary), qemuVersion: try QemuConfig.version(of: binary),
            accel: try Accelerator.resolve(arguments.string("accel"), binary: binary) { call.log($0, level: .warning) },
            machineType: try QemuConfig.machineType(of: binary), cpu: "qemu64",
            memoryMiB: memory, cores: Int(arguments.int("cores")), extraArguments: arguments.list("qemu-arg"),
            network: network == "user" ? nil : network))
        try Tool.run("qemu-img", ["create", "-q", "-f", "qcow2", url.appendingPathComponent("disk.qcow2").path, arguments.string("disk")])
        try machine.config.save(to: url)
        return machine
    }

    func clone(_ call: BackendCall, from source: String, to destination: String) throws -> BackendMachine {
        let sourceURL = URL(fileURLWithPath: source), destinationURL = URL(fileURLWithPath: destination)
        var config = try QemuConfig.load(from: sourceURL).anchored(at: sourceURL)
        let disk = destinationURL.appendingPathComponent("disk.qcow2").path
        let flatten = config.chain.count > maximumChainDepth
        // The QEMU that saved the source, still running, unless the chain is flattened now.
        let parked = ParkedMachine.take(flatten ? nil : config.savedID)
        let backing = config.chain[0]
        func makeOverlay() throws {
            if let size = ImageChain.virtualSize(of: backing) {
                // -u with the size from the header: qemu-img need not open the
                // chain (a third of its time; the parked QEMU holds the top).
                try Tool.run("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "qcow2", disk, String(size)])
            } else {
                try Tool.run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", disk])
            }
        }
        if flatten {
            try Tool.run("qemu-img", ["convert", "-O", "qcow2", backing, disk])
            config.chain = []
        } else {
            try makeOverlay()
        }
        config.disk = "disk.qcow2"
        let knownHosts = sourceURL.appendingPathComponent(SSHAccess.knownHostsFile)
        if FileManager.default.fileExists(atPath: knownHosts.path) {
            try FileManager.default.copyItem(at: knownHosts, to: destinationURL.appendingPathComponent(SSHAccess.knownHostsFile))
        }
        try config.save(to: destinationURL)
        let machine = QemuMachine(directory: destinationURL, config: config)
        if let parked {
            do {
                try machine.adopt(parked)
            } catch {
                parked.kill()
                try makeOverlay() // afresh: whatever the attempt left in it goes
                call.log("could not continue the machine that was just saved (\(error)); restoring it", level: .warning)
            }
        }
        return machine
    }

    /// Refuses a saved machine whose files are not exactly what its config
    /// records, or that the installed QEMU cannot restore: host rebuilds it
    /// instead. A QEMU upgrade keeps machines whose machine type it offers.
    func check(_ call: BackendCall, directory: String) throws {
        let url = URL(fileURLWithPath: directory)
        let config = try QemuConfig.load(from: url)
        if config.binaryStamp != QemuConfig.stamp(of: config.binary) {
            guard config.machineType != nil else {
                throw StepErrorText("it was saved by another build of \(config.binary) (QEMU was upgraded) with no pinned machine type")
            }
            if let problem = Portability.obstacle(config) { throw StepErrorText(problem + " (QEMU was changed)") }
        }
        if let problem = ImageChain.problem([QemuConfig.resolve(config.disk, in: url)] + config.chain) {
            throw StepErrorText(problem)
        }
        for file in [config.kernel, config.initrd, config.cdrom, config.state].compactMap({ $0 }) {
            let path = QemuConfig.resolve(file, in: url)
            guard FileManager.default.fileExists(atPath: path) else { throw StepErrorText("\(path) is missing") }
        }
    }

    func extensionTable(_ id: String) -> UnsafeRawPointer? {
        switch id {
        case HOST_VM_V1, HOST_QEMU_V1: UnsafeRawPointer(vmExtension)
        case HOST_SSH_V1: UnsafeRawPointer(guestSSHExtension)
        case HOST_PORTABLE_V1: UnsafeRawPointer(portableExtension)
        case HOST_NETWORK_V1: UnsafeRawPointer(networkExtension)
        default: nil
        }
    }
}

private func machine(_ raw: UnsafeMutableRawPointer?) -> QemuMachine? { backendMachine(raw, as: QemuMachine.self) }

/// Records `message` as the call's error: HOST_ERROR.
func fail(_ call: UnsafeMutablePointer<host_call>?, _ message: String) -> host_status {
    if let call { call.pointee.services.pointee.set_error(call, message) }
    return HOST_ERROR
}

/// Changes the machine's config and saves it: HOST_OK, or the error
/// recorded as "NAME: reason".
private func configure(_ call: UnsafeMutablePointer<host_call>?, _ name: String, _ machine: QemuMachine,
                       _ change: () throws -> Void) -> host_status {
    do {
        try change()
        try machine.config.save(to: machine.directory)
        return HOST_OK
    } catch {
        return fail(call, "\(name): \(error)")
    }
}

/// The host.vm/1 table (host_vm.h), also offered under its old name
/// host.qemu/1. Written once, then only read: host calls plugins on one thread.
nonisolated(unsafe) let vmExtension: UnsafeMutablePointer<host_vm_v1> = {
    let table = UnsafeMutablePointer<host_vm_v1>.allocate(capacity: 1)
    table.initialize(to: host_vm_v1(
        struct_size: MemoryLayout<host_vm_v1>.size,
        set_boot: { call, raw, kernel, initrd, append in
            guard let machine = machine(raw) else { return fail(call, "set_boot needs a QEMU machine \(String(describing: raw)) \(String(describing: raw.map { Unmanaged<AnyObject>.fromOpaque($0).takeUnretainedValue() }))") }
            guard machine.config.state == nil else { return fail(call, "set_boot: the machine has booted already") }
            guard kernel != nil || (initrd == nil && append == nil) else {
                return fail(call, "set_boot: booting the disk's own boot loader takes no initrd or command line")
            }
            return configure(call, "set_boot", machine) {
                guard let kernel else {
                    machine.config.kernel = nil
                    machine.config.initrd = nil
                    machine.config.append = nil
                    machine.config.firmwareBoot = true
                    return
                }
                let boot = machine.directory.appendingPathComponent("boot")
                try FileManager.default.createDirectory(at: boot, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: String(cString: kernel), toPath: boot.appendingPathComponent("kernel").path)
                machine.config.kernel = "boot/kernel"
                machine.config.firmwareBoot = nil
                if let initrd {
                    try FileManager.default.copyItem(atPath: String(cString: initrd), toPath: boot.appendingPathComponent("initrd").path)
                    machine.config.initrd = "boot/initrd"
                }
                machine.config.append = append.map { String(cString: $0) }
            }
        },
        set_console_prompt: { call, raw, prompt in
            guard let machine = machine(raw), let prompt else { return fail(call, "set_console_prompt needs a QEMU machine and a prompt") }
            machine.config.consolePrompt = String(cString: prompt)
            if machine.config.state == nil, machine.process == nil { machine.config.outputPorts = true }
            return HOST_OK
        },
        ssh_port: { raw in (try? machine(raw)?.sshPort()).flatMap { $0 } ?? 0 },
        set_disk: { call, raw, image, format in
            guard let machine = machine(raw), let image, let format else { return fail(call, "set_disk needs a QEMU machine, an image and a format") }
            guard machine.config.state == nil, machine.process == nil else { return fail(call, "set_disk: the machine has booted already") }
            return configure(call, "set_disk", machine) {
                let disk = machine.directory.appendingPathComponent("disk.qcow2").path
                // The image keeps at least the size backend.qemu's --disk asked for.
                try DiskImage.makeQcow2(from: String(cString: image), format: String(cString: format), at: disk,
                                        minimumSize: try? DiskImage.virtualSize(disk))
                machine.config.disk = "disk.qcow2"
                machine.config.chain = []
            }
        },
        set_ssh: { call, raw, user, hostKey in
            guard let machine = machine(raw), let user, let hostKey else { return fail(call, "set_ssh needs a QEMU machine, a user and a host key") }
            let line = "\(SSHAccess.alias) \(String(cString: hostKey).trimmingCharacters(in: .whitespacesAndNewlines))\n"
            return configure(call, "set_ssh", machine) {
                try line.write(to: machine.directory.appendingPathComponent(SSHAccess.knownHostsFile), atomically: true, encoding: .utf8)
                machine.config.sshUser = String(cString: user)
            }
        },
        attach_cdrom: { call, raw, image in
            guard let machine = machine(raw), let image else { return fail(call, "attach_cdrom needs a QEMU machine and an image") }
            guard machine.config.state == nil, machine.process == nil else { return fail(call, "attach_cdrom: the machine has booted already") }
            return configure(call, "attach_cdrom", machine) {
                let copy = machine.directory.appendingPathComponent("cdrom.img")
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(atPath: String(cString: image), toPath: copy.path)
                machine.config.cdrom = "cdrom.img"
            }
        },
        set_guest_agent: { call, raw in
            guard let machine = machine(raw) else { return fail(call, "set_guest_agent needs a QEMU machine") }
            guard machine.config.state == nil, machine.process == nil else { return fail(call, "set_guest_agent: the machine has booted already") }
            machine.config.guestAgent = true
            return HOST_OK
        },
        reboot: { call, raw, timeout in guestReboot(call, raw, timeoutMs: timeout) }))
    return table
}()

/// The host.network/1 table (host_network.h). Written once, then only read.
nonisolated(unsafe) let networkExtension: UnsafeMutablePointer<host_network_v1> = {
    let table = UnsafeMutablePointer<host_network_v1>.allocate(capacity: 1)
    table.initialize(to: host_network_v1(
        struct_size: MemoryLayout<host_network_v1>.size,
        set_network: { call, raw, mode in
            guard let call, let machine = machine(raw), let mode else { return fail(call, "set_network needs a QEMU machine and a mode") }
            let name = String(cString: mode)
            guard QemuConfig.networkModes.contains(name) else { return fail(call, "set_network: \(name) is not user, restricted or none") }
            return configure(call, "set_network", machine) {
                machine.config.network = name == "user" ? nil : name
                try machine.restart(BackendCall(raw: call))
            }
        }))
    return table
}()

let plugin = Plugin(name: "backend.qemu", version: "1.0.0", steps: [
    Step("backend.qemu", summary: "QEMU virtual machines, saved and restored as live snapshots", flags: .backend,
         parameters: [
            .string("ram", default: "512M", help: "guest RAM, like 512M or 2G"),
            .int("cores", default: 2, range: 1...64, help: "virtual CPUs"),
            .string("disk", default: "8G", help: "disk size (sparse qcow2), like 8G"),
            .string("arch", default: "x86_64", help: "guest architecture (x86_64)"),
            .string("accel", default: "auto", help: "auto (probe KVM, else TCG), kvm or tcg; HOST_QEMU_ACCEL overrides"),
            .list("qemu-arg", help: "extra argument for qemu-system (repeat for more)"),
            .string("network", default: "user",
                    help: "user (the guest reaches out as a program here would), restricted (nothing goes out; forwarded ports work) or none; seal and unseal change it later"),
            .list("forward", flags: .runtime,
                  help: "HOSTPORT:GUESTPORT, a further TCP forward on 127.0.0.1 (run-time only: changing it rebuilds nothing)"),
            .bool("package-cache", default: true, flags: .runtime,
                  help: "let the guest reach host's shared package cache (apt-cacher-ng) at 10.0.2.100:3142; --no-package-cache: not (run-time only)"),
         ]) { call in call.machine }, // configured where it is made: QemuBackend.create
], backend: QemuBackend())

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
