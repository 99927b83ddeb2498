import ArgumentParser
import ChildProcess
import Foundation
import HostCore
import HostModel

/// The commands on named machines: machines that stay up after host
/// returns (`host up --name=NAME PIPELINE`), each kept by a monitor
/// (HostCore's MachineMonitor) that these commands talk to.
enum Machines {
    static func control() -> MachineControl {
        MachineControl(location: .fromEnvironment(), registry: Main.loadPlugins(), output: commandOutput)
    }
}

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Start a machine that stays up: `host up --name=NAME PIPELINE`, or `host up NAME...` to start stopped ones.",
        discussion: "With --name, builds or reuses PIPELINE as a run would, restores its machine and keeps it running in the background; returns once it answers. The same name and pipeline again says it is up already. Without --name, starts the named machines where `host stop` saved them.")

    @Option(help: "The machine's name: letters, digits, - _ and .") var name: String?
    @Flag(help: "Keep the machine attached to this command (for a service manager) instead of in the background.") var foreground = false
    @Argument(parsing: .captureForPassthrough, help: "the pipeline (with --name), or names of stopped machines") var words: [String] = []

    func validate() throws {
        // The words are captured whole (a pipeline's options are its own), --help with them.
        if ["-h", "--help"].contains(words.first) { throw CleanExit.helpRequest(self) }
        if words.isEmpty {
            throw ValidationError(name == nil ? "name the machines to start (host up NAME...) or give a name and a pipeline (host up --name=NAME PIPELINE)"
                                              : "give the pipeline whose machine \(name ?? "") is: host up --name=\(name ?? "NAME") os.debian")
        }
        if foreground && (name == nil ? words.count : 1) != 1 { throw ValidationError("--foreground keeps one machine") }
    }

    func run() throws {
        let control = Machines.control()
        let targets: [(String, [String]?)] = name.map { [($0, words)] } ?? words.map { ($0, nil) }
        for (name, pipeline) in targets { Self.report(try control.up(name, pipeline: pipeline, foreground: foreground)) }
    }

    /// How to reach the machine, or with --json its `host ls` row.
    static func report(_ outcome: MachineControl.UpOutcome) {
        let (record, already) = switch outcome {
        case let .alreadyUp(record): (record, true)
        case let .started(record): (record, false)
        }
        if commandOutput.json {
            print((try? JSON.text(MachineList.row(record, machines: nil))) ?? "{}")
            return
        }
        print(already ? "\(record.name) is up already (\(record.backend), since \(JSON.date(record.since)))" : "\(record.name) is up (\(record.backend): \(record.pipelineText))")
        print("  host exec \(record.name) -- CMD | host ssh \(record.name) | host console \(record.name) | host stop \(record.name)")
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start stopped named machines where they were saved (as `host up NAME`).")
    @Argument(help: "machine names") var names: [String]

    func run() throws {
        let control = Machines.control()
        for name in names { Up.report(try control.up(name, pipeline: nil)) }
    }
}

