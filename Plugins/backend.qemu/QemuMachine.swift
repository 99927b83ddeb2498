import Foundation
import PluginKit

/// A QEMU virtual machine: a qcow2 overlay chain for its disk and, once it
/// has booted, its RAM and devices as a mapped-ram file where QEMU offers
/// that, else a zstd-compressed migration stream. Saving is `stop` +
/// `migrate`; restoring is a fresh QEMU with a fresh overlay and
/// `-incoming`, then `cont`.
final class QemuMachine: BackendMachine {
    let directory: URL
    var config: QemuConfig
    private(set) var process: QemuProcess?
    /// Console output no command claimed, for consoleRead.
    private var consoleBacklog: [UInt8] = []
    /// "HOSTPORT:GUESTPORT" TCP forwards beyond SSH's, on 127.0.0.1: a
    /// run-time argument, applied at every start and never saved.
    private var forwards: [(host: UInt16, guest: UInt16)] = []
    /// The run's SSH connection (SSHAccess), once opened.
    private var sshOpen: SSHAccess?
    /// A restored guest's clock shows the moment it was saved until host
    /// sets it, on the first contact after the restore.
    private var clockIsStale = false
    /// Whether the guest agent answered this run: nil until asked (after a
    /// restore), false for a fresh boot (the agent may not be up yet).
    private var agentAnswers: Bool? = false

    static let stateFile = "state.zst"
    static let mappedStateFile = "state.ram"
    static let mappedRam = "mapped-ram"

    init(directory: URL, config: QemuConfig) {
        self.directory = directory
        self.config = config
    }

    var isBootable: Bool { config.kernel != nil || config.firmwareBoot == true }

    // MARK: Lifecycle

    func up(_ call: BackendCall) throws {
        guard process == nil, isBootable else { return }
        try config.save(to: directory)
        let incoming = config.state
        let mapped = config.stateFormat == Self.mappedRam
        let started = Date()
        let process = try QemuProcess(binary: config.binary, guestAgent: config.guestAgent == true) { run in
            self.arguments(run: run, incoming: incoming, mapped: mapped)
        }
        self.process = process
        if let incoming, mapped {
            try process.qmp.enable(capability: Self.mappedRam)
            try process.qmp.execute("migrate-incoming", ["uri": "file:" + QemuConfig.resolve(incoming, in: directory)])
        }
        if incoming != nil {
            // Restored state comes back paused (it was stopped to be saved).
            let deadline = Date().addingTimeInterval(120)
            while try process.qmp.status() == "inmigrate" {
                guard Date() < deadline else { throw StepErrorText("QEMU did not finish restoring in 120 s: \(process.log)") }
                usleep(2_000)
            }
            Trace.mark("qemu: state loaded")
            try process.qmp.execute("cont")
            clockIsStale = true
            agentAnswers = nil // asked on first use, if it was running when the machine was saved
            call.log(String(format: "restored in %.2f s", Date().timeIntervalSince(started)), level: .debug)
        }
    }

