import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// One running guest as host's commands reach it, whatever backend runs it:
/// through the guest agent when a restored guest has one that answers, over
/// SSH when it runs sshd, else through a shell on its serial console. Lives
/// as long as the guest's current run (a boot, a restore, a takeover).
public final class GuestSession {
    /// What the machine records about its guest.
    public struct Guest {
        /// The user host logs in as; nil: the guest runs no sshd.
        public var sshUser: String?
        /// The shell's prompt on the serial console; nil: no console shell.
        public var consolePrompt: String?
        /// Whether the agent answered when the machine was saved (nil: not recorded).
        public var agentRunning: Bool?

        public init(sshUser: String?, consolePrompt: String?, agentRunning: Bool?) {
            self.sshUser = sshUser
            self.consolePrompt = consolePrompt
            self.agentRunning = agentRunning
        }
    }

    let guest: Guest
    private let console: ByteChannel
    private let agent: GuestAgent?
    /// The console shell's output ports, when the backend gave the guest them.
    private let outputPorts: OutputPorts?
    /// Opens the run's SSH connection to `user`; called once, on first use.
    private let openSSH: (_ call: BackendCall, _ user: String) throws -> SSHAccess
    /// Names the backend in trace marks ("qemu", "libvirt").
    private let traceName: String
    private var sshOpen: SSHAccess?
    /// Console output no command claimed, for consoleRead.
    private var consoleBacklog: [UInt8] = []
    /// A restored guest's clock shows the moment it was saved until host
    /// sets it, on the first contact after the restore.
    private var clockIsStale: Bool
    /// Whether the guest agent answered this run: nil until asked (after a
    /// restore), false for a fresh boot (the agent may not be up yet).
    private var agentAnswers: Bool?

    public init(guest: Guest, console: ByteChannel, agent: GuestAgent?, outputPorts: OutputPorts? = nil, restored: Bool,
                traceName: String, openSSH: @escaping (_ call: BackendCall, _ user: String) throws -> SSHAccess) {
        self.guest = guest
        self.console = console
        self.agent = agent
        self.outputPorts = outputPorts
        self.traceName = traceName
        self.openSSH = openSSH
        clockIsStale = restored
        agentAnswers = restored ? nil : false
    }

    /// The run's SSH connection (opened on first use); nil when the guest runs no sshd.
    public func ssh(_ call: BackendCall) throws -> SSHAccess? {
        guard let user = guest.sshUser else { return nil }
        if let sshOpen { return sshOpen }
        let access = try openSSH(call, user)
        sshOpen = access
        return access
    }

    /// Ends the run's SSH connection before the guest is saved, so no
    /// session of it is frozen into the snapshot.
    public func closeSSH() {
        sshOpen?.close()
        sshOpen = nil
    }

    /// Whether the agent answers now (asked at every save: a step may have stopped it).
    public func agentAnswersNow() -> Bool? { agent.map { $0.answers(timeoutMs: 1_000) } }

    /// `command`, preceded on the first contact after a restore by setting
    /// the guest's clock to the host's: computed now, after the connection
    /// is up, so the time it sets is the time it runs. GNU date takes the
    /// fraction, busybox's only whole seconds; a guest with only a console
    /// shell runs busybox, so it is not made to run date twice (each exec
    /// costs tens of milliseconds in an emulated guest).
    private func withClock(_ command: String, busybox: Bool = false) -> String {
        guard let set = clockSetting(busybox: busybox) else { return command }
        return "\(set); \(command)"
    }

    /// The command that sets the clock, once after a restore; nil after.
    private func clockSetting(busybox: Bool = false) -> String? {
        guard clockIsStale else { return nil }
        clockIsStale = false
        let now = Date().timeIntervalSince1970
        let whole = String(format: "date -s @%.0f >/dev/null 2>&1", now.rounded())
        return busybox ? whole : String(format: "date -s @%.3f >/dev/null 2>&1 || ", now) + whole
    }

    /// Sets a restored guest's clock before something other than a command
    /// of host's (an ssh session, ansible, keys on the console) reaches it.
    /// Best effort: the console is what a user needs most when SSH is broken.
    public func setClockIfStale(_ call: BackendCall) {
        guard clockIsStale, guest.sshUser != nil || guest.consolePrompt != nil else { return }
        if (try? run(call, "true") { _, _ in }) == nil {
            clockIsStale = false
            call.log("could not set the restored guest's clock; it shows the time it was saved", level: .warning)
        }
        // What the console shell echoed of that command is host's, not the user's.
        consoleBacklog.removeAll()
    }

