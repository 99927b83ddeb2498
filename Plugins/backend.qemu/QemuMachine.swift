import Foundation
import GuestAccess
import PluginKit
import PluginSupport

/// A QEMU virtual machine: a qcow2 overlay chain for its disk and, once it
/// has booted, its RAM and devices as a mapped-ram file where QEMU offers
/// that, else a zstd-compressed migration stream. Saving is `stop` +
/// `migrate`; restoring is a fresh QEMU with a fresh overlay and
/// `-incoming`, then `cont`.
final class QemuMachine: GuestMachine {
    let directory: URL
    var config: QemuConfig
    private(set) var process: QemuProcess?
    /// How host's commands reach the running guest; one per run of QEMU.
    private var session: GuestSession?
    /// "HOSTPORT:GUESTPORT" TCP forwards beyond SSH's, on 127.0.0.1: a
    /// run-time argument, applied at every start and never saved.
    private var forwards: [(host: UInt16, guest: UInt16)] = []
    /// Whether guests reach the shared package cache (a run-time argument).
    private var packageCache = true

    static let stateFile = "state.zst"
    static let mappedStateFile = "state.ram"
    static let mappedRam = "mapped-ram"

    init(directory: URL, config: QemuConfig) {
        self.directory = directory
        self.config = config
    }

    var isBootable: Bool { config.kernel != nil || config.firmwareBoot == true }

    func processes() -> [Int32]? { process.map { [$0.pid] } ?? [] }

    // MARK: Lifecycle

