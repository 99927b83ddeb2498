import CLibvirt
import Foundation
import GuestAccess
import PluginABI
import PluginKit
import PluginSupport

struct LibvirtBackend: SweepingBackend {
    /// host's pool on the hypervisor of `uri`, opened once per run.
    static func pool(_ name: String, uri: String) throws -> StoragePool {
        let key = uri + "\n" + name
        if let known = pools[key] { return known }
        let pool = try StoragePool.open(name, on: try Hypervisor.connect(uri))
        pools[key] = pool
        return pool
    }

    /// Written on host's one plugin thread only.
    nonisolated(unsafe) private static var pools: [String: StoragePool] = [:]

    func create(_ call: BackendCall, directory: String, arguments: Arguments) throws -> BackendMachine {
        // The arguments are checked before anything connects: a mistyped one is a usage error.
        let memory = try mebibytes(arguments.string("ram"), "ram"), disk = try mebibytes(arguments.string("disk"), "disk")
        let accel = try HypervisorAccelerator.choice(arguments.string("accel"))
        let network = arguments.string("network")
        guard ["user", "restricted"].contains(network) else {
            throw StepError.usage("--network=\(network) is not a network mode of backend.libvirt; use user or restricted")
        }
        let uri = arguments.string("uri").isEmpty ? Hypervisor.defaultURI : arguments.string("uri")
        let pool = try Self.pool(arguments.string("pool"), uri: uri)
        let domainType = try HypervisorAccelerator.resolve(accel, pool: pool) { call.log($0, level: .warning) }
        let id = UUID()
        var config = LibvirtConfig(
            uri: uri, pool: pool.name, domainType: domainType,
            memoryMiB: memory, cores: Int(arguments.int("cores")), diskSize: UInt64(disk) << 20,
            domainName: "host-\(id.uuidString.lowercased().prefix(13))", domainUUID: id.uuidString.lowercased())
        config.network = network == "user" ? nil : network
        let url = URL(fileURLWithPath: directory)
        try config.save(to: url)
        return LibvirtMachine(directory: url, config: config, pool: pool)
    }

    /// The clone's disk is a new overlay volume on the saved one; its boot
    /// files and saved state are the source's, shared.
    func clone(_ call: BackendCall, from source: String, to destination: String) throws -> BackendMachine {
        let sourceURL = URL(fileURLWithPath: source), destinationURL = URL(fileURLWithPath: destination)
        var config = try LibvirtConfig.load(from: sourceURL)
        let pool = try Self.pool(config.pool, uri: config.uri)
        config.own = []
        for file in [SSHAccess.knownHostsFile, LibvirtConfig.staged]
        where FileManager.default.fileExists(atPath: sourceURL.appendingPathComponent(file).path) {
            try FileManager.default.copyItem(at: sourceURL.appendingPathComponent(file), to: destinationURL.appendingPathComponent(file))
        }
        let machine = LibvirtMachine(directory: destinationURL, config: config, pool: pool)
        if let disk = config.disk {
            try machine.makeOverlay(on: disk)
        }
        try machine.config.save(to: destinationURL)
        return machine
    }

    /// Refuses a saved machine whose volumes are not all there with the size
    /// and file size recorded when they were written, or whose machine type
    /// the hypervisor's QEMU no longer offers: host rebuilds it instead.
    func check(_ call: BackendCall, directory: String) throws {
        let config = try LibvirtConfig.load(from: URL(fileURLWithPath: directory))
        let pool = try Self.pool(config.pool, uri: config.uri)
        for recorded in config.volumes {
            guard var found = pool.volume(recorded.name) else {
                throw StepError("its volume \(recorded.name) is missing from the pool \(pool.name) on \(config.uri)")
            }
            found.sha256 = recorded.sha256
            guard found == recorded else {
                throw StepError("its volume \(recorded.name) in the pool \(pool.name) on \(config.uri) changed: it holds \(found.capacity) bytes in a file of \(found.physical), where \(recorded.capacity) in \(recorded.physical) were recorded")
            }
        }
        if let type = config.machineType, config.state != nil, !pool.hypervisor.offers(machineType: type, domainType: config.domainType) {
            throw StepError("it was saved on machine type \(type), which QEMU on \(config.uri) does not offer (QEMU was changed)")
        }
    }

