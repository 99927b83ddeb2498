import ChildProcess
import Foundation
import HostModel

/// What host's commands do to named machines (`host up --name`, `stop`,
/// `exec`, ...): the records in NamedMachines, the pipelines through the
/// Engine, and the running machines through their monitors.
public struct MachineControl {
    public let machines: NamedMachines
    let registry: PluginIndex
    let output: Output

    public init(location: CacheLocation, registry: PluginIndex, output: Output) {
        machines = NamedMachines(location: location)
        self.registry = registry
        self.output = output
    }

    public enum UpOutcome { case started(NamedMachine), alreadyUp(NamedMachine) }

    /// `host up --name=NAME PIPELINE`: builds or reuses the pipeline and
    /// starts its machine under a monitor; `host up NAME` (pipeline nil)
    /// starts a stopped one where it was saved.
    public func up(_ name: String, pipeline: [String]?, foreground: Bool = false) throws -> UpOutcome {
        try NamedMachines.checkName(name)
        let lock = try machines.changeLock(name)
        try lock.lock(.exclusive) { output.progress("\(name): waiting for another command on it to finish") }
        let existing = machines.observed(name)
        if let existing, pipeline == nil || existing.pipeline == pipeline {
            if existing.state == .running { return .alreadyUp(existing) }
            return .started(try launch(existing, previous: existing, foreground: foreground, lock: lock))
        }
        guard let pipeline else { throw unknown(name) }
        if let existing {
            throw HostError.usage("the name \(name) is taken by a machine of another pipeline (\(existing.pipelineText), \(existing.state.rawValue)); `host rm \(name)` frees it, or choose another name")
        }
        let engine = try Engine(registry: registry, cache: machines.location, output: output)
        var backend: BackendRef?
        let entry = try engine.execute(pipeline, keeping: true) { backend = $0 }
        guard let backend else { throw HostError.usage("\(ShellWord.quote(pipeline.first ?? "")) makes no machine") }
        let record = NamedMachine(name: name, backend: backend.step.name, pipeline: pipeline, pipelineEntry: entry?.key ?? "", state: .starting)
        return .started(try launch(record, previous: nil, foreground: foreground, lock: lock))
    }

    /// Starts `record`'s monitor and waits until the machine answers; on
    /// failure the record is as it was (`previous`) or gone.
    /// `lock`, the name's change lock, is let go of by a foreground monitor,
    /// which lasts: `host stop NAME` takes it.
    private func launch(_ record: NamedMachine, previous: NamedMachine?, foreground: Bool, lock: FileLock) throws -> NamedMachine {
        if let previous, previous.state != .stopped, !previous.pipelineEntry.isEmpty || previous.saved != nil {
            output.progress("\(record.name) was \(previous.state.rawValue) (\(previous.reason ?? "no reason recorded")); starting it from its last save")
        }
        var starting = record
        starting.state = .starting
        starting.bootID = NamedMachines.bootID
        starting.reason = nil
        try machines.write(starting)
        let restore = {
            if let previous { try? machines.write(previous) } else { machines.delete(record.name) }
        }
        if foreground {
            lock.unlock()
            MachineMonitor.serve(record.name, registry: registry, location: machines.location, foreground: true)
        }
        var command = Command(Self.hostExecutable, ["__monitor", record.name])
        var environment = ProcessInfo.processInfo.environment
        environment["HOST_CACHE_DIR"] = machines.location.root.path
        command.environment = environment
        command.output = .pipe
        command.error = .terminal // the restore's progress, until it answers
        command.ownSession = true // Ctrl-C here, or this command's end, never reaches it
        let monitor: RunningChild
        do {
            monitor = try command.start()
        } catch {
            restore()
            throw error
        }
        let line = Self.readLine(monitor.output ?? -1, deadline: Date().addingTimeInterval(600))
        if let fd = monitor.output { close(fd) }
        guard let line, let answer = try? JSONDecoder().decode(MonitorProtocol.Answer.self, from: Data(line.utf8)), answer.ok else {
            let answer = line.flatMap { try? JSONDecoder().decode(MonitorProtocol.Answer.self, from: Data($0.utf8)) }
            if line == nil { monitor.kill() }
            monitor.wait()
            restore()
            let message = answer?.error ?? "its monitor ended without saying why (see \(machines.monitorLog(record.name).path))"
            throw answer?.usage == true ? HostError.usage(message) : HostError(.stepFailed, "\(record.name) did not start: \(message)")
        }
        return machines.read(record.name) ?? starting
    }

