import Foundation
import PluginABI
import PluginKit

/// os.busybox: the fastest throwaway Linux VM (or, on a container backend,
/// a container of busybox alone). The host's own Debian kernel
/// and a busybox-static initramfs whose init loads the virtio modules, brings
/// up networking and the disk (/mnt/disk), and runs a shell on the console.
let prompt = "busybox# "
let readyMarker = "HOST-BUSYBOX-READY"

/// Modules the guest needs, loaded (with their dependencies) in this order.
/// ext4 (which mounts the ext2 disk) asks the crypto API for crc32c at mount
/// time, which modules.dep does not show, so it is listed before ext4.
let wantedModules = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "crc32c_generic", "ext4"]

let initScript = """
    #!/bin/busybox sh
    /bin/busybox --install -s /bin
    export PATH=/bin
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    for m in $(cat /etc/modules); do insmod /lib/modules/$m; done
    hostname busybox
    ip link set lo up
    for i in /sys/class/net/e*; do
      [ -e "$i" ] && ip link set "${i##*/}" up && udhcpc -q -n -i "${i##*/}" -s /etc/udhcpc.script >/dev/null 2>&1
    done
    # virtio device 2 is a disk: wait for its node, then use it (formatted on first boot).
    if grep -qx 0x0002 /sys/bus/virtio/devices/*/device 2>/dev/null; then
      for i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
      mkdir -p /mnt/disk
      # One inode per MiB keeps the inode tables, which mke2fs writes in
      # full, small in the sparse base image.
      mount -t ext2 /dev/vda /mnt/disk 2>/dev/null || { mke2fs -q -m 0 -i 1048576 /dev/vda >/dev/null && mount -t ext2 /dev/vda /mnt/disk; }
    fi
    # Output ports (virtio device 3), where host's commands write their
    # output rather than through the slow serial console: every console
    # shell inherits host.stdout as descriptor 9 and host.stderr as 8.
    if grep -qx 0x0003 /sys/bus/virtio/devices/*/device 2>/dev/null; then
      for i in $(seq 50); do set -- /sys/class/virtio-ports/*; [ $# -ge 2 ] && break; sleep 0.1; done
      for p in /sys/class/virtio-ports/*; do
        case "$(cat "$p/name")" in host.stdout) exec 9>"/dev/${p##*/}";; host.stderr) exec 8>"/dev/${p##*/}";; esac
      done
    fi
    cd /root
    export HOME=/root PS1='\(prompt)'
    echo \(readyMarker)
    while true; do setsid cttyhack sh; done

    """

let dhcpScript = """
    #!/bin/sh
    case "$1" in bound|renew)
      ip addr flush dev "$interface"
      ip addr add "$ip/${mask:-24}" dev "$interface"
      for r in $router; do ip route add default via "$r"; done
      : > /etc/resolv.conf
      for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done;;
    esac

    """

/// The newest installed kernel and its modules directory.
func hostKernel() throws -> (kernel: String, modules: URL) {
    let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? [])
        .filter { $0.hasPrefix("vmlinuz-") }
        .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
    for name in kernels.reversed() {
        let version = String(name.dropFirst("vmlinuz-".count))
        let modules = URL(fileURLWithPath: "/lib/modules/\(version)")
        if FileManager.default.fileExists(atPath: modules.appendingPathComponent("modules.dep").path),
           FileManager.default.isReadableFile(atPath: "/boot/\(name)") {
            return ("/boot/\(name)", modules)
        }
    }
    throw StepError("no readable kernel with modules in /boot; install the Debian package linux-image-amd64")
}

/// `names` and everything they depend on, dependencies first, as paths
/// relative to the modules directory.
func moduleClosure(_ names: [String], modules: URL) throws -> [String] {
    let text = try String(contentsOf: modules.appendingPathComponent("modules.dep"), encoding: .utf8)
    var depends: [String: [String]] = [:], byName: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        guard let path = parts.first.map(String.init) else { continue }
        depends[path] = parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : []
        let base = (path as NSString).lastPathComponent
        byName[String(base.prefix { $0 != "." }).replacingOccurrences(of: "-", with: "_")] = path
    }
    var ordered: [String] = []
    func visit(_ path: String) {
        guard !ordered.contains(path) else { return }
        for dependency in depends[path] ?? [] { visit(dependency) }
        ordered.append(path)
    }
    for name in names {
        guard let path = byName[name] else { continue } // built into this kernel
        visit(path)
    }
    return ordered
}

