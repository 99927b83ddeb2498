import PluginABI

/// The capabilities an operating-system plugin asks of its machine, in
/// Swift: host.vm/1 (host_vm.h) and host.container/1 (host_container.h).
/// Whichever backend offers one, a plugin written against it runs there.
public struct VirtualMachine {
    let call: StepCall
    let table: host_vm_v1
    let object: UnsafeMutableRawPointer?

    private func check(_ status: host_status) throws {
        if status != HOST_OK { throw HostServiceFailed() }
    }

    /// Boot this kernel and initrd with this command line; with no kernel,
    /// the disk's own boot loader through the firmware.
    public func boot(kernel: String?, initrd: String? = nil, append: String? = nil) throws {
        try check(table.set_boot(call.rawCall, object, kernel, initrd, append))
    }
    public func setConsolePrompt(_ prompt: String) throws {
        try check(table.set_console_prompt(call.rawCall, object, prompt))
    }
    /// Makes a copy of `image` ("raw" or "qcow2") the machine's disk.
    public func setDisk(_ image: String, format: String) throws {
        try check(table.set_disk(call.rawCall, object, image, format))
    }
    /// The guest runs QEMU's guest agent: exec uses it. false when the
    /// backend's table is older than the function (ABI 1.4).
    @discardableResult
    public func setGuestAgent() throws -> Bool {
        guard let set = table.set_guest_agent else { return false }
        try check(set(call.rawCall, object))
        return true
    }
    /// The guest runs sshd: host logs in as `user` and accepts only `hostKey`.
    public func setSSH(user: String, hostKey: String) throws {
        try check(table.set_ssh(call.rawCall, object, user, hostKey))
    }
    /// A read-only drive after the disk, such as a cloud-init seed.
    public func attachReadOnlyDrive(_ image: String) throws {
        try check(table.attach_cdrom(call.rawCall, object, image))
    }
}

public struct ContainerMachine {
    let call: StepCall
    let table: host_container_v1
    let object: UnsafeMutableRawPointer?

    /// Makes a root filesystem tarball the container's image.
    public func setRootFilesystem(_ tarball: String) throws {
        if table.set_root_filesystem(call.rawCall, object, tarball) != HOST_OK { throw HostServiceFailed() }
    }

    /// The running container's name and how ansible reaches it (its
    /// connection plugin); starts the container first.
    public func reach() throws -> (name: String, connection: String) {
        guard let connect = table.connection else {
            throw StepError("the machine's backend was built against ABI 1.2 (host.podman/1), which does not say how tools reach its containers; rebuild it against host_container.h")
        }
        try call.start()
        guard let name = table.container(object), let connection = connect(object) else {
            throw StepError("the container is not running")
        }
        return (String(cString: name), String(cString: connection))
    }
}

extension StepCall {
    /// The machine's host.vm/1 capability (or host.qemu/1, its name before
    /// ABI 1.3, the same table); nil when its backend makes no VMs.
    public var virtualMachine: VirtualMachine? {
        // A table from before set_guest_agent (ABI 1.4) is whole without it.
        let before14 = MemoryLayout<host_vm_v1>.offset(of: \host_vm_v1.set_guest_agent)! // a stored field: its offset exists
        return (extensionTable(HOST_VM_V1, as: host_vm_v1.self, atLeast: before14)
                ?? extensionTable(HOST_QEMU_V1, as: host_vm_v1.self, atLeast: before14))
            .map { VirtualMachine(call: self, table: $0, object: backendObject()) }
    }

    /// The machine's host.container/1 capability (or host.podman/1, its
    /// first two functions before ABI 1.3); nil when its backend makes no containers.
    public var container: ContainerMachine? {
        (extensionTable(HOST_CONTAINER_V1, as: host_container_v1.self)
            ?? extensionTable(HOST_PODMAN_V1, as: host_container_v1.self, atLeast: MemoryLayout<Int>.size + 2 * MemoryLayout<UnsafeRawPointer>.size))
            .map { ContainerMachine(call: self, table: $0, object: backendObject()) }
    }
}