    /// The host executable itself, to run as a monitor.
    static var hostExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// One line from `fd`, waiting until `deadline`; nil at end of file or
    /// when the deadline passes.
    private static func readLine(_ fd: Int32, deadline: Date) -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 1000) >= 0 || errno == EINTR else { return nil }
            guard poller.revents != 0 else { continue }
            guard read(fd, &byte, 1) == 1 else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        return nil
    }

    // MARK: Stop and remove

    public enum StopOutcome { case saved(String), alreadyStopped(NamedMachine.State) }

    /// `host stop NAME`: saves the running machine as an entry it owns and
    /// ends it. Two at once save once: the second waits and finds it stopped.
    public func stop(_ name: String) throws -> StopOutcome {
        let lock = try machines.changeLock(name)
        try lock.lock(.exclusive) { output.progress("\(name): waiting for another command on it to finish") }
        guard let record = machines.observed(name) else { throw unknown(name) }
        guard record.state == .running else { return .alreadyStopped(record.state) }
        if record.pipelineEntry.isEmpty {
            throw HostError.usage("\(name) runs on \(record.backend), which saves nothing, so it cannot be stopped and resumed; `host rm \(name)` forgets it (the machine itself stays as it is)")
        }
        output.progress("\(name): saving the running machine")
        let answer = try request(record, MonitorProtocol.Request(operation: .stop))
        // Ended before this returns: a `host up NAME` right after starts a new one.
        _ = monitorEnds(name, within: 10)
        return .saved(answer.savedEntry ?? "")
    }

    /// `host rm NAME`: ends a running machine (only with `force`) and
    /// forgets it, with every entry its stops saved.
    public func remove(_ name: String, force: Bool) throws {
        let lock = try machines.changeLock(name)
        try lock.lock(.exclusive) { output.progress("\(name): waiting for another command on it to finish") }
        guard let record = machines.observed(name) else { throw unknown(name) }
        if record.state == .running {
            guard force else { throw HostError.usage("\(name) is running; `host stop \(name)` first, or `host rm --force \(name)` ends it without saving") }
            _ = try? request(record, MonitorProtocol.Request(operation: .rm))
            // Its saves can go once it has let go of them; one that does not
            // end is ended as it would end by itself.
            if !monitorEnds(name, within: 10), let pid = record.monitorPID {
                kill(pid, SIGKILL)
                _ = monitorEnds(name, within: 5)
            }
        }
        machines.delete(name)
        let admin = try CacheAdmin(cache: machines.location, registry: registry, output: output)
        for key in record.owned.reversed() { _ = try? admin.store.remove(key) }
    }

    private func monitorEnds(_ name: String, within seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while machines.monitorRuns(name) {
            guard Date() < deadline else { return false }
            usleep(20_000)
        }
        return true
    }

    // MARK: Working in a running machine

    /// Runs `command`, its output to `sink`, and returns its status.
    /// `input`: the whole of standard input (`exec -i`).
    public func exec(_ name: String, _ command: String, input: Data?, sink: (Int32, [UInt8]) -> Void) throws -> Int32 {
        let record = try running(name)
        var request = MonitorProtocol.Request(operation: .exec)
        request.command = command
        request.input = input != nil
        let answer = try self.request(record, request, input: input, sink: sink)
        return answer.exitStatus ?? 1
    }

    /// `host cp`: a file or tree into (`upload`) or out of the machine.
    public func copy(_ name: String, upload: Bool, local: String, remote: String) throws {
        let record = try running(name)
        var request = MonitorProtocol.Request(operation: upload ? .upload : .download)
        request.local = URL(fileURLWithPath: local).standardizedFileURL.path
        request.remote = remote
        _ = try self.request(record, request)
    }

    /// The ssh(1) arguments that reach the machine.
    public func sshArguments(_ name: String) throws -> [String] {
        try request(try running(name), MonitorProtocol.Request(operation: .ssh)).sshArguments ?? []
    }

    /// A connection attached to the machine's console: what the console
    /// prints comes as output frames, keys go as input frames.
    public func console(_ name: String) throws -> MachineConsole {
        let record = try running(name)
        let connection = try connect(record)
        guard connection.send(.request, json: MonitorProtocol.Request(operation: .console)) else { throw gone(record) }
        _ = try answer(on: connection, record, sink: { _, _ in })
        return MachineConsole(connection: connection)
    }

    /// The record of a running machine, or a usage error saying how to start it.
    func running(_ name: String) throws -> NamedMachine {
        guard let record = machines.observed(name) else { throw unknown(name) }
        guard record.state == .running else {
            throw HostError.usage("\(name) is \(record.state.rawValue)\(record.reason.map { " (\($0))" } ?? ""); `host up \(name)` starts it")
        }
        return record
    }

    /// A usage error for a name no machine has, listing those there are.
    public func unknown(_ name: String) -> HostError {
        let names = machines.names()
        return HostError.usage("no machine is named \(name); " + (names.isEmpty
            ? "there are none yet (`host up --name=NAME PIPELINE` makes one)"
            : "there are \(names.joined(separator: ", ")) (`host ls` shows them)"))
    }

    private func gone(_ record: NamedMachine) -> HostError {
        HostError(.stepFailed, "\(record.name)'s monitor (pid \(record.monitorPID.map(String.init) ?? "?")) did not answer; `host ls` says why")
    }

    private func connect(_ record: NamedMachine) throws -> MonitorConnection {
        guard let socket = record.socket, let connection = MonitorConnection.connect(socket) else { throw gone(record) }
        return connection
    }

    private func request(_ record: NamedMachine, _ request: MonitorProtocol.Request, input: Data? = nil,
                         sink: (Int32, [UInt8]) -> Void = { _, _ in }) throws -> MonitorProtocol.Answer {
        let connection = try connect(record)
        guard connection.send(.request, json: request) else { throw gone(record) }
        if let input {
            var offset = 0
            while offset < input.count {
                guard connection.send(.input, input[offset ..< min(offset + 65536, input.count)]) else { throw gone(record) }
                offset += 65536
            }
            guard connection.send(.endOfInput, []) else { throw gone(record) }
        }
        return try answer(on: connection, record, sink: sink)
    }

    private func answer(on connection: MonitorConnection, _ record: NamedMachine, sink: (Int32, [UInt8]) -> Void) throws -> MonitorProtocol.Answer {
        while let (kind, payload) = connection.receive() {
            switch kind {
            case .stdout: sink(1, payload)
            case .stderr: sink(2, payload)
            case .answer:
                guard let answer = try? JSONDecoder().decode(MonitorProtocol.Answer.self, from: Data(payload)) else { throw gone(record) }
                guard answer.ok else {
                    let message = answer.error ?? "no reason given"
                    throw answer.usage ? HostError.usage(message) : HostError(.stepFailed, message)
                }
                return answer
            default: continue
            }
        }
        throw gone(record)
    }
}

/// `host console NAME`'s connection to the monitor.
public struct MachineConsole {
    let connection: MonitorConnection

    public var fd: Int32 { connection.fd }

    /// What the console printed since the last call; nil once the monitor is gone.
    public func receive() -> [UInt8]? {
        guard let (kind, payload) = connection.receive() else { return nil }
        return kind == .stdout ? payload : []
    }

    public func send(_ keys: [UInt8]) -> Bool { connection.send(.input, keys) }
}