    /// The guest agent, when this run may use it and it answers (asked once).
    private func guestAgent(_ call: BackendCall) -> GuestAgent? {
        guard let agent, agentAnswers != false else { return nil }
        if agentAnswers == nil {
            let fallback = guest.sshUser == nil ? "the console" : "SSH"
            if guest.agentRunning == false {
                agentAnswers = false
                call.log("the guest agent was not running when this machine was saved (is qemu-guest-agent installed and running in the guest?); using \(fallback)")
                return nil
            }
            agentAnswers = agent.answers(timeoutMs: 3_000)
            Trace.mark("\(traceName): guest agent \(agentAnswers == true ? "answered" : "did not answer")")
            if agentAnswers == false {
                call.log("the guest agent does not answer (is qemu-guest-agent running in the guest?); using \(fallback)", level: .warning)
            }
        }
        return agentAnswers == true ? agent : nil
    }

    private func shell() throws -> ConsoleShell {
        guard guest.consolePrompt != nil else {
            throw StepError("this machine has no shell on its console and no SSH server, so host cannot run commands in it")
        }
        return ConsoleShell(console: console, ports: outputPorts) { [weak self] bytes in self?.consoleBacklog += bytes }
    }

    public func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        var first = true
        defer { Trace.mark("\(traceName): command ended") }
        return try run(call, command) { stream, bytes in
            if first { Trace.mark("\(traceName): first output") }
            first = false
            bytes.withUnsafeBytes { output(stream, $0) }
        }
    }

    /// The command with standard input, through the agent or SSH; nil when
    /// only the console shell reaches the guest (it takes no input).
    public func exec(_ call: BackendCall, _ command: String, input: [UInt8],
                     output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32? {
        let agent = input.count <= GuestAgent.inputLimit && guestAgent(call) != nil
        guard try agent || ssh(call) != nil else { return nil }
        return try run(call, command, input: Data(input)) { stream, bytes in bytes.withUnsafeBytes { output(stream, $0) } }
    }

    /// Every command host runs in the guest (the console shell takes no
    /// input: an upload there travels inside the command).
    func run(_ call: BackendCall, _ command: String, input: Data? = nil, output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        if input?.count ?? 0 <= GuestAgent.inputLimit, let agent = guestAgent(call) {
            // The clock as root: the agent's command may run as a user who could not set it.
            return try agent.run(command, user: guest.sshUser ?? "root", asRoot: clockSetting(), input: input, output: output)
        }
        if let ssh = try ssh(call) { return try ssh.run(withClock(command), input: input, output: output) }
        guard input == nil else { throw StepError("the console shell takes no input; this machine has no SSH server") }
        return try shell().run(withClock(command, busybox: true), output: output)
    }

    // MARK: After a reboot (GuestReboot)

    /// Only the console shell reaches the guest: no sshd, no agent known to run.
    var usesConsoleOnly: Bool { guest.sshUser == nil && guest.agentRunning != true }

    /// Forgets how the guest was reached: a new boot sets its own clock and
    /// starts its agent and sshd when it gets to them, so each is asked
    /// again, quietly, on the next command.
    func startAfresh() {
        closeSSH()
        clockIsStale = false
        consoleBacklog.removeAll()
        agentAnswers = agent.map { guest.agentRunning != false && $0.answers(timeoutMs: 2_000) } ?? false
    }

    /// Reads the console until the shell's prompt shows after `marker`.
    func awaitConsolePrompt(after marker: String, until deadline: Date) throws {
        guard let prompt = guest.consolePrompt else { throw StepError("this machine has no shell on its console") }
        var seen: [UInt8] = []
        while Date() < deadline {
            seen += try console.read(timeoutMs: 500)
            if let restart = seen.firstRange(of: Array(marker.utf8)),
               seen[restart.upperBound...].firstRange(of: Array(prompt.utf8)) != nil { return }
        }
        throw StepError("the console showed no prompt (\(prompt.debugDescription)) after \(marker.debugDescription) in time")
    }

    /// Whether a command's bytes travel as they are: through the guest
    /// agent or SSH, not the console (a terminal).
    private func carriesBytes(_ call: BackendCall) throws -> Bool { try guestAgent(call) != nil || ssh(call) != nil }

    /// Runs a command that must succeed, returning its standard output.
    private func check(_ call: BackendCall, _ command: String, input: Data? = nil) throws -> [UInt8] {
        try ShellTransfer.output(of: command, "in the machine") { try run(call, command, input: input, output: $0) }
    }

    public func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws {
        let (command, payload, isTree) = try ShellTransfer.upload(localPath, to: machinePath)
        if try carriesBytes(call) {
            _ = try check(call, command, input: payload)
            return
        }
        // The whole file travels inside one command, as base64; ConsoleShell
        // splits it into acknowledged lines.
        let target = ShellTransfer.quoted(machinePath)
        let body = "\n\(payload.base64EncodedString(options: .lineLength76Characters))\nHOST_UPLOAD_EOF"
        _ = try check(call, isTree
                      ? "mkdir -p \(target) && base64 -d <<'HOST_UPLOAD_EOF' | tar -x -C \(target)\(body)"
                      : "base64 -d > \(target) <<'HOST_UPLOAD_EOF'\(body)")
    }

    public func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws {
        let base64 = try !carriesBytes(call)
        let reply = try check(call, ShellTransfer.downloadCommand(machinePath, base64: base64))
        try ShellTransfer.receive(reply, of: machinePath, to: localPath, base64: base64)
    }

    public func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws {
        setClockIfStale(call)
        try console.write(Array(bytes))
    }

    public func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        if consoleBacklog.isEmpty { consoleBacklog = try console.read(timeoutMs: timeoutMs) }
        let count = min(buffer.count, consoleBacklog.count)
        consoleBacklog.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        consoleBacklog.removeFirst(count)
        return count
    }
}