    func arguments(run: URL, incoming: String?, mapped: Bool) -> [String] {
        func escaped(_ path: String) -> String { path.replacingOccurrences(of: ",", with: ",,") }
        var hostfwd = "hostfwd=tcp:127.0.0.1:0-:22" // QEMU picks the port (QemuProcess.sshPort)
        for forward in forwards { hostfwd += ",hostfwd=tcp:127.0.0.1:\(forward.host)-:\(forward.guest)" }
        var arguments = [
            "-nodefaults", "-no-user-config", "-display", "none", "-machine", config.machineType ?? "pc", "-accel", config.accel,
            "-m", "\(config.memoryMiB)", "-smp", "\(config.cores)",
            "-drive", "file=\(escaped(QemuConfig.resolve(config.disk, in: directory))),if=virtio,format=qcow2",
            "-netdev", "user,id=net0,\(hostfwd)", "-device", "virtio-net-pci,netdev=net0",
            "-chardev", "socket,id=qmp,path=\(run.path)/qmp.sock,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
            "-chardev", "socket,id=console,path=\(run.path)/console.sock,server=on,wait=off", "-serial", "chardev:console",
        ]
        if let cpu = config.cpu { arguments += ["-cpu", cpu] }
        if config.guestAgent == true {
            arguments += ["-device", "virtio-serial-pci,id=ports"]
            for (index, port) in GuestAgent.ports.enumerated() {
                arguments += ["-chardev", "socket,id=port\(index),path=\(run.path)/\(port.socket),server=on,wait=off",
                              "-device", "virtserialport,bus=ports.0,chardev=port\(index),name=\(port.name)"]
            }
        }
        if let kernel = config.kernel {
            arguments += ["-kernel", QemuConfig.resolve(kernel, in: directory),
                          "-append", "console=ttyS0 " + (config.append ?? "")]
        }
        if let cdrom = config.cdrom {
            arguments += ["-drive", "file=\(escaped(QemuConfig.resolve(cdrom, in: directory))),if=virtio,format=raw,readonly=on"]
        }
        if let initrd = config.initrd { arguments += ["-initrd", QemuConfig.resolve(initrd, in: directory)] }
        if incoming != nil && mapped {
            arguments += ["-incoming", "defer"] // its capability is set first, over QMP (up)
        } else if let incoming {
            arguments += ["-incoming", "exec:zstd -dc \(ShellTransfer.quoted(QemuConfig.resolve(incoming, in: directory)))"]
        }
        return arguments + config.extraArguments
    }

    func setRunArguments(_ call: BackendCall, _ arguments: Arguments) throws {
        forwards = try arguments.list("forward").map { text in
            let ports = text.split(separator: ":", omittingEmptySubsequences: false).map { UInt16($0) ?? 0 }
            guard ports.count == 2, !ports.contains(0) else {
                throw StepError.usage("--forward=\(text) is not HOSTPORT:GUESTPORT; write it like --forward=8080:80")
            }
            return (ports[0], ports[1])
        }
    }

    func down(_ call: BackendCall) throws {
        defer { try? config.save(to: directory) }
        guard let process else { return }
        let started = Date()
        let mapped = try process.qmp.offers(capability: Self.mappedRam)
        let file = mapped ? Self.mappedStateFile : Self.stateFile
        let target = directory.appendingPathComponent(file).path
        closeSSH()
        // Asked now, whatever it said before: a step may have stopped it.
        if let agent = process.agent { config.agentRunning = agent.answers(timeoutMs: 1_000) }
        try process.qmp.execute("stop")
        // QEMU caps a migration at 128 MiB/s by default, to spare a live
        // guest's network; this one is stopped and goes to a local file, so
        // the cap only made a save three times slower.
        try process.qmp.execute("migrate-set-parameters", ["max-bandwidth": 1 << 40])
        if mapped { try process.qmp.enable(capability: Self.mappedRam) }
        try process.qmp.execute("migrate", ["uri": mapped ? "file:" + target : "exec:zstd -1 -q -T0 -o \(ShellTransfer.quoted(target))"])
        while true {
            let info = try process.qmp.execute("query-migrate")
            switch info["status"] as? String {
            case "completed":
                guard process.waitForHelpers(seconds: 60) else {
                    throw StepErrorText("saving the machine failed: zstd did not finish writing \(target) within 60 s")
                }
                config.state = file
                config.stateFormat = mapped ? Self.mappedRam : nil
                config.savedID = UUID().uuidString
                self.process = nil
                stop()
                ParkedMachine.park(process, id: config.savedID ?? "")
                call.log(String(format: "saved in %.2f s", Date().timeIntervalSince(started)), level: .debug)
                return
            case "failed", "cancelled":
                throw StepErrorText("saving the machine failed: \(info["error-desc"] as? String ?? "QEMU gave no reason") (is the disk full?)")
            default:
                usleep(5_000)
            }
        }
    }

