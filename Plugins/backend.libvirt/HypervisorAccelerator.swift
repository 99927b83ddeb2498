import CLibvirt
import Foundation
import PluginKit
import PluginSupport

/// Chooses the domain type on the hypervisor: "kvm", or "qemu" (TCG). That
/// libvirt offers KVM there proves nothing (where KVM_RUN hangs it still
/// does), so `auto` boots a kernel under KVM there, as backend.qemu does
/// locally, and falls back to TCG, saying so once per URI and boot of the
/// hypervisor's computer (HypervisorBoot), not of this one.
enum HypervisorAccelerator {
    /// What the user asked for (HOST_QEMU_ACCEL over --accel), checked
    /// before anything connects.
    static func choice(_ requested: String) throws -> String {
        let choice = ProcessInfo.processInfo.environment["HOST_QEMU_ACCEL"].flatMap { $0.isEmpty ? nil : $0 } ?? requested
        guard ["auto", "kvm", "tcg"].contains(choice) else { throw StepError.usage("--accel=\(choice) is not one of auto, kvm, tcg") }
        return choice
    }

    static func resolve(_ choice: String, pool: StoragePool, log: (String) -> Void) throws -> String {
        switch choice {
        case "kvm": return "kvm"
        case "tcg": return "qemu"
        default: break
        }
        let uri = pool.hypervisor.uri
        let key = uri.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? String($0) : "_" }.joined()
        let memo = RuntimeDirectory.private()?.appendingPathComponent("libvirt-kvm-probe-\(key).json")
        let boot = HypervisorBoot.current(of: pool.hypervisor)
        if let memo, let data = FileManager.default.contents(atPath: memo.path), let known = try? JSONDecoder().decode(Memo.self, from: data),
           ["kvm", "qemu"].contains(known.domainType), boot.isSame(as: known.boot) {
            return known.domainType
        }
        Trace.mark("libvirt: probing KVM on \(uri)")
        let (result, reason) = probe(pool)
        if result == "qemu" { log("KVM does not work on \(uri) (\(reason)); using TCG, which is slower. --accel=kvm forces KVM.") }
        if let memo, let data = try? JSONEncoder().encode(Memo(boot: boot, domainType: result)) { try? data.write(to: memo, options: .atomic) }
        return result
    }

    /// What a probe found, and on which boot of the hypervisor's computer.
    private struct Memo: Codable {
        let boot: HypervisorBoot
        let domainType: String
    }

    /// The names of the test kernels the probe sends into the pool.
    static let probeVolumePrefix = "kvm-probe-"

    /// Boots this host's kernel (sent into the pool once) under KVM with no
    /// root disk: it panics and the domain ends. Working KVM does that in
    /// about a second; where KVM_RUN hangs, the 10 s limit catches it.
    private static func probe(_ pool: StoragePool) -> (String, String) {
        guard pool.hypervisor.offers(domainType: "kvm") else { return ("qemu", "libvirt offers no KVM domains there") }
        let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []).filter { $0.hasPrefix("vmlinuz-") }.sorted()
        guard let kernel = kernels.last.map({ "/boot/" + $0 }), FileManager.default.isReadableFile(atPath: kernel) else {
            return ("qemu", "no kernel in /boot to test it with (install linux-image-amd64)")
        }
        let volume = probeVolumePrefix + (kernel as NSString).lastPathComponent
        if pool.volume(volume) == nil {
            LibvirtSweep.notePool(pool.name, uri: pool.hypervisor.uri)
            guard (try? pool.upload(kernel, as: volume)) != nil else { return ("qemu", "could not send a test kernel there: \(libvirtMessage())") }
        }
        let xml = """
            <domain type='kvm'><name>host-kvm-probe-\(UUID().uuidString.lowercased().prefix(8))</name><memory unit='MiB'>128</memory>
            <os><type arch='x86_64'>hvm</type><kernel>\(escapedXML(pool.path(of: volume)))</kernel><cmdline>panic=-1 root=/dev/host-kvm-probe</cmdline></os>
            <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
            <devices><memballoon model='none'/></devices></domain>
            """
        guard let domain = virDomainCreateXML(pool.hypervisor.connection, xml, VIR_DOMAIN_START_AUTODESTROY.rawValue) else {
            return ("qemu", "a test domain under KVM did not start: \(libvirtMessage())")
        }
        defer { virDomainFree(domain) }
        let deadline = Date().addingTimeInterval(10)
        while virDomainIsActive(domain) == 1 {
            guard Date() < deadline else {
                _ = virDomainDestroy(domain)
                return ("qemu", "a test kernel under KVM did not finish booting in 10 s")
            }
            usleep(50_000)
        }
        return ("kvm", "")
    }
}