    func up(_ call: BackendCall) throws {
        guard process == nil, isBootable else { return }
        try config.save(to: directory)
        let incoming = config.state
        let mapped = config.stateFormat == Self.mappedRam
        let started = Date()
        // Only the relay is made ready: apt-cacher-ng starts when the guest first connects.
        packageCacheRelay = packageCache && (config.network ?? "user") == "user"
            ? PackageCache.relayCommand { call.log($0, level: .debug) } : nil
        let process = try QemuProcess(binary: config.binary, ports: serialPorts) { run in
            self.arguments(run: run, incoming: incoming, mapped: mapped)
        }
        self.process = process
        session = makeSession(process, restored: incoming != nil)
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
            call.log(String(format: "restored in %.2f s", Date().timeIntervalSince(started)), level: .debug)
        }
    }

    func arguments(run: URL, incoming: String?, mapped: Bool) -> [String] {
        func escaped(_ path: String) -> String { path.replacingOccurrences(of: ",", with: ",,") }
        var hostfwd = "hostfwd=tcp:127.0.0.1:0-:22" // QEMU picks the port (QemuProcess.sshPort)
        for forward in forwards { hostfwd += ",hostfwd=tcp:127.0.0.1:\(forward.host)-:\(forward.guest)" }
        if let relay = packageCacheRelay {
            // A relay per connection (QEMU runs it through /bin/sh -c): no port listens for it.
            let command = relay.map(ShellTransfer.quoted).joined(separator: " ")
            hostfwd += ",guestfwd=tcp:\(PackageCache.guestAddress):\(PackageCache.guestPort)-cmd:\(escaped(command))"
        }
        var arguments = [
            "-nodefaults", "-no-user-config", "-display", "none", "-machine", config.machineType ?? "pc", "-accel", config.accel,
            "-m", "\(config.memoryMiB)", "-smp", "\(config.cores)",
            "-drive", "file=\(escaped(QemuConfig.resolve(config.disk, in: directory))),if=virtio,format=qcow2",
            "-chardev", "socket,id=qmp,path=\(run.path)/qmp.sock,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
            "-chardev", "socket,id=console,path=\(run.path)/console.sock,server=on,wait=off", "-serial", "chardev:console",
        ]
        switch config.network ?? "user" {
        case "none": arguments += ["-nic", "none"]
        // restrict=on: no packet leaves the guest for this computer or beyond; hostfwd still reaches in.
        case let mode: arguments += ["-netdev", "user,id=net0,\(hostfwd)" + (mode == "restricted" ? ",restrict=on" : ""),
                                     "-device", "virtio-net-pci,netdev=net0"]
        }
        if let cpu = config.cpu { arguments += ["-cpu", cpu] }
        if !serialPorts.isEmpty {
            arguments += ["-device", "virtio-serial-pci,id=ports"]
            for (index, port) in serialPorts.enumerated() {
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

    /// The guest's virtio-serial ports: the agent's and the command output
    /// ports its wrapper uses, or a console shell's output ports alone.
    private var serialPorts: [QemuProcess.Port] {
        config.guestAgent == true ? QemuProcess.agentPorts : config.outputPorts == true ? QemuProcess.consolePorts : []
    }

    /// Set by `up` for this start, when the guest has a user network that
    /// reaches out (a sealed one must not reach the cache's upstream) and
    /// the cache is on: the command that relays one guest connection to it.
    private var packageCacheRelay: [String]?

    func setRunArguments(_ call: BackendCall, _ arguments: Arguments) throws {
        packageCache = arguments.bool("package-cache")
        forwards = try arguments.list("forward").map { text in
            let ports = text.split(separator: ":", omittingEmptySubsequences: false).map { UInt16($0) ?? 0 }
            guard ports.count == 2, !ports.contains(0) else {
                throw StepError.usage("--forward=\(text) is not HOSTPORT:GUESTPORT; write it like --forward=8080:80")
            }
            return (ports[0], ports[1])
        }
    }

    /// Saves the running machine and restores it into a new QEMU, for a
    /// change that only a start applies (its network).
    func restart(_ call: BackendCall) throws {
        guard process != nil else { return }
        try down(call, park: false)
        try up(call)
    }

    func down(_ call: BackendCall) throws { try down(call, park: true) }

    /// `park`: keep the QEMU that saved, stopped, for the next step to continue (ParkedMachine).
    private func down(_ call: BackendCall, park: Bool) throws {
        defer { try? config.save(to: directory) }
        guard let process else { return }
        let started = Date()
        let mapped = try process.qmp.offers(capability: Self.mappedRam)
        let file = mapped ? Self.mappedStateFile : Self.stateFile
        let target = directory.appendingPathComponent(file).path
        // Written beside, then renamed: a machine saved twice (restart) has a
        // state file already, which zstd would not overwrite, and a save cut
        // short never leaves half a file under the state's name.
        let partial = target + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        session?.closeSSH()
        // Asked now, whatever it said before: a step may have stopped it.
        if let answers = session?.agentAnswersNow() { config.agentRunning = answers }
        try process.qmp.execute("stop")
        // QEMU caps a migration at 128 MiB/s by default, to spare a live
        // guest's network; this one is stopped and goes to a local file, so
        // the cap only made a save three times slower.
        try process.qmp.execute("migrate-set-parameters", ["max-bandwidth": 1 << 40])
        if mapped { try process.qmp.enable(capability: Self.mappedRam) }
        try process.qmp.execute("migrate", ["uri": mapped ? "file:" + partial : "exec:zstd -1 -q -T0 -o \(ShellTransfer.quoted(partial))"])
        // A save may take long (much RAM, a slow disk) but must move: one
        // that wrote nothing for two minutes is stuck, and is given up.
        var progress = (bytes: -1, at: Date())
        while true {
            let info = try process.qmp.execute("query-migrate")
            let written = ((info["ram"] as? [String: Any])?["transferred"] as? Int) ?? 0
            if written != progress.bytes {
                progress = (written, Date())
            } else if Date().timeIntervalSince(progress.at) > 120 {
                _ = try? process.qmp.execute("migrate_cancel")
                throw StepErrorText("saving the machine failed: QEMU wrote nothing to \(partial) for 120 s (\(written) bytes in all)")
            }
            switch info["status"] as? String {
            case "completed":
                guard process.waitForHelpers(seconds: 60) else {
                    throw StepErrorText("saving the machine failed: zstd did not finish writing \(partial) within 60 s")
                }
                guard rename(partial, target) == 0 else {
                    throw StepErrorText("saving the machine failed: cannot rename \(partial): \(String(cString: strerror(errno)))")
                }
                config.state = file
                config.stateFormat = mapped ? Self.mappedRam : nil
                config.savedID = UUID().uuidString
                self.process = nil
                stop()
                if park { ParkedMachine.park(process, id: config.savedID ?? "") } else { process.kill() }
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
        session = makeSession(process, restored: true) // stopped for the save: its clock is behind
        Trace.mark("qemu: taken over from the save")
    }

    /// QEMU goes at once; the run's SSH connection ends with it (its
    /// forwarded port closes), so it needs no goodbye.
    private func stop() {
        session = nil
        process?.kill()
        process = nil
    }

    private func makeSession(_ process: QemuProcess, restored: Bool) -> GuestSession {
        GuestSession(guest: .init(sshUser: config.sshUser, consolePrompt: config.consolePrompt, agentRunning: config.agentRunning),
                     console: process.console, agent: process.agent, outputPorts: process.outputPorts, restored: restored, traceName: "qemu") { [unowned self] call, user in
            let access = SSHAccess(identity: try call.identity(),
                                   knownHosts: directory.appendingPathComponent(SSHAccess.knownHostsFile).path,
                                   port: try sshPort(), user: user,
                                   controlPath: process.runDirectory.appendingPathComponent("ssh.sock").path)
            try access.open()
            return access
        }
    }

    /// The host port that leads to the guest's sshd, on 127.0.0.1.
    func sshPort() throws -> Int32 { try running().sshPort(besides: forwards.map { Int32($0.host) }) }

    private func running() throws -> QemuProcess {
        guard let process else { throw StepErrorText("the machine is not running (no operating system was installed on it yet)") }
        return process
    }

    /// The running guest's session.
    func guest() throws -> GuestSession {
        guard let session else { throw StepErrorText("the machine is not running (no operating system was installed on it yet)") }
        return session
    }

    /// The ssh(1) arguments handed out through host.ssh/1.
    let exportedSSHArguments = ExportedStrings()

    func describe() -> String? {
        guard process != nil else { return "QEMU machine (stopped) in \(directory.path)" }
        guard let port = try? sshPort() else { return "QEMU machine" }
        return "QEMU machine, SSH on 127.0.0.1:\(port)"
    }
}