struct MachineList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List named machines: state, backend, uptime, memory, pipeline.",
        discussion: "A machine that ran when the computer restarted shows as stopped at its last save (`host stop`, else its pipeline's machine): what changed in it after that is lost.")
    @Flag(help: "Print JSON for scripts.") var json = false

    func run() throws {
        let machines = NamedMachines(location: .fromEnvironment())
        let records = machines.names().compactMap { machines.observed($0) }
        if json || commandOutput.json {
            print(try JSON.text(records.map { Self.row($0, machines: machines) }))
            return
        }
        if records.isEmpty {
            print("no named machines (`host up --name=NAME PIPELINE` makes one)")
            return
        }
        let rows = [["NAME", "STATE", "BACKEND", "UPTIME", "MEMORY", "PIPELINE"]] + records.map { record in
            let running = record.state == .running
            return [record.name, record.state.rawValue, record.backend,
                    running ? Format.duration(Date().timeIntervalSince(record.since)) : "-",
                    running && !record.processes.isEmpty ? Format.bytes(ProcessTree.memory(of: record.processes).pss) : "-", record.pipelineText]
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for (index, row) in rows.enumerated() {
            print((0..<5).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + row[5])
            guard index > 0, let reason = records[index - 1].reason else { continue }
            print("    \(records[index - 1].state.rawValue): \(reason)")
            if records[index - 1].state == .dead {
                for line in machines.lastConsoleLines(records[index - 1].name, 3) { print("    | \(line)") }
            }
        }
    }

    static func row(_ record: NamedMachine, machines: NamedMachines?) -> [String: Any] {
        var row: [String: Any] = ["name": record.name, "backend": record.backend, "pipeline": record.pipelineText,
                                  "state": record.state.rawValue, "since": JSON.date(record.since), "entry": record.startEntry]
        if let reason = record.reason { row["reason"] = reason }
        if record.state == .running {
            row["uptime"] = Date().timeIntervalSince(record.since)
            row["processes"] = record.processes
            if !record.processes.isEmpty {
                let memory = ProcessTree.memory(of: record.processes)
                row["rss"] = memory.rss
                row["pss"] = memory.pss
            }
            if let pid = record.monitorPID { row["monitor"] = pid }
        }
        if record.state == .dead, let machines { row["lastLines"] = machines.lastConsoleLines(record.name, 10) }
        return row
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running named machine: host exec NAME [-i] [-t] -- CMD...",
        discussion: "One word is a shell command line (`host exec db 'ls | wc -l'`); several are the command and its arguments, each passed as it is. Output is streamed; host exits with the command's status. -i passes standard input (read to its end first); -t gives the command a terminal, over SSH.")
    @Flag(name: .customShort("i"), help: "Pass standard input to the command.") var interactive = false
    @Flag(name: .customShort("t"), help: "Give the command a terminal (needs the machine's SSH).") var terminal = false
    @Argument(parsing: .captureForPassthrough, help: "NAME [-i] [-t] -- CMD...") var words: [String] = []

    func validate() throws {
        // The words are captured whole (the command's options are its own), --help with them.
        if ["-h", "--help"].contains(words.first) { throw CleanExit.helpRequest(self) }
    }

    func run() throws {
        var words = words, input = interactive, tty = terminal
        guard !words.isEmpty else { throw ValidationError("name the machine: host exec NAME -- CMD") }
        let name = words.removeFirst()
        while let flag = words.first, ["-i", "-t", "-it", "-ti"].contains(flag) {
            input = input || flag.contains("i")
            tty = tty || flag.contains("t")
            words.removeFirst()
        }
        if words.first == "--" { words.removeFirst() }
        let control = Machines.control()
        guard !words.isEmpty else {
            // `host exec 'uname -a'`: the pipeline step's habit, with no machine.
            guard control.machines.read(name) != nil else {
                throw HostError.usage("`host exec NAME -- CMD` runs CMD in the running machine NAME, and no machine is named \(name); to run it in a fresh machine, start a pipeline with one: host os.busybox + exec \(ShellWord.quote(name))")
            }
            throw ValidationError("give the command to run: host exec \(name) -- CMD")
        }
        let command = words.count == 1 ? words[0] : words.map(ShellWord.quote).joined(separator: " ")
        if tty { try SSHSession.run(try control.sshArguments(name), command: command, terminal: true) }
        let data = input ? FileHandle.standardInput.readDataToEndOfFile() : nil
        let status = try control.exec(name, command, input: data) { stream, bytes in
            (stream == 2 ? StandardStream.error : StandardStream.output).write(bytes)
        }
        throw ExitCode(status)
    }
}

struct SSH: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh", abstract: "An SSH session into a running named machine, or one command: host ssh NAME [-- CMD...]")
    @Argument(help: "the machine") var name: String
    @Argument(parsing: .postTerminator, help: "a command instead of a shell") var command: [String] = []

    func run() throws {
        let arguments = try Machines.control().sshArguments(name)
        try SSHSession.run(arguments, command: command.isEmpty ? nil : command.map(ShellWord.quote).joined(separator: " "), terminal: isatty(0) == 1)
    }
}

struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "The serial console of a running named machine on this terminal; Ctrl-] detaches.")
    @Argument(help: "the machine") var name: String

    func run() throws {
        let console = try Machines.control().console(name)
        StandardStream.error.write("host: connected to \(name)'s console; press Ctrl-] to detach (the machine keeps running)\r\n")
        _ = console.send([UInt8(ascii: "\n")]) // a fresh prompt
        var saved = termios()
        let isTerminal = isatty(0) == 1 && tcgetattr(0, &saved) == 0
        if isTerminal {
            var raw = saved
            cfmakeraw(&raw)
            tcsetattr(0, TCSANOW, &raw)
        }
        defer {
            if isTerminal { tcsetattr(0, TCSANOW, &saved) }
            StandardStream.error.write("\r\nhost: detached from \(name)'s console\n")
        }
        var keys = [UInt8](repeating: 0, count: 1024)
        var inputOpen = true
        while true {
            var fds = [pollfd(fd: console.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: inputOpen ? 0 : -1, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, inputOpen ? -1 : 500)
            if fds[0].revents != 0 {
                guard let output = console.receive() else { return }
                StandardStream.output.write(output)
            } else if !inputOpen {
                return // input ended and the machine went quiet
            }
            guard fds[1].revents != 0 else { continue }
            let count = read(0, &keys, keys.count)
            guard count > 0 else {
                inputOpen = false
                continue
            }
            let typed = keys.prefix(count)
            if let detach = typed.firstIndex(of: 0x1d) { // Ctrl-]
                if detach > 0 { _ = console.send(Array(typed[..<detach])) }
                return
            }
            guard console.send(Array(typed)) else { return }
        }
    }
}

