import Foundation
import PluginABI
import PluginKit

extension GuestSession {
    /// Reboots the guest from inside and waits until it is reachable in its
    /// new boot, told from the old by its boot id: the old boot answers
    /// for a moment after the command, which is delayed so that it returns
    /// before the guest goes down.
    public func reboot(_ call: BackendCall, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        let bootID = "cat /proc/sys/kernel/random/boot_id"
        let before = try text(call, bootID)
        try ignoringOutput(call, "(sleep 1; if [ -d /run/systemd/system ]; then systemctl reboot; else sync; reboot -f; fi) </dev/null >/dev/null 2>&1 &")
        call.log("rebooting (the boot before: \(before))", level: .debug)
        startAfresh()
        if usesConsoleOnly {
            // A command typed while the guest goes down is lost, and the shell
            // would wait for its answer for ever: first the new boot's prompt.
            try awaitConsolePrompt(after: "Restarting system", until: deadline)
        }
        var lastProblem = "no answer yet"
        while Date() < deadline {
            do {
                let now = try text(call, bootID)
                if now != before { return try awaitSSH(call, until: deadline) }
                lastProblem = "it still runs its old boot"
            } catch {
                lastProblem = String(describing: error)
            }
            startAfresh()
            Thread.sleep(forTimeInterval: 1)
        }
        throw StepError("the guest did not come back from its reboot within \(Int(timeout)) s (\(lastProblem))")
    }

    /// A guest with an sshd is back when that answers too: systemd starts
    /// the agent and sshd side by side, and the agent may answer first.
    private func awaitSSH(_ call: BackendCall, until deadline: Date) throws {
        guard guest.sshUser != nil else { return }
        while true {
            do {
                _ = try ssh(call)
                return
            } catch let error as SSHAccess.Unreachable {
                guard Date() < deadline else {
                    throw StepError("the guest came back from its reboot, but its SSH server did not answer in time (\(error))")
                }
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    private func text(_ call: BackendCall, _ command: String) throws -> String {
        var output: [UInt8] = []
        let status = try run(call, command) { _, bytes in output += bytes }
        guard status == 0 else { throw StepError("`\(command)` exited with status \(status)") }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func ignoringOutput(_ call: BackendCall, _ command: String) throws {
        let status = try run(call, command) { _, _ in }
        guard status == 0 else { throw StepError("`\(command)` exited with status \(status)") }
    }
}

/// The host.vm/1 reboot function (ABI 1.5) of a VM backend whose machines
/// are GuestMachines.
public func guestReboot(_ call: UnsafeMutablePointer<host_call>?, _ raw: UnsafeMutableRawPointer?, timeoutMs: Int64) -> host_status {
    guard let call else { return HOST_ERROR }
    do {
        guard let machine = backendMachine(raw, as: (any GuestMachine).self) else { throw StepError("reboot needs a virtual machine") }
        try machine.guest().reboot(BackendCall(raw: call), timeout: TimeInterval(timeoutMs) / 1000)
        return HOST_OK
    } catch {
        call.pointee.services.pointee.set_error(call, String(describing: error))
        return HOST_ERROR
    }
}
