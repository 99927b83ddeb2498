import Foundation
import PluginKit

/// `script.debug FILE`: runs a script unit by unit in one shell that lives
/// in the machine, checkpointing the machine after each unit that took
/// longer than --every. The checkpoint after unit N is keyed by the
/// script's text up to it, so a run of an edited script resumes from the
/// end of its longest unchanged prefix and runs only what changed.
final class ScriptDebugger {
    let call: StepCall
    let path: String
    /// Seconds a unit must take to be worth a checkpoint.
    let every: Double
    /// The machine the script is running in.
    private var current: MachineHandle?

    init(call: StepCall, path: String, every: Double) {
        (self.call, self.path, self.every) = (call, path, every)
    }

    /// The script from its first run until one succeeds (or, with `watch`,
    /// for every edit until Ctrl-C); the machine it leaves.
    func run(watch: Bool) throws -> MachineHandle? {
        let file = try scriptFile(path)
        guard watch else { return try run(try read(file)) }
        // The machine as received, saved, so that each round can start
        // afresh from it when even the first command changed.
        let before = "watch\n"
        var start = try call.checkpoint(call.machine, key: before, description: "before the script")
        var text = try read(file)
        while true {
            do {
                _ = try run(text, from: start)
                call.log("the script ran to its end")
            } catch let error as StepError {
                call.log(error.description, level: .warning)
            }
            call.log("watching \(path): save it to run again from the first changed line (Ctrl-C ends)")
            text = try changed(file, from: text)
            if let current { call.drop(current) }
            guard let fresh = call.resume(key: before) else { throw StepError("the machine saved before the script is gone") }
            start = fresh
        }
    }

    private func read(_ file: URL) throws -> String {
        do {
            return try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw StepError.usage("cannot read \(path) as UTF-8 text: \(error.localizedDescription)")
        }
    }

    /// Waits until `file` holds something other than `text`, and returns it.
    private func changed(_ file: URL, from text: String) throws -> String {
        while true {
            usleep(300_000)
            if let now = try? String(contentsOf: file, encoding: .utf8), now != text { return now }
        }
    }

    /// One run of the script as `text` is: the machine after its last
    /// unit, its shell gone. `from` is where to start when no checkpoint
    /// fits (the machine the step received when nil).
    private func run(_ text: String, from start: MachineHandle? = nil) throws -> MachineHandle? {
        let script = try ScriptUnits(text, path: path)
        // A checkpoint's key is the shell and the script's text up to it.
        var keys: [String] = []
        for unit in script.units { keys.append((keys.last ?? script.shell + "\n") + unit.text) }

        var shell = DebugShell(call: call, machine: start ?? call.machine)
        var next = 0
        for index in keys.indices.reversed() {
            guard let resumed = call.resume(key: keys[index]) else { continue }
            if let start { call.drop(start) } // --watch's fresh copy, not needed
            shell.machine = resumed
            next = index + 1
            call.log("resuming after line \(script.units[index].lastLine), where the script is unchanged: \(next) of \(script.units.count) commands are not run again")
            break
        }
        current = shell.machine
        if next == 0 { try shell.start(script.shell) }
        for index in script.units.indices.dropFirst(next) {
            let unit = script.units[index]
            call.log("line \(unit.line): \(unit.command)")
            let started = Date()
            let (status, ended) = try shell.run(unit, number: index + 1)
            guard status == 0, ended == nil else {
                return try failed(unit, status: status, ended: ended, shell: shell, key: keys[index])
            }
            if Date().timeIntervalSince(started) > every {
                shell.machine = try call.checkpoint(shell.machine, key: keys[index], description: "checkpoint after line \(unit.lastLine)")
                current = shell.machine
            }
        }
        try shell.stop()
        return shell.machine
    }

    /// Says what failed; on a terminal, first opens a shell (ssh, else the
    /// console) in the machine as the failure left it, saved as a
    /// checkpoint of its own so that the shell gets it exactly.
    private func failed(_ unit: ScriptUnit, status: Int32, ended: String?, shell: DebugShell, key: String) throws -> MachineHandle? {
        let directory = shell.workingDirectory()
        var message = "line \(unit.line) failed with exit status \(status): \(unit.command)"
        if let ended { message += "; \(ended)" }
        if isatty(0) == 1 && isatty(1) == 1 {
            call.log(message)
            // Asked of the running machine: an SSH server answers or not.
            let inspector = (try? call.sshArguments(on: shell.machine)) != nil ? "ssh" : "console"
            let saved = try call.checkpoint(shell.machine, key: "failed\n" + key, description: "failed at line \(unit.line)")
            current = saved
            call.log("a shell (\(inspector)) in the machine as the failure left it\(directory.map { ", in \($0), where the script was" } ?? ""); leave it to end")
            do {
                _ = try call.apply([inspector] + (directory.map { ["--directory=\($0)"] } ?? []), to: saved)
            } catch {
                call.log("could not open a shell with the \(inspector) step: \(error)", level: .warning)
            }
        }
        call.setExitStatus(status)
        throw StepError(message + "; the checkpoints before it are kept: fix the script and run the same command again to go on from the last one")
    }
}