    /// Deletes the entry's own volumes on the hypervisor.
    func forget(_ call: BackendCall, directory: String) {
        guard let config = try? LibvirtConfig.load(from: URL(fileURLWithPath: directory)),
              let pool = try? Self.pool(config.pool, uri: config.uri) else { return }
        for name in config.own { pool.delete(name) }
    }

    func sweep(_ call: BackendCall, _ scope: SweepScope) { LibvirtSweep.sweep(call, scope) }

    func extensionTable(_ id: String) -> UnsafeRawPointer? {
        switch id {
        case HOST_VM_V1: UnsafeRawPointer(vmExtension)
        case HOST_SSH_V1: UnsafeRawPointer(guestSSHExtension)
        case HOST_NETWORK_V1: UnsafeRawPointer(networkExtension)
        case HOST_SWEEP_V1: UnsafeRawPointer(sweepExtension)
        default: nil
        }
    }
}

extension LibvirtMachine {
    /// This machine's disk becomes a new overlay volume on `backing`.
    func makeOverlay(on backing: Volume) throws {
        let name = try newVolumeName("disk.qcow2")
        try pool.create(name, format: "qcow2", capacity: backing.capacity, backing: pool.path(of: backing.name))
        config.chain = [backing] + config.chain
        config.disk = try current(name)[0]
    }
}

private func machine(_ raw: UnsafeMutableRawPointer?) -> LibvirtMachine? { backendMachine(raw, as: LibvirtMachine.self) }

private func fail(_ call: UnsafeMutablePointer<host_call>?, _ message: String) -> host_status {
    if let call { call.pointee.services.pointee.set_error(call, message) }
    return HOST_ERROR
}

/// Changes a machine that has not booted yet and saves its config: HOST_OK,
/// or the error recorded as "NAME: reason".
private func configure(_ call: UnsafeMutablePointer<host_call>?, _ name: String, _ raw: UnsafeMutableRawPointer?,
                       _ change: (LibvirtMachine) throws -> Void) -> host_status {
    guard let machine = machine(raw) else { return fail(call, "\(name) needs a libvirt machine") }
    guard !machine.hasBooted else { return fail(call, "\(name): the machine has booted already") }
    do {
        try FileManager.default.createDirectory(at: machine.stagedFile(""), withIntermediateDirectories: true)
        try change(machine)
        try machine.config.save(to: machine.directory)
        return HOST_OK
    } catch {
        return fail(call, "\(name): \(error)")
    }
}

/// Copies a host file into the machine's staging directory, for the first `up` to upload.
private func stage(_ file: UnsafePointer<CChar>, as name: String, in machine: LibvirtMachine) throws {
    let target = machine.stagedFile(name)
    try? FileManager.default.removeItem(at: target)
    try FileManager.default.copyItem(atPath: String(cString: file), toPath: target.path)
}