/// The host port that user-mode networking forwards to the guest's port
/// 22, from the table of QEMU's `info usernet` (the human monitor's only:
/// QEMU picked the port, hostfwd on port 0). `userPorts` are the host
/// ports of the user's own forwards, which may lead to port 22 too.
public func forwardedSSHPort(infoUsernet table: String, besides userPorts: [Int32] = []) -> Int32? {
    // Protocol[State] FD SourceAddress Port DestAddress Port RecvQ SendQ
    for line in table.split(whereSeparator: { $0.isNewline }) {
        let fields = line.split(separator: " ")
        if fields.count >= 6, fields[0].contains("HOST_FORWARD"), fields[2] == "127.0.0.1", fields[5] == "22",
           let port = Int32(fields[3]), !userPorts.contains(port) { return port }
    }
    return nil
}

/// A VM backend's machine whose commands, files and console go through its
/// running guest's session.
public protocol GuestMachine: BackendMachine {
    /// The running guest's session; throws when the machine is not running.
    func guest() throws -> GuestSession
    /// The ssh(1) arguments handed out through host.ssh/1 (guestSSHExtension).
    var exportedSSHArguments: ExportedStrings { get }
}

extension GuestMachine {
    public func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        try guest().exec(call, command, output: output)
    }

    public func exec(_ call: BackendCall, _ command: String, input: [UInt8],
                     output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        if let status = try guest().exec(call, command, input: input, output: output) { return status }
        return try execReadingFile(call, command, input: input, output: output) // a console shell
    }

    public func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws {
        try guest().upload(call, from: localPath, to: machinePath)
    }

    public func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws {
        try guest().download(call, from: machinePath, to: localPath)
    }

    public func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws { try guest().consoleSend(call, bytes) }

    public func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        try guest().consoleRead(call, into: buffer, timeoutMs: timeoutMs)
    }
}

/// The host.ssh/1 table (host_ssh.h) of a VM backend whose machines are
/// GuestMachines: the run's SSH connection to the guest, its clock set first.
/// Written once, then only read: host calls plugins on one thread.
public nonisolated(unsafe) let guestSSHExtension: UnsafeMutablePointer<host_ssh_v1> = {
    let table = UnsafeMutablePointer<host_ssh_v1>.allocate(capacity: 1)
    table.initialize(to: host_ssh_v1(
        struct_size: MemoryLayout<host_ssh_v1>.size,
        arguments: { call, raw in
            guard let call, let machine = backendMachine(raw, as: (any GuestMachine).self) else { return nil }
            func fail(_ message: String) -> UnsafePointer<UnsafePointer<CChar>?>? {
                call.pointee.services.pointee.set_error(call, message)
                return nil
            }
            do {
                let guest = try machine.guest()
                guard let ssh = try guest.ssh(BackendCall(raw: call)) else { return fail("this machine runs no SSH server (use the console step)") }
                guest.setClockIfStale(BackendCall(raw: call))
                return machine.exportedSSHArguments.export(ssh.arguments)
            } catch {
                return fail(String(describing: error))
            }
        }))
    return table
}()
