import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// os.debian: Debian built by mmdebstrap into an ext4 image (mkfs.ext4 -d,
/// no loop mount), booted with its own kernel and initrd on a VM backend,
/// reached over SSH with the user's key; its host key is made here, so host
/// knows it before the first boot and checks it on every connection.
let packages = ["systemd-sysv", "udev", "openssh-server", "python3", "linux-image-amd64", "iproute2", "ca-certificates",
                "qemu-guest-agent"]

/// Run by mmdebstrap with the root filesystem as $1; $2 is the work directory.
let customize = #"""
    set -e
    root="$1" work="$2"
    echo debian > "$root/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 debian\n' > "$root/etc/hosts"
    printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
    # Whatever the NIC is called (ens2, enp0s3, eth0): DHCP on all of them.
    mkdir -p "$root/etc/systemd/network"
    printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' > "$root/etc/systemd/network/10-host.network"
    chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
    printf 'nameserver 10.0.2.3\n' > "$root/etc/resolv.conf"
    mkdir -p "$root/root/.ssh"
    chmod 700 "$root/root/.ssh"
    cp "$work/authorized_keys" "$root/root/.ssh/authorized_keys"
    chmod 600 "$root/root/.ssh/authorized_keys"
    rm -f "$root"/etc/ssh/ssh_host_*
    cp "$work/ssh_host_ed25519_key" "$work/ssh_host_ed25519_key.pub" "$root/etc/ssh/"
    chmod 600 "$root/etc/ssh/ssh_host_ed25519_key"
    echo 'HostKey /etc/ssh/ssh_host_ed25519_key' > "$root/etc/ssh/sshd_config.d/host.conf"
    # The console step lands in a root shell on the serial console.
    mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
    printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %%I $TERM\n' \
      > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
    # host's shared package cache, when this run of the VM forwards it
    # (backend.qemu's guestfwd at 10.0.2.100:3142), else apt goes direct.
    rm -f "$root/etc/apt/apt.conf.d/99mmdebstrap"
    mkdir -p "$root/usr/local/lib"
    install -m 0755 "$work/apt-detector" "$root\#(PackageCache.aptDetector)"
    cp "$work/apt-config" "$root\#(PackageCache.aptConfigFile)"
    """#

func newest(_ prefix: String, in directory: URL) throws -> String {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        .filter { $0.hasPrefix(prefix) }.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
    guard let name = names.last else { throw StepError("the new system has no \(directory.path)/\(prefix)*") }
    return directory.appendingPathComponent(name).path
}

let plugin = Plugin(name: "os.debian", version: "1.0.0", steps: [
    Step("os.debian", summary: "Debian with systemd, sshd and python3: installed once by mmdebstrap, then restored",
         flags: .startsPipeline,
         parameters: [
            .string("release", default: "bookworm", help: "Debian release"),
            .string("mirror", default: "", help: "Debian mirror URL (default: $HOST_DEBIAN_MIRROR, else mmdebstrap's)"),
            .string("size", default: "4G", help: "size of the root filesystem"),
            .list("include", help: "further packages to install"),
            .int("boot-timeout", default: 600, help: "seconds to wait for the first boot"),
         ],
         needs: [HOST_VM_V1, HOST_CONTAINER_V1]) { call in
        let mirror = call.string("mirror").isEmpty ? ProcessInfo.processInfo.environment["HOST_DEBIAN_MIRROR"] ?? "" : call.string("mirror")
        /// mmdebstrap into `target`: a directory, or a tarball for a container.
        func install(_ base: [String], hook: String, into target: URL) throws {
            call.log("installing Debian \(call.string("release")) with mmdebstrap (a minute or two)")
            // mmdebstrap's "I: ..." lines name each phase as it starts: the progress.
            let phases = ["running apt-get update", "downloading packages", "extracting archives", "installing", "cleaning", "success"]
            let arguments = ["--variant=minbase", "--include=" + (base + call.list("include")).joined(separator: ","),
                             "--customize-hook=" + hook, call.string("release"), target.path] + (mirror.isEmpty ? [] : [mirror])
            // Through the shared package cache when it is on (mmdebstrap then
            // runs in a network namespace of its own, where the cache is
            // its proxy); the hook removes the setting from the new system
            // (mmdebstrap keeps its --aptopt).
            let command = try PackageCache.mmdebstrap(arguments, mirror: mirror) { call.log($0) }
                .map { Command($0.executable, $0.arguments) }
                ?? Command(try HostTool.path("mmdebstrap", package: "mmdebstrap"), arguments)
            let (ending, tail) = try command.runLines { line in
                let phase = line.hasPrefix("I: ") && phases.contains { line.dropFirst(3).hasPrefix($0) }
                call.log(phase ? "mmdebstrap: " + line.dropFirst(3) : line, level: phase ? .info : .debug)
            }
            guard ending == .exited(0) else {
                throw StepError("mmdebstrap failed (status \(ending.status)): \(tail.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        if let container = call.container {
            // A container: the root filesystem as a tarball, no kernel, no init.
            let tarball = URL(fileURLWithPath: "/var/tmp").appendingPathComponent("host-debian-\(UUID().uuidString).tar")
            defer { try? FileManager.default.removeItem(at: tarball) }
            try install(["python3", "ca-certificates", "iproute2"], hook: "echo debian > \"$1/etc/hostname\"; rm -f \"$1/etc/apt/apt.conf.d/99mmdebstrap\"", into: tarball)
            try container.setRootFilesystem(tarball.path)
            try call.start()
            return call.machine
        }
        guard let vm = call.virtualMachine else {
            throw StepError("os.debian needs a machine offering \(HOST_VM_V1) or \(HOST_CONTAINER_V1)")
        }
        let work = try PrivateDirectory.make("host-debian", in: URL(fileURLWithPath: "/var/tmp"))
        defer { try? FileManager.default.removeItem(at: work) }

        let identity = try call.identity()
        try FileManager.default.copyItem(atPath: identity + ".pub", toPath: work.appendingPathComponent("authorized_keys").path)
        let hostKey = try SSHHostKey.generate(in: work, comment: "root@debian") // the customize hook copies it in
        try PackageCache.aptDetectorScript.write(to: work.appendingPathComponent("apt-detector"), atomically: true, encoding: .utf8)
        try PackageCache.aptConfig.write(to: work.appendingPathComponent("apt-config"), atomically: true, encoding: .utf8)
        let hook = work.appendingPathComponent("customize.sh")
        try customize.write(to: hook, atomically: true, encoding: .utf8)

        let root = work.appendingPathComponent("root")
        try install(packages, hook: "sh \(hook.path) \"$1\" \(work.path)", into: root)
        let boot = root.appendingPathComponent("boot")
        let kernel = try newest("vmlinuz-", in: boot), initrd = try newest("initrd.img-", in: boot)
        let image = work.appendingPathComponent("root.ext4")
        try HostTool.run("mkfs.ext4", ["-q", "-L", "root", "-d", root.path, image.path, call.string("size")], package: "e2fsprogs")
        try vm.setDisk(image.path, format: "raw")
        try vm.boot(kernel: kernel, initrd: initrd, append: "root=/dev/vda rw quiet")
        try vm.setSSH(user: "root", hostKey: hostKey.publicKey)
        // Commands after a restore then skip SSH's key exchange (slow under TCG).
        try vm.setGuestAgent()
        try? FileManager.default.removeItem(at: root) // the image holds it now; free the disk before booting

        // Up when SSH answers and systemd has finished starting.
        call.log("first boot: waiting for systemd to finish starting")
        let booting = Date()
        try call.start()
        let deadline = booting.addingTimeInterval(TimeInterval(call.int("boot-timeout")))
        while true {
            if let result = try? call.exec("systemctl is-system-running --wait"), ["running", "degraded"].contains(result.out.trimmingCharacters(in: .whitespacesAndNewlines)) {
                break
            }
            guard Date() < deadline else { throw StepError("Debian did not finish booting within \(call.int("boot-timeout")) s") }
            sleep(1)
        }
        // scripts/benchmark reads this line: what a warm run saves.
        call.log(String(format: "first boot: up in %.1f s", Date().timeIntervalSince(booting)))
        return call.machine
    },
    Step("os.debian.user", summary: "A user to log in as: made with useradd, given your SSH key; later steps' commands, ssh and ansible run as them",
         parameters: [
            .string("name", help: "the user's login name, like dev"),
            .list("groups", help: "supplementary groups the user is in (they must exist), like --groups=sudo --groups=adm"),
         ],
         needs: [HOST_VM_V1]) { call in
        let name = call.string("name")
        guard let first = name.first, first.isLowercase || first == "_", name.count <= 32,
              name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "_-".contains($0)) }) else {
            throw StepError.usage("\(name.debugDescription) is not a user name useradd takes: lower-case letters, digits, _ and -, starting with a letter or _, like dev")
        }
        let groups = call.list("groups")
        guard groups.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0)) } }) else {
            throw StepError.usage("--groups takes group names (letters, digits, _ and -), one per --groups")
        }
        guard let vm = call.virtualMachine else { throw StepError("os.debian.user needs a machine offering \(HOST_VM_V1)") }
        // Run as the machine's SSH user so far, which must be root to add one.
        let script = """
            set -e
            id -u \(name) >/dev/null 2>&1 || useradd --create-home --shell /bin/bash \(groups.isEmpty ? "" : "--groups " + groups.joined(separator: ",")) \(name)
            home=$(getent passwd \(name) | cut -d: -f6)
            install -d -m 700 -o \(name) -g \(name) "$home/.ssh"
            install -m 600 -o \(name) -g \(name) "$HOME/.ssh/authorized_keys" "$home/.ssh/authorized_keys"
            cat /etc/ssh/ssh_host_ed25519_key.pub
            """
        let result = try call.exec(script)
        guard result.status == 0 else {
            throw StepError("making the user \(name) failed (status \(result.status)); it takes root, the machine's SSH user before: \((result.err + result.out).trimmingCharacters(in: .whitespacesAndNewlines).suffix(500))")
        }
        try vm.setSSH(user: name, hostKey: result.out.trimmingCharacters(in: .whitespacesAndNewlines))
        return call.machine
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