/// A static busybox: the initramfs has no dynamic loader.
func staticBusybox() throws -> String {
    let path = "/bin/busybox"
    guard let data = FileManager.default.contents(atPath: path), data.count > 64 else {
        throw StepError("\(path) is missing; install the Debian package busybox-static")
    }
    // An ELF with a PT_INTERP program header needs a dynamic loader.
    func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
    func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(data[at + $1]) << (8 * $1) } }
    let phoff = u64(32), phentsize = u16(54), phnum = u16(56)
    for index in 0..<phnum where phoff + index * phentsize + 4 <= data.count {
        if data[phoff + index * phentsize] == 3 {
            throw StepError("\(path) is dynamically linked; install the Debian package busybox-static")
        }
    }
    return path
}

func buildInitramfs(into output: URL) throws -> String {
    let (kernel, modules) = try hostKernel()
    let busybox = try staticBusybox()
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("host-busybox-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    let fm = FileManager.default
    for dir in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "mnt", "lib/modules"] {
        try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
    }
    try fm.copyItem(atPath: busybox, toPath: root.appendingPathComponent("bin/busybox").path)
    var list: [String] = []
    for module in try moduleClosure(wantedModules, modules: modules) {
        let name = (module as NSString).lastPathComponent
        try fm.copyItem(at: modules.appendingPathComponent(module), to: root.appendingPathComponent("lib/modules/\(name)"))
        list.append(name)
    }
    guard list.allSatisfy({ $0.hasSuffix(".ko") }) else {
        throw StepError("this kernel's modules are compressed; os.busybox needs plain .ko modules")
    }
    try (list.joined(separator: "\n") + "\n").write(to: root.appendingPathComponent("etc/modules"), atomically: true, encoding: .utf8)
    try initScript.write(to: root.appendingPathComponent("init"), atomically: true, encoding: .utf8)
    try dhcpScript.write(to: root.appendingPathComponent("etc/udhcpc.script"), atomically: true, encoding: .utf8)
    for script in ["init", "etc/udhcpc.script"] {
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.appendingPathComponent(script).path)
    }
    _ = try HostTool.path("cpio", package: "cpio")
    _ = try HostTool.path("gzip", package: "gzip")
    try HostTool.run("sh", ["-c", "cd \"$1\" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > \"$2\"",
                            "sh", root.path, output.path], package: "dash")
    return kernel
}

/// A container's root filesystem: busybox and its applets, nothing else.
func containerRoot(into tarball: URL) throws {
    let busybox = try staticBusybox()
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("host-busybox-root-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    let fm = FileManager.default
    for dir in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "run"] {
        try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
    }
    try fm.copyItem(atPath: busybox, toPath: root.appendingPathComponent("bin/busybox").path)
    let applets = try HostTool.run(busybox, ["--list"], package: "busybox-static")
    for applet in applets.split(separator: "\n").map(String.init) where applet != "busybox" && !applet.isEmpty {
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(applet)").path, withDestinationPath: "busybox")
    }
    try "root:x:0:0:root:/root:/bin/sh\n".write(to: root.appendingPathComponent("etc/passwd"), atomically: true, encoding: .utf8)
    try "root:x:0:\n".write(to: root.appendingPathComponent("etc/group"), atomically: true, encoding: .utf8)
    try HostTool.run("tar", ["-C", root.path, "-cf", tarball.path, "."], package: "tar")
}

let plugin = Plugin(name: "os.busybox", version: "1.0.0", steps: [
    Step("os.busybox", summary: "A tiny Linux VM: the host's kernel and a busybox shell on the serial console",
         flags: .startsPipeline,
         parameters: [.int("boot-timeout", default: 300, help: "seconds to wait for the first boot")],
         needs: [HOST_VM_V1, HOST_CONTAINER_V1]) { call in
        if let container = call.container {
            try call.dependOn(file: "/bin/busybox")
            let tarball = FileManager.default.temporaryDirectory.appendingPathComponent("host-busybox-\(UUID().uuidString).tar")
            defer { try? FileManager.default.removeItem(at: tarball) }
            try containerRoot(into: tarball)
            try container.setRootFilesystem(tarball.path)
            try call.start()
            return call.machine
        }
        guard let vm = call.virtualMachine else {
            throw StepError("os.busybox needs a machine offering \(HOST_VM_V1) or \(HOST_CONTAINER_V1)")
        }
        let initrd = FileManager.default.temporaryDirectory.appendingPathComponent("host-initrd-\(UUID().uuidString).gz")
        defer { try? FileManager.default.removeItem(at: initrd) }
        let kernel = try buildInitramfs(into: initrd)
        // A new kernel or busybox makes a new guest.
        try call.dependOn(file: kernel)
        try call.dependOn(file: "/bin/busybox")
        try vm.boot(kernel: kernel, initrd: initrd.path, append: "quiet")
        try vm.setConsolePrompt(prompt)
        try call.consoleExpect(readyMarker, timeoutMs: call.int("boot-timeout") * 1000)
        try call.consoleExpect(prompt, timeoutMs: 30_000)
        return call.machine
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
