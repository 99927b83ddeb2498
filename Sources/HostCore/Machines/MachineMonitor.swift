import ChildProcess
import Foundation
import HostModel
import PluginABI

/// The process that keeps one named machine running after `host up`
/// returned: host itself in monitor mode (`host __monitor NAME`), in a
/// session of its own. It restores the machine, owns its process (QEMU dies
/// with it: PR_SET_PDEATHSIG; containers and domains are swept by their
/// backends when it is gone), keeps its console log bounded, and answers
/// host's commands on a Unix socket (MonitorProtocol), one at a time, on
/// its main thread: the backend sees the calls of one run, only longer.
public final class MachineMonitor {
    let name: String
    let machines: NamedMachines
    let engine: Engine
    var record: NamedMachine
    let machine: TrackedMachine
    /// The saved machine it was restored from, held (shared use lock) while it runs.
    let origin: CacheEntry?
    let listener: Int32
    let socketDirectory: URL
    /// Held exclusively for the monitor's whole life (NamedMachines.monitorRuns).
    let alive: FileLock
    var consoleClients: [MonitorConnection] = []
    /// False once the backend refused a console read: it has none.
    var consoleWorks = true
    var console: ConsoleLog

    private init(name: String, machines: NamedMachines, engine: Engine, record: NamedMachine, machine: TrackedMachine,
                 origin: CacheEntry?, listener: Int32, socketDirectory: URL, alive: FileLock) {
        (self.name, self.machines, self.engine, self.record, self.machine) = (name, machines, engine, record, machine)
        (self.origin, self.listener, self.socketDirectory, self.alive) = (origin, listener, socketDirectory, alive)
        console = ConsoleLog(machines.consoleLog(name))
    }

