import Foundation
import PluginKit
import PluginSupport

/// Chooses KVM or TCG. `/dev/kvm` existing proves nothing (on some hosts
/// KVM_RUN hangs), so `auto` boots a one-instruction guest under KVM with a
/// short timeout and falls back to TCG, saying so once per boot of the host.
enum Accelerator {
    static func resolve(_ requested: String, binary: String, log: (String) -> Void) throws -> String {
        let choice = ProcessInfo.processInfo.environment["HOST_QEMU_ACCEL"].flatMap { $0.isEmpty ? nil : $0 } ?? requested
        switch choice {
        case "tcg", "kvm": return choice
        case "auto": break
        default: throw StepErrorText("accel must be auto, kvm or tcg, not \(choice)")
        }
        let memo = RuntimeDirectory.private()?.appendingPathComponent("kvm-probe-\(RuntimeDirectory.bootID)")
        if let memo, let known = try? String(contentsOf: memo, encoding: .utf8), ["kvm", "tcg"].contains(known) { return known }
        let (result, reason) = probe(binary: binary)
        if result == "tcg" { log("KVM does not work here (\(reason)); using TCG, which is slower. HOST_QEMU_ACCEL=kvm forces KVM.") }
        if let memo { try? result.write(to: memo, atomically: true, encoding: .utf8) }
        return result
    }

    /// Boots the host's kernel under KVM with no root disk: it panics and,
    /// with panic=-1 and -no-reboot, QEMU exits. Working KVM does that in
    /// about a second; where KVM_RUN hangs, the 10 s limit catches it. (A
    /// guest that runs only a few real-mode instructions passes even where
    /// a Linux kernel hangs.)
    private static func probe(binary: String) -> (String, String) {
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return ("tcg", "/dev/kvm is missing or not accessible") }
        let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []).filter { $0.hasPrefix("vmlinuz-") }.sorted()
        guard let kernel = kernels.last.map({ "/boot/" + $0 }), FileManager.default.isReadableFile(atPath: kernel) else {
            return ("tcg", "no kernel in /boot to test it with (install linux-image-amd64)")
        }
        var command = Command(binary, ["-accel", "kvm", "-machine", "pc", "-nodefaults", "-display", "none", "-no-reboot", "-m", "128",
                                       "-kernel", kernel, "-append", "panic=-1 root=/dev/host-kvm-probe"])
        command.diesWithHost = true
        command.timeLimit = 10
        switch try? command.run() {
        case nil: return ("tcg", "could not start \(binary)")
        case .timedOut?: return ("tcg", "a test kernel under KVM did not finish booting in 10 s")
        case .exited(0)?: return ("kvm", "")
        case let ending?: return ("tcg", "a test kernel under KVM failed (status \(ending.status))")
        }
    }
}
