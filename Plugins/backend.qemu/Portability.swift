import Foundation
import PluginABI
import PluginKit

/// What a saved QEMU machine needs to resume on another computer: its RAM
/// state loads only into a QEMU of the same or a later version that offers
/// its machine type and CPU model, under the accelerator it was saved with
/// (a KVM state does not load into TCG). A pulled machine is checked
/// against all four before host publishes it, and its paths, which name
/// the pusher's cache, are made to name this one.
enum Portability {
    static func adopt(directory: URL, from oldPrefixes: [String], to newPrefixes: [String]) throws {
        var config = try QemuConfig.load(from: directory)
        func relocated(_ path: String) -> String {
            for (old, new) in zip(oldPrefixes, newPrefixes) where path.hasPrefix(old) { return new + path.dropFirst(old.count) }
            return path
        }
        // Another computer's QEMU may live elsewhere: the one here, where the saved one's path is not.
        if !FileManager.default.isExecutableFile(atPath: config.binary) { config.binary = try Tool.path("qemu-system-x86_64") }
        if let problem = obstacle(config) { throw StepErrorText(problem) }
        // Checked now: `check` need not ask QEMU again at every reuse.
        config.binaryStamp = QemuConfig.stamp(of: config.binary)
        config.chain = config.chain.map(relocated)
        // The QEMU parked after the save that wrote `state` ran on the pusher's files.
        config.savedID = nil
        if let backing = config.chain.first {
            // -u: rewrite the header only; the backing file is not in place yet.
            try Tool.run("qemu-img", ["rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b", backing,
                                      QemuConfig.resolve(config.disk, in: directory)])
        }
        try config.save(to: directory)
    }

    /// Why this computer cannot resume `config`'s machine, naming the difference; nil when it can.
    static func obstacle(_ config: QemuConfig) -> String? {
        let here = config.binary
        if let saved = config.qemuVersion, let local = try? QemuConfig.version(of: here),
           local.split(separator: ".").compactMap({ Int($0) }).lexicographicallyPrecedes(saved.split(separator: ".").compactMap { Int($0) }) {
            return "it was saved by QEMU \(saved), and this computer's \(here) is QEMU \(local), which cannot load a newer QEMU's state; install QEMU \(saved) or later"
        }
        if let type = config.machineType, !QemuConfig.offers(type, binary: here) {
            return "it was saved on machine type \(type), which this computer's \(here) does not offer"
        }
        if let cpu = config.cpu, !QemuConfig.offersCPU(cpu, binary: here) {
            return "it was saved with CPU model \(cpu), which this computer's \(here) does not offer"
        }
        if config.accel == "kvm", let accel = try? Accelerator.resolve("auto", binary: here, log: { _ in }), accel != "kvm" {
            return "it was saved under KVM, which does not work on this computer, and a KVM machine's state does not load under TCG"
        }
        return nil
    }
}

private func fail(_ call: UnsafeMutablePointer<host_call>?, _ message: String) -> host_status {
    if let call { call.pointee.services.pointee.set_error(call, message) }
    return HOST_ERROR
}

/// The host.portable/1 table (host_portable.h). Written once, then only read.
nonisolated(unsafe) let portableExtension: UnsafeMutablePointer<host_portable_v1> = {
    let table = UnsafeMutablePointer<host_portable_v1>.allocate(capacity: 1)
    table.initialize(to: host_portable_v1(
        struct_size: MemoryLayout<host_portable_v1>.size,
        adopt: { call, dir, old, new, count in
            guard let dir else { return fail(call, "adopt needs a directory") }
            let oldPrefixes = (0..<count).compactMap { old?[$0].map { String(cString: $0) } }
            let newPrefixes = (0..<count).compactMap { new?[$0].map { String(cString: $0) } }
            guard oldPrefixes.count == count, newPrefixes.count == count else { return fail(call, "adopt needs \(count) paths on both sides") }
            do {
                try Portability.adopt(directory: URL(fileURLWithPath: String(cString: dir)), from: oldPrefixes, to: newPrefixes)
                return HOST_OK
            } catch {
                return fail(call, "\(error)")
            }
        }))
    return table
}()
