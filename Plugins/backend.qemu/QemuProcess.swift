import Foundation
import GuestAccess
import PluginKit
import PluginSupport

/// One running QEMU. Its control and console sockets live in a private
/// (0700) directory; it runs in its own session (Ctrl-C on host's terminal
/// reaches host, not QEMU) and is killed by the kernel if host dies, even by
/// SIGKILL (Command.diesWithHost: PR_SET_PDEATHSIG).
final class QemuProcess {
    let runDirectory: URL
    let qmp: QMPClient
    let console: ConsoleStream
    /// The guest agent's ports, connected when the machine has them.
    let agent: GuestAgent?
    /// A console shell's output ports, when the machine has them and no agent.
    let outputPorts: OutputPorts?
    private let qemu: RunningChild
    /// QEMU's process, for `host ls` (host_backend.processes).
    var pid: Int32 { qemu.pid }

    /// A virtio-serial port: its name in the guest, its socket in the run directory.
    typealias Port = (name: String, socket: String)

    init(binary: String, ports: [Port], arguments: (_ run: URL) -> [String]) throws {
        let runDirectory = try PrivateDirectory.forThisRun("qemu")
        self.runDirectory = runDirectory
        let log = runDirectory.appendingPathComponent("qemu.log")
        do {
            var command = Command(binary, arguments(runDirectory))
            command.output = .file(log.path)
            command.ownSession = true
            command.diesWithHost = true
            qemu = try command.start()
            Trace.mark("qemu: started")
        } catch {
            try? FileManager.default.removeItem(at: runDirectory)
            throw error
        }
        let qemu = self.qemu
        do {
            qmp = try QMPClient(socket: UnixSocket(path: runDirectory.appendingPathComponent("qmp.sock").path,
                                                   timeout: 30, alive: { qemu.isRunning }))
            console = ConsoleStream(socket: try UnixSocket(path: runDirectory.appendingPathComponent("console.sock").path,
                                                           timeout: 10, alive: { qemu.isRunning }))
            // Connected at once, like the console: a port with no reader
            // would hold up the guest's writes.
            let sockets = try ports.map {
                try UnixSocket(path: runDirectory.appendingPathComponent($0.socket).path, timeout: 10, alive: { qemu.isRunning })
            }
            let output = sockets.count >= 2
                ? OutputPorts(stdout: ConsoleStream(socket: sockets[sockets.count - 2], lossless: true),
                              stderr: ConsoleStream(socket: sockets[sockets.count - 1], lossless: true)) : nil
            if let output, sockets.count == 3 {
                agent = GuestAgent(channel: SocketAgentChannel(JSONCommandChannel(socket: sockets[0], peer: "the guest agent")),
                                   stdout: output.stdout, stderr: output.stderr)
                outputPorts = nil
            } else {
                agent = nil
                outputPorts = output
            }
            Trace.mark("qemu: control and console connected")
        } catch {
            Self.stop(qemu)
            let text = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            try? FileManager.default.removeItem(at: runDirectory)
            throw StepErrorText("QEMU did not start: \(text.isEmpty ? String(describing: error) : text)")
        }
    }

    /// Ends QEMU at once: its machine has been saved, or is thrown away,
    /// so nothing in it needs a clean shutdown (a save leaves the disk
    /// flushed and the VM stopped). SIGKILL reaches QEMU's whole session
    /// (QEMU and the helpers it started); then its run directory goes.
    func kill() {
        Self.stop(qemu)
        try? FileManager.default.removeItem(at: runDirectory)
    }

    /// Waits for the programs QEMU started to end, such as the zstd that
    /// writes a saved state: QEMU reports a migration completed once it
    /// has written its last byte, which zstd may still be compressing.
    func waitForHelpers(seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Self.helpers(of: qemu.pid) > 0 {
            guard Date() < deadline else { return false }
            usleep(2_000)
        }
        return true
    }

    /// How many processes of QEMU's session, QEMU aside, are alive.
    private static func helpers(of session: pid_t) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { name in
            guard let pid = Int32(name), pid != session,
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // After "(comm)": state, ppid, pgrp, session; a zombie has written all it will.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 3 && fields[0] != "Z" && Int32(fields[3]) == session
        }.count
    }

    /// The agent's port and the output ports its wrapper writes to.
    static let agentPorts: [Port] = GuestAgent.ports
    /// A console shell's output ports.
    static let consolePorts: [Port] = Array(GuestAgent.ports.dropFirst())

    private var foundSSHPort: Int32?

    /// The host port QEMU forwards to the guest's port 22: QEMU picked it
    /// (hostfwd on port 0), so nothing probes for a free port before QEMU
    /// starts and nothing can take it in between. Asked once, when SSH is
    /// first needed.
    func sshPort(besides userPorts: [Int32]) throws -> Int32 {
        if let foundSSHPort { return foundSSHPort }
        let table = try qmp.answer("human-monitor-command", ["command-line": "info usernet"]) as? String ?? ""
        guard let port = forwardedSSHPort(infoUsernet: table, besides: userPorts) else {
            throw StepErrorText("QEMU reports no forwarded SSH port: \(table)")
        }
        foundSSHPort = port
        return port
    }

    var log: String { (try? String(contentsOf: runDirectory.appendingPathComponent("qemu.log"), encoding: .utf8)) ?? "" }

    private static func stop(_ qemu: RunningChild) {
        // QEMU leads its own session and process group. One that already
        // ended (a failed start, seen by `alive`) was reaped: its number
        // may now name another program's group, which must not be killed.
        if !qemu.isReaped { Glibc.kill(-qemu.pid, SIGKILL) }
        qemu.wait()
    }
}
