import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// What a saved QEMU machine needs to resume on another computer: its RAM
/// state loads only into a QEMU of the same or a later version that offers
/// its machine type and CPU model, under the accelerator it was saved with
/// (a KVM state does not load into TCG). A pulled machine is checked
/// against all four before host publishes it, and its paths, which name
/// the pusher's cache, are made to name this one.
///
/// A pulled record is also someone else's input to this computer's QEMU:
/// it runs this computer's QEMU, only on files of its own entries, with
/// no extra arguments, so nothing in it reaches a file or a program here.
enum Portability {
    static func adopt(directory: URL, from oldPrefixes: [String], to newPrefixes: [String]) throws {
        var config = try QemuConfig.load(from: directory)
        try requireContained(config, oldPrefixes: oldPrefixes)
        // The pusher's QEMU path means nothing here.
        config.binary = try Tool.path("qemu-system-x86_64")
        if let problem = obstacle(config) { throw StepErrorText(problem) }
        // Checked now: `check` need not ask QEMU again at every reuse.
        config.binaryStamp = QemuConfig.stamp(of: config.binary)
        // An ancestor's file is named by its absolute path (requireContained
        // proved each starts with one of the old prefixes); the entry's own, relatively.
        func relocated(_ path: String) -> String {
            guard let index = oldPrefixes.firstIndex(where: { path.hasPrefix($0) }) else { return path }
            return newPrefixes[index] + path.dropFirst(oldPrefixes[index].count)
        }
        config.chain = config.chain.map(relocated)
        config.kernel = config.kernel.map(relocated)
        config.initrd = config.initrd.map(relocated)
        config.cdrom = config.cdrom.map(relocated)
        config.state = config.state.map(relocated)
        // The QEMU parked after the save that wrote `state` ran on the pusher's files.
        config.savedID = nil
        let disk = QemuConfig.resolve(config.disk, in: directory)
        let info = try Tool.run("qemu-img", ["info", "--output=json", "-f", "qcow2", disk])
        if info.contains("\"data-file\"") { throw StepErrorText("its disk keeps its data in an external file, which a pulled machine may not name") }
        if let backing = config.chain.first {
            // -u: rewrite the header only; the backing file is not in place yet.
            try Tool.run("qemu-img", ["rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b", backing, disk])
        }
        try config.save(to: directory)
    }

    /// Refuses a record that reaches outside the pulled entries: a file
    /// that is neither its own (relative) nor an ancestor's (under one of
    /// the old prefixes), a path with `..`, extra QEMU arguments, an odd
    /// accelerator or SSH user.
    private static func requireContained(_ config: QemuConfig, oldPrefixes: [String]) throws {
        let files = [config.kernel, config.initrd, config.cdrom, config.state].compactMap { $0 } + config.chain
        for file in files + [config.disk] where file.isEmpty || file.split(separator: "/").contains("..")
            || (file.hasPrefix("/") && !oldPrefixes.contains(where: { file.hasPrefix($0) })) {
            throw StepErrorText("its record names \(file.debugDescription), which is not a file of the machines it was pushed with")
        }
        if config.disk.hasPrefix("/") { throw StepErrorText("its disk \(config.disk.debugDescription) is not a file of its own") }
        guard config.extraArguments.isEmpty else {
            throw StepErrorText("it was built with extra QEMU arguments (\(config.extraArguments.joined(separator: " "))), which a pulled machine may not bring, since they could reach this computer's files; push one built without --qemu-arg")
        }
        guard ["kvm", "tcg"].contains(config.accel) else { throw StepErrorText("its accelerator \(config.accel.debugDescription) is neither kvm nor tcg") }
        if let user = config.sshUser, user.isEmpty || user.hasPrefix("-") || !user.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) {
            throw StepErrorText("its SSH user \(user.debugDescription) is not a user name")
        }
    }

    /// Why this computer cannot resume `config`'s machine, naming the difference; nil when it can.
    static func obstacle(_ config: QemuConfig) -> String? {
        let here = config.binary
        if let saved = config.qemuVersion, let local = try? QemuConfig.version(of: here), VersionNumber.isOlder(local, than: saved) {
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