    /// Runs the monitor of `name` (whose record `host up` wrote): says on
    /// standard output, as one Answer, whether the machine came up, then
    /// serves until the machine is stopped, removed or ends.
    /// `foreground`: the monitor is the command itself (`host up
    /// --foreground`), which keeps its terminal.
    public static func serve(_ name: String, registry: PluginIndex, location: CacheLocation, foreground: Bool = false) -> Never {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        let machines = NamedMachines(location: location)
        let monitor: MachineMonitor
        do {
            monitor = try start(name, machines: machines, registry: registry, location: location)
        } catch {
            let failure = (error as? HostError) ?? HostError(system: error)
            if foreground {
                StandardStream.error.write("host: error: \(TerminalText.escaped(failure.message))\n")
            } else {
                announce(.failure(failure))
            }
            exit(failure.exitCode)
        }
        if foreground {
            // A service manager stops what it started with SIGTERM: the
            // machine is saved then, as by `host stop`, and so on Ctrl-C.
            for stopping in [SIGTERM, SIGINT] {
                signal(stopping) { _ in stopRequested = 1 }
            }
            StandardStream.error.write("host: \(name) is up in the foreground (pid \(getpid())); Ctrl-C or SIGTERM saves and ends it, as `host stop \(name)` does\n")
            monitor.loop()
        }
        announce(MonitorProtocol.Answer(pid: getpid()))
        // From now on nothing of the starting command's: it may have exited.
        let null = open("/dev/null", O_RDWR)
        let log = open(machines.monitorLog(name).path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        dup2(null, 0)
        dup2(log >= 0 ? log : null, 1)
        dup2(log >= 0 ? log : null, 2)
        monitor.loop()
    }

    private static func announce(_ answer: MonitorProtocol.Answer) {
        // The protocol's types hold strings, numbers and flags only, which always encode.
        guard let data = try? JSONEncoder().encode(answer) else { return }
        StandardStream.output.write(data + [UInt8(ascii: "\n")])
    }

    private static func start(_ name: String, machines: NamedMachines, registry: PluginIndex, location: CacheLocation) throws -> MachineMonitor {
        let alive = try machines.aliveLock(name)
        guard alive.tryLock(.exclusive) else { throw HostError.usage("\(name) has a monitor already") }
        guard var record = machines.read(name) else { throw HostError.usage("no machine is named \(name)") }
        let engine = try Engine(registry: registry, cache: location, output: Output())
        var origin: CacheEntry?
        if !record.startEntry.isEmpty {
            switch try engine.store.named(record.startEntry) {
            case let .success(entry): origin = entry
            case let .failure(error):
                throw HostError(.cache, "\(name)'s saved machine \(record.startEntry.prefix(12)) cannot be started: \(error.message); `host rm \(name)` removes it")
            }
        }
        let machine = try engine.restore(origin, pipeline: record.pipeline)
        let socketDirectory: URL, listener: Int32
        do {
            // `host up` returns once the machine answers, not once its process runs.
            _ = try engine.driver.exec(machine, "true", log: nil) { _, _ in }
            socketDirectory = try privateRuntimeDirectory()
            listener = try listen(at: socketDirectory.appendingPathComponent("monitor.sock").path)
        } catch {
            engine.driver.drop(machine, log: nil)
            throw error
        }
        let monitor = MachineMonitor(name: name, machines: machines, engine: engine, record: record, machine: machine,
                                     origin: origin, listener: listener, socketDirectory: socketDirectory, alive: alive)
        record.state = .running
        record.since = Date()
        record.reason = nil
        record.socket = socketDirectory.appendingPathComponent("monitor.sock").path
        record.monitorPID = getpid()
        record.bootID = NamedMachines.bootID
        record.processes = monitor.machineProcesses()
        record.protocolVersion = MonitorProtocol.version
        monitor.record = record
        do {
            try machines.write(record)
        } catch {
            monitor.end()
            throw error
        }
        return monitor
    }

    /// `$XDG_RUNTIME_DIR/host/NAME-XXXXXX` where that is set, else a fresh
    /// directory of an unpredictable name in /tmp: mode 0700 either way, so
    /// no other user reaches the socket or can make its name first.
    private static func privateRuntimeDirectory() throws -> URL {
        var base = "/tmp/host-\(getuid())-"
        if let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            let directory = URL(fileURLWithPath: runtime).appendingPathComponent("host")
            _ = mkdir(directory.path, 0o700)
            try TemporaryDirectory.requirePrivate(directory)
            base = directory.path + "/m-"
        }
        return try TemporaryDirectory.fresh(base)
    }

