import Foundation

/// The domain host defines for a machine. Networking is QEMU's user mode
/// (never libvirt's NAT network, whose guests are not on loopback),
/// restricted once sealed, passed on QEMU's command line: the SSH forward binds to 127.0.0.1 on the
/// hypervisor, on a port QEMU picks. The serial console and the guest
/// agent's ports are streams libvirt opens for host, locally or remotely.
/// The disk's cache mode is "unsafe" (no flushes): a domain host ends is
/// thrown away, and QEMU otherwise spends a second flushing it on quit;
/// a save still writes everything out before libvirt reports it done.
enum DomainXML {
    static func make(_ config: LibvirtConfig, pool: StoragePool) -> String {
        func path(_ volume: Volume?) -> String { escapedXML(pool.path(of: volume?.name ?? "")) }
        var boot = ""
        if let kernel = config.kernel {
            boot += "<kernel>\(path(kernel))</kernel>"
            if let initrd = config.initrd { boot += "<initrd>\(path(initrd))</initrd>" }
            boot += "<cmdline>\(escapedXML("console=ttyS0 " + (config.append ?? "")))</cmdline>"
        } else {
            boot += "<boot dev='hd'/>"
        }
        var devices = """
            <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='unsafe'/><source file='\(path(config.disk))'/><target dev='vda' bus='virtio'/></disk>
            """
        if let cdrom = config.cdrom {
            devices += "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='\(path(cdrom))'/><target dev='vdb' bus='virtio'/><readonly/></disk>"
        }
        devices += "<serial type='pty'><target port='0'/></serial><console type='pty'><target type='serial' port='0'/></console>"
        if config.guestAgent == true {
            for port in ["org.qemu.guest_agent.0", "host.stdout", "host.stderr"] {
                devices += "<channel type='unix'><source mode='bind'/><target type='virtio' name='\(port)'/></channel>"
            }
        }
        devices += "<memballoon model='none'/>"
        let machine = config.machineType.map { " machine='\(escapedXML($0))'" } ?? ""
        // Part of the XML a restore is given, so it changes on a restore
        // (seal): nothing leaves the guest; the SSH forward still reaches in.
        let restrict = config.network == "restricted" ? "restrict=on," : ""
        return """
            <domain type='\(config.domainType)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>\(escapedXML(config.domainName))</name><uuid>\(config.domainUUID)</uuid>
              <memory unit='MiB'>\(config.memoryMiB)</memory><vcpu>\(config.cores)</vcpu>
              <os><type arch='x86_64'\(machine)>hvm</type>\(boot)</os>
              <cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
              <clock offset='utc'/>
              <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
              <devices>\(devices)</devices>
              <qemu:commandline>
                <qemu:arg value='-netdev'/><qemu:arg value='user,id=hostnet,\(restrict)hostfwd=tcp:127.0.0.1:0-:22'/>
                <qemu:arg value='-device'/><qemu:arg value='virtio-net-pci,netdev=hostnet,addr=0x10'/>
              </qemu:commandline>
            </domain>
            """
    }
}