    func drop(_ call: BackendCall) { stop() }

    /// Takes over the QEMU that saved this machine's parent, stopped just
    /// after the save: this machine's disk, an overlay on the saved one,
    /// becomes the top of QEMU's chain, so the saved entry is never written
    /// again, and the guest continues. Milliseconds, where a restore costs a
    /// QEMU start and a state load.
    func adopt(_ process: QemuProcess) throws {
        let drives = try process.qmp.answer("query-block") as? [[String: Any]] ?? []
        guard let drive = drives.first(where: { ($0["inserted"] as? [String: Any])?["drv"] as? String == "qcow2" }),
              let device = drive["device"] as? String else {
            throw StepErrorText("QEMU named no qcow2 disk to put the new overlay on")
        }
        let disk = QemuConfig.resolve(config.disk, in: directory)
        try process.qmp.execute("blockdev-snapshot-sync", ["device": device, "snapshot-file": disk, "format": "qcow2", "mode": "existing"])
        try process.qmp.execute("cont")
        self.process = process
        clockIsStale = true // stopped for the save
        agentAnswers = nil
        Trace.mark("qemu: taken over from the save")
    }

    /// QEMU goes at once; the run's SSH connection ends with it (its
    /// forwarded port closes), so it needs no goodbye.
    private func stop() {
        sshOpen = nil
        process?.kill()
        process = nil
        clockIsStale = false
        agentAnswers = false
    }

    private func closeSSH() {
        sshOpen?.close()
        sshOpen = nil
    }

    // MARK: Commands and files: over SSH when the guest runs sshd, else
    // through the console shell

    /// How to reach this machine's sshd now, over the run's one connection
    /// (opened on first use); nil when the guest runs none.
    func ssh(_ call: BackendCall) throws -> SSHAccess? {
        guard let user = config.sshUser else { return nil }
        if let sshOpen { return sshOpen }
        let process = try running()
        let access = SSHAccess(identity: try call.identity(),
                               knownHosts: directory.appendingPathComponent(SSHAccess.knownHostsFile).path,
                               port: try sshPort(), user: user,
                               controlPath: process.runDirectory.appendingPathComponent("ssh.sock").path)
        try access.open()
        sshOpen = access
        return access
    }

    /// `command`, preceded on the first contact after a restore by setting
    /// the guest's clock to the host's: computed now, after the connection
    /// is up, so the time it sets is the time it runs. GNU date takes the
    /// fraction, busybox's only whole seconds; a guest with only a console
    /// shell runs busybox, so it is not made to run date twice (each exec
    /// costs tens of milliseconds in an emulated guest).
    private func withClock(_ command: String, busybox: Bool = false) -> String {
        guard clockIsStale else { return command }
        clockIsStale = false
        let now = Date().timeIntervalSince1970
        let whole = String(format: "date -s @%.0f >/dev/null 2>&1", now.rounded())
        let set = busybox ? whole : String(format: "date -s @%.3f >/dev/null 2>&1 || ", now) + whole
        return "\(set); \(command)"
    }

    /// Sets a restored guest's clock before something other than a command
    /// of host's (an ssh session, ansible, keys on the console) reaches it.
    /// Best effort: the console is what a user needs most when SSH is broken.
    func setClockIfStale(_ call: BackendCall) {
        guard clockIsStale, config.sshUser != nil || config.consolePrompt != nil else { return }
        if (try? run(call, "true") { _, _ in }) == nil {
            clockIsStale = false
            call.log("could not set the restored guest's clock; it shows the time it was saved", level: .warning)
        }
        // What the console shell echoed of that command is host's, not the user's.
        consoleBacklog.removeAll()
    }