struct Copy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp", abstract: "Copy a file or tree into or out of a running named machine: host cp SRC NAME:DST, host cp NAME:SRC DST",
        discussion: "A directory's contents go into the target directory, made when missing, as the upload and download steps copy.")
    @Argument(help: "the source") var source: String
    @Argument(help: "the target") var target: String

    func run() throws {
        let control = Machines.control()
        let names = Set(control.machines.names())
        func machine(_ word: String) -> (String, String)? {
            guard let colon = word.firstIndex(of: ":"), names.contains(String(word[..<colon])) else { return nil }
            return (String(word[..<colon]), String(word[word.index(after: colon)...]))
        }
        switch (machine(source), machine(target)) {
        case let (nil, (name, path)?):
            try control.copy(name, upload: true, local: source, remote: path.isEmpty ? "." : path)
        case let ((name, path)?, nil):
            try control.copy(name, upload: false, local: target, remote: path)
        case (.some, .some):
            throw HostError.usage("both \(source) and \(target) name a machine; copy through the host: host cp A:PATH ./here, then host cp ./here B:PATH")
        case (nil, nil):
            throw HostError.usage("neither \(source) nor \(target) names a machine: write one side as NAME:PATH, NAME one of \(names.isEmpty ? "your machines (there are none yet)" : names.sorted().joined(separator: ", "))")
        }
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a named machine's console output; --follow keeps printing while it runs.")
    @Argument(help: "the machine") var name: String
    @Flag(name: [.short, .long], help: "Keep printing what comes, until the machine stops.") var follow = false

    func run() throws {
        let machines = NamedMachines(location: .fromEnvironment())
        guard machines.read(name) != nil else { throw Machines.control().unknown(name) }
        let path = machines.consoleLog(name).path
        var offset: UInt64 = 0
        repeat {
            if let handle = FileHandle(forReadingAtPath: path) {
                let size = (try? handle.seekToEnd()) ?? 0
                if size < offset { offset = 0 } // the monitor cut it short: from its new start
                try? handle.seek(toOffset: offset)
                let data = handle.readDataToEndOfFile()
                offset += UInt64(data.count)
                StandardStream.output.write(data)
            }
            guard follow, machines.observed(name)?.state == .running || machines.observed(name)?.state == .starting else { return }
            usleep(200_000)
        } while true
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Save running named machines whole (RAM, devices, disk; processes alive) and end them; `host up NAME` resumes each there.")
    @Flag(help: "Every running named machine.") var all = false
    @Argument(help: "machine names") var names: [String] = []

    func validate() throws {
        if names.isEmpty && !all { throw ValidationError("name the machines to stop, or --all") }
    }

    func run() throws {
        let control = Machines.control()
        let targets = all ? control.machines.names().filter { control.machines.observed($0)?.state == .running } : names
        for name in targets {
            switch try control.stop(name) {
            case let .saved(key): print("\(name) stopped, saved as \(key.prefix(12)); `host up \(name)` resumes it")
            case let .alreadyStopped(state): print("\(name) is \(state.rawValue) already")
            }
        }
    }
}

struct MachineRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Forget named machines and what their stops saved; --force ends running ones first (unsaved).")
    @Flag(help: "End a running machine without saving it.") var force = false
    @Argument(help: "machine names") var names: [String]

    func run() throws {
        let control = Machines.control()
        for name in names {
            try control.remove(name, force: force)
            print("\(name) removed")
        }
    }
}

/// ssh(1) on this terminal, in place of host: what it prints and exits with
/// is the command's.
enum SSHSession {
    static func run(_ arguments: [String], command: String?, terminal: Bool) throws -> Never {
        let ssh: String
        do { ssh = try Command.find("ssh", package: "openssh-client") } catch { throw HostError(.environment, "\(error)") }
        let words = ["ssh", terminal ? "-t" : "-T"] + arguments + (command.map { ["--", $0] } ?? [])
        let argv = words.map { strdup($0) } + [nil]
        execv(ssh, argv)
        throw HostError(.environment, "cannot run \(ssh): \(String(cString: strerror(errno)))")
    }
}