    private static func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError(.environment, "cannot make a socket: \(String(cString: strerror(errno)))") }
        var address = UnixAddress(path)
        let bound = withUnsafePointer(to: &address.raw) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HostError(.environment, "cannot listen on \(path): \(reason)")
        }
        return fd
    }

    // MARK: Serving

    private func loop() -> Never {
        var lastCheck = Date()
        while true {
            let clients = consoleClients
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                + clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), clients.isEmpty ? 200 : 20)
            pumpConsole()
            for (index, client) in clients.enumerated() where fds[index + 1].revents != 0 { relay(client) }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let fd = accept(listener, nil, nil)
                if fd >= 0 {
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC) // no child of the backend's keeps a client waiting
                    serve(MonitorConnection(fd: fd))
                }
            }
            if stopRequested != 0 {
                do {
                    let saved = try stop()
                    StandardStream.error.write("host: \(name) stopped, saved as \(saved.prefix(12)); `host up \(name)` resumes it\n")
                    exit(0)
                } catch {
                    StandardStream.error.write("host: error: \(TerminalText.escaped((error as? HostError)?.message ?? "\(error)"))\n")
                    stopRequested = 0
                }
            }
            if Date().timeIntervalSince(lastCheck) >= 1 {
                lastCheck = Date()
                if !record.processes.isEmpty, !record.processes.contains(where: ProcessTree.isAlive) {
                    die("its process (pid \(record.processes.map(String.init).joined(separator: ", "))) ended")
                }
            }
        }
    }

    /// The host processes the machine is made of, as its backend says
    /// (none: a machine elsewhere, or a backend before ABI 1.7; its end is
    /// then seen when a call on it fails).
    private func machineProcesses() -> [Int32] { engine.driver.processes(machine) ?? [] }

    private func serve(_ connection: MonitorConnection) {
        // A client that stops talking must not hold the machine's other users.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(connection.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let (kind, payload) = connection.receive(), kind == .request else { return }
        guard let request = try? JSONDecoder().decode(MonitorProtocol.Request.self, from: Data(payload)) else {
            _ = connection.send(.answer, json: MonitorProtocol.Answer.failure(HostError(.plugin,
                "\(name)'s monitor (pid \(getpid())) speaks protocol \(MonitorProtocol.version) and does not know this request; `host stop \(name)` and `host up \(name)` restart it under this host")))
            return
        }
        do {
            switch request.operation {
            case .hello:
                _ = connection.send(.answer, json: MonitorProtocol.Answer(pid: getpid()))
            case .exec:
                // Its output waits for its reader as on a terminal (a pager
                // paused), rather than be lost; a reader that ends closes it.
                var forever = timeval()
                setsockopt(connection.fd, SOL_SOCKET, SO_SNDTIMEO, &forever, socklen_t(MemoryLayout<timeval>.size))
                let status = try exec(request, connection)
                _ = connection.send(.answer, json: MonitorProtocol.Answer(exitStatus: status))
            case .upload:
                try engine.driver.upload(machine, request.local ?? "", to: request.remote ?? "", log: nil)
                _ = connection.send(.answer, json: MonitorProtocol.Answer())
            case .download:
                try engine.driver.download(machine, request.remote ?? "", to: request.local ?? "", log: nil)
                _ = connection.send(.answer, json: MonitorProtocol.Answer())
            case .ssh:
                guard let arguments = try engine.driver.sshArguments(machine) else {
                    throw HostError.usage("\(name)'s backend, \(record.backend), offers no SSH (host.ssh/1); `host console \(name)` or `host exec \(name) -- CMD` reach it")
                }
                _ = connection.send(.answer, json: MonitorProtocol.Answer(sshArguments: arguments))
            case .console:
                guard consoleWorks else { throw HostError.usage("\(name)'s backend, \(record.backend), has no console") }
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(connection.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if connection.send(.answer, json: MonitorProtocol.Answer()) { consoleClients.append(connection) }
            case .stop:
                let saved = try stop()
                _ = connection.send(.answer, json: MonitorProtocol.Answer(savedEntry: saved))
                connection.close()
                exit(0)
            case .rm:
                engine.driver.drop(machine, log: nil)
                _ = connection.send(.answer, json: MonitorProtocol.Answer())
                connection.close()
                removeSocket()
                exit(0)
            }
        } catch {
            _ = connection.send(.answer, json: MonitorProtocol.Answer.failure((error as? HostError) ?? HostError(system: error)))
        }
    }

    /// Runs a command, its output streamed to the client; with standard
    /// input (`exec -i`, read whole first) through host_backend.exec_with.
    private func exec(_ request: MonitorProtocol.Request, _ connection: MonitorConnection) throws -> Int32 {
        let command = request.command ?? ""
        let sink = { (stream: Int32, data: Data) in _ = connection.send(stream == 2 ? .stderr : .stdout, [UInt8](data)) }
        guard request.input else { return try engine.driver.exec(machine, command, log: nil, sink: sink) }
        var input: [UInt8] = []
        while let (kind, bytes) = connection.receive(), kind == .input { input += bytes }
        guard let status = try engine.driver.exec(machine, command, input: input, log: nil, sink: sink) else {
            throw HostError.usage("\(record.backend) passes no standard input to commands (it has no host_backend.exec_with, ABI 1.7); give the command its input some other way, such as `host cp` first")
        }
        return status
    }

    /// Saves the machine as a cache entry of its own (RAM, devices, disk)
    /// and records it as the machine's; the monitor then ends. A save that
    /// fails leaves the machine running when it still runs.
    private func stop() throws -> String {
        guard let origin else { throw HostError.usage("\(name) runs on \(record.backend), which saves nothing") }
        let saved: CacheEntry
        do {
            saved = try engine.save(machine, from: origin, name: name, log: nil)
        } catch {
            if machine.object != nil, record.processes.isEmpty || record.processes.contains(where: ProcessTree.isAlive) {
                throw HostError((error as? HostError)?.kind ?? .stepFailed, "\(name) was not saved and still runs: \((error as? HostError)?.message ?? "\(error)")")
            }
            die("it ended while being saved: \((error as? HostError)?.message ?? "\(error)")")
        }
        record.saved = saved.key
        record.owned.append(saved.key)
        record.state = .stopped
        record.since = Date()
        record.reason = nil
        record.socket = nil
        record.processes = []
        try machines.write(record)
        removeSocket()
        return saved.key
    }

    /// The machine ended without a save: recorded as dead, with why and its
    /// last console lines, and the monitor ends.
    private func die(_ reason: String) -> Never {
        record.state = .dead
        record.since = Date()
        record.reason = reason
        record.socket = nil
        record.processes = []
        try? machines.write(record)
        end()
        exit(1)
    }

    private func end() {
        engine.driver.drop(machine, log: nil)
        removeSocket()
    }

    private func removeSocket() {
        close(listener)
        try? FileManager.default.removeItem(at: socketDirectory)
    }

    // MARK: The console

    /// Reads what the console printed since the last look, into the log and
    /// to every attached `host console`.
    private func pumpConsole() {
        guard consoleWorks else { return }
        let bytes: [UInt8]
        do {
            bytes = try engine.driver.consoleRead(machine, capacity: 65536, timeoutMs: 0, log: nil)
        } catch {
            consoleWorks = false
            return
        }
        guard !bytes.isEmpty else { return }
        console.append(bytes)
        consoleClients.removeAll { !$0.send(.stdout, bytes) }
    }

    /// Keys typed at an attached `host console`; it detaches by closing.
    private func relay(_ client: MonitorConnection) {
        guard let (kind, bytes) = client.receive(), kind == .input else {
            consoleClients.removeAll { $0 === client }
            return
        }
        do {
            try engine.driver.consoleSend(machine, bytes, log: nil)
        } catch {
            consoleClients.removeAll { $0 === client }
        }
    }
}