    /// The guest agent, when this run may use it and it answers (asked once).
    private func guestAgent(_ call: BackendCall) -> GuestAgent? {
        guard let agent = process?.agent, agentAnswers != false else { return nil }
        if agentAnswers == nil {
            let fallback = config.sshUser == nil ? "the console" : "SSH"
            if config.agentRunning == false {
                agentAnswers = false
                call.log("the guest agent was not running when this machine was saved (is qemu-guest-agent installed and running in the guest?); using \(fallback)")
                return nil
            }
            agentAnswers = agent.answers(timeoutMs: 3_000)
            Trace.mark("qemu: guest agent \(agentAnswers == true ? "answered" : "did not answer")")
            if agentAnswers == false {
                call.log("the guest agent does not answer (is qemu-guest-agent running in the guest?); using \(fallback)", level: .warning)
            }
        }
        return agentAnswers == true ? agent : nil
    }

    /// The host port that leads to the guest's sshd, on 127.0.0.1.
    func sshPort() throws -> Int32 { try running().sshPort(besides: forwards.map { Int32($0.host) }) }

    private func running() throws -> QemuProcess {
        guard let process else { throw StepErrorText("the machine is not running (no operating system was installed on it yet)") }
        return process
    }

    private func shell() throws -> ConsoleShell {
        let process = try running()
        guard config.consolePrompt != nil else {
            throw StepErrorText("this machine has no shell on its console and no SSH server, so host cannot run commands in it")
        }
        return ConsoleShell(console: process.console) { [weak self] bytes in self?.consoleBacklog += bytes }
    }

    func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        var first = true
        defer { Trace.mark("qemu: command ended") }
        return try run(call, command) { stream, bytes in
            if first { Trace.mark("qemu: first output") }
            first = false
            bytes.withUnsafeBytes { output(stream, $0) }
        }
    }

    /// Every command host runs in the guest: through the guest agent when a
    /// restored guest has one that answers, over SSH when it runs sshd, else
    /// through the console shell (which merges stderr into stdout and takes
    /// no input: an upload there travels inside the command).
    private func run(_ call: BackendCall, _ command: String, input: Data? = nil, output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        if input?.count ?? 0 <= GuestAgent.inputLimit, let agent = guestAgent(call) {
            return try agent.run(withClock(command), user: config.sshUser ?? "root", input: input, output: output)
        }
        if let ssh = try ssh(call) { return try ssh.run(withClock(command), input: input, output: output) }
        guard input == nil else { throw StepErrorText("the console shell takes no input; this machine has no SSH server") }
        return try shell().run(withClock(command, busybox: true)) { output(1, $0) }
    }

    /// Whether a command's bytes travel as they are: through the guest
    /// agent or SSH, not the console (a terminal).
    private func carriesBytes(_ call: BackendCall) throws -> Bool { try guestAgent(call) != nil || ssh(call) != nil }

    /// Runs a command that must succeed, returning its standard output.
    private func check(_ call: BackendCall, _ command: String, input: Data? = nil) throws -> [UInt8] {
        try ShellTransfer.output(of: command, "in the machine") { try run(call, command, input: input, output: $0) }
    }

    func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws {
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

    func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws {
        let base64 = try !carriesBytes(call)
        let reply = try check(call, ShellTransfer.downloadCommand(machinePath, base64: base64))
        try ShellTransfer.receive(reply, of: machinePath, to: localPath, base64: base64)
    }

    // MARK: Console

    func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws {
        setClockIfStale(call)
        try running().console.write(Array(bytes))
    }

    func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        if consoleBacklog.isEmpty { consoleBacklog = try running().console.read(timeoutMs: timeoutMs) }
        let count = min(buffer.count, consoleBacklog.count)
        consoleBacklog.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        consoleBacklog.removeFirst(count)
        return count
    }

    /// The ssh(1) arguments handed out through host.ssh/1.
    let exportedSSHArguments = ExportedStrings()

    func describe() -> String? {
        guard process != nil else { return "QEMU machine (stopped) in \(directory.path)" }
        guard let port = try? sshPort() else { return "QEMU machine" }
        return "QEMU machine, SSH on 127.0.0.1:\(port)"
    }
}