/// The host.vm/1 table (host_vm.h): the same calls as backend.qemu's, so
/// every OS plugin runs on libvirt unchanged. Written once, then only read.
nonisolated(unsafe) let vmExtension: UnsafeMutablePointer<host_vm_v1> = {
    let table = UnsafeMutablePointer<host_vm_v1>.allocate(capacity: 1)
    table.initialize(to: host_vm_v1(
        struct_size: MemoryLayout<host_vm_v1>.size,
        set_boot: { call, raw, kernel, initrd, append in
            guard kernel != nil || (initrd == nil && append == nil) else {
                return fail(call, "set_boot: booting the disk's own boot loader takes no initrd or command line")
            }
            return configure(call, "set_boot", raw) { machine in
                guard let kernel else {
                    machine.config.firmwareBoot = true
                    machine.config.append = nil
                    return
                }
                try stage(kernel, as: "kernel", in: machine)
                if let initrd { try stage(initrd, as: "initrd", in: machine) }
                machine.config.firmwareBoot = nil
                machine.config.append = append.map { String(cString: $0) }
            }
        },
        set_console_prompt: { call, raw, prompt in
            guard let prompt else { return fail(call, "set_console_prompt needs a prompt") }
            return configure(call, "set_console_prompt", raw) { $0.config.consolePrompt = String(cString: prompt) }
        },
        ssh_port: { raw in (try? machine(raw)?.sshPort()).flatMap { $0 } ?? 0 },
        set_disk: { call, raw, image, format in
            guard let image, let format else { return fail(call, "set_disk needs an image and a format") }
            return configure(call, "set_disk", raw) { machine in
                // Converted here, then sent whole: a qcow2 file holds only what is used.
                try DiskImage.makeQcow2(from: String(cString: image), format: String(cString: format),
                                        at: machine.stagedFile("disk.qcow2").path, minimumSize: Int(machine.config.diskSize))
            }
        },
        set_ssh: { call, raw, user, hostKey in
            guard let user, let hostKey else { return fail(call, "set_ssh needs a user and a host key") }
            let line = "\(SSHAccess.alias) \(String(cString: hostKey).trimmingCharacters(in: .whitespacesAndNewlines))\n"
            guard let machine = machine(raw) else { return fail(call, "set_ssh needs a libvirt machine") }
            do {
                try line.write(to: machine.directory.appendingPathComponent(SSHAccess.knownHostsFile), atomically: true, encoding: .utf8)
                machine.config.sshUser = String(cString: user)
                try machine.config.save(to: machine.directory)
                return HOST_OK
            } catch {
                return fail(call, "set_ssh: \(error)")
            }
        },
        attach_cdrom: { call, raw, image in
            guard let image else { return fail(call, "attach_cdrom needs an image") }
            return configure(call, "attach_cdrom", raw) { try stage(image, as: "cdrom", in: $0) }
        },
        set_guest_agent: { call, raw in configure(call, "set_guest_agent", raw) { $0.config.guestAgent = true } },
        reboot: { call, raw, timeout in guestReboot(call, raw, timeoutMs: timeout) }))
    return table
}()

/// The host.network/1 table (host_network.h): user or restricted (no
/// "none": a saved domain keeps its network card). Written once, then only read.
nonisolated(unsafe) let networkExtension: UnsafeMutablePointer<host_network_v1> = {
    let table = UnsafeMutablePointer<host_network_v1>.allocate(capacity: 1)
    table.initialize(to: host_network_v1(
        struct_size: MemoryLayout<host_network_v1>.size,
        set_network: { call, raw, mode in
            guard let call, let machine = machine(raw), let mode else { return fail(call, "set_network needs a libvirt machine and a mode") }
            let name = String(cString: mode)
            guard ["user", "restricted"].contains(name) else {
                return fail(call, "set_network: backend.libvirt offers the network modes user and restricted, not \(name)")
            }
            do {
                machine.config.network = name == "user" ? nil : name
                try machine.config.save(to: machine.directory)
                try machine.restart(BackendCall(raw: call))
                return HOST_OK
            } catch {
                return fail(call, "set_network: \(error)")
            }
        }))
    return table
}()

let plugin = Plugin(name: "backend.libvirt", version: "1.0.0", steps: [
    Step("backend.libvirt", summary: "virtual machines on a libvirt hypervisor, local or remote, saved and restored live", flags: .backend,
         parameters: [
            .string("uri", default: "", help: "the hypervisor, like qemu+ssh://root@hv1/system (default: qemu:///system for root, else qemu:///session)"),
            .string("pool", default: "host", help: "the directory storage pool for host's volumes (made when missing)"),
            .string("ram", default: "512M", help: "guest RAM, like 512M or 2G"),
            .int("cores", default: 2, range: 1...64, help: "virtual CPUs"),
            .string("disk", default: "8G", help: "disk size (sparse qcow2), like 8G"),
            .string("accel", default: "auto", help: "auto (probe KVM on the hypervisor, else TCG), kvm or tcg; HOST_QEMU_ACCEL overrides"),
            .string("network", default: "user",
                    help: "user (the guest reaches out as a program on the hypervisor would) or restricted (nothing goes out; SSH's forward works); seal and unseal change it later"),
         ]) { call in call.machine }, // configured where it is made: LibvirtBackend.create
], backend: LibvirtBackend())

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