/// Set by the foreground monitor's SIGTERM and SIGINT handler: a plain
/// word, which a signal handler may write.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// A machine's console output in a file that never grows past a bound: past
/// 1 MiB its last 256 KiB are kept.
struct ConsoleLog {
    let url: URL
    private var handle: FileHandle?
    private var size: Int

    init(_ url: URL) {
        self.url = url
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) }
        handle = FileHandle(forWritingAtPath: url.path)
        size = Int((try? handle?.seekToEnd()) ?? 0)
    }

    mutating func append(_ bytes: [UInt8]) {
        handle?.write(Data(bytes))
        size += bytes.count
        guard size > 1 << 20, let all = try? Data(contentsOf: url) else { return }
        let kept = all.suffix(256 << 10)
        let partial = url.appendingPathExtension("new")
        guard (try? kept.write(to: partial)) != nil, rename(partial.path, url.path) == 0 else { return }
        handle = FileHandle(forWritingAtPath: url.path)
        _ = try? handle?.seekToEnd()
        size = kept.count
    }

    /// Its last `count` lines, for a machine that died, safe for a
    /// terminal (a guest's shell asks the terminal things: ESC[6n).
    static func lastLines(_ url: URL, _ count: Int) -> [String] {
        guard let data = try? Data(contentsOf: url) else { return [] }
        let text = String(decoding: data.suffix(16 << 10), as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).suffix(count).map { TerminalText.escaped(String($0).trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
