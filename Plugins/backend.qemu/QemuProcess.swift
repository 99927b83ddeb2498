import Foundation
import PluginKit

/// One running QEMU. Its control and console sockets live in a private
/// (0700) directory; it runs in its own session (Ctrl-C on host's terminal
/// reaches host, not QEMU) and is killed by the kernel if host dies, even by
/// SIGKILL (PR_SET_PDEATHSIG through setpriv, on both sides of setsid).
final class QemuProcess {
    let runDirectory: URL
    let qmp: QMPClient
    let console: ConsoleStream
    let sshPort: Int32
    private let launcher: Process

    static func freePort() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StepErrorText("socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw StepErrorText("no free TCP port on 127.0.0.1: \(String(cString: strerror(errno)))") }
        return Int32(UInt16(bigEndian: address.sin_port))
    }

    init(binary: String, arguments: (_ run: URL, _ sshPort: Int32) -> [String]) throws {
        // /tmp itself, not $TMPDIR: socket paths must stay short.
        let runDirectory = try PrivateDirectory.make("host-qemu", in: URL(fileURLWithPath: "/tmp"))
        self.runDirectory = runDirectory
        let log = runDirectory.appendingPathComponent("qemu.log")
        launcher = Process()
        do {
            sshPort = try Self.freePort()
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let setpriv = try Tool.path("setpriv"), setsid = try Tool.path("setsid")
            launcher.executableURL = URL(fileURLWithPath: setpriv)
            launcher.arguments = ["--pdeathsig", "KILL", "--", setsid, "--wait", "--", setpriv, "--pdeathsig", "KILL", "--", binary]
                + arguments(runDirectory, sshPort)
            let output = try FileHandle(forWritingTo: log)
            launcher.standardOutput = output
            launcher.standardError = output
            launcher.standardInput = FileHandle.nullDevice
            try launcher.run()
        } catch {
            try? FileManager.default.removeItem(at: runDirectory)
            throw error
        }
        let launcher = self.launcher
        do {
            qmp = try QMPClient(socket: UnixSocket(path: runDirectory.appendingPathComponent("qmp.sock").path,
                                                   timeout: 30, alive: { launcher.isRunning }))
            console = ConsoleStream(socket: try UnixSocket(path: runDirectory.appendingPathComponent("console.sock").path,
                                                           timeout: 10, alive: { launcher.isRunning }))
        } catch {
            Self.stop(launcher, pidFile: runDirectory.appendingPathComponent("qemu.pid"))
            let text = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            try? FileManager.default.removeItem(at: runDirectory)
            throw StepErrorText("QEMU did not start: \(text.isEmpty ? String(describing: error) : text)")
        }
    }

    /// Quit over QMP, then SIGTERM, a grace period, SIGKILL.
    func shutdown() {
        _ = try? qmp.execute("quit", timeoutMs: 2_000)
        Self.stop(launcher, pidFile: runDirectory.appendingPathComponent("qemu.pid"))
        try? FileManager.default.removeItem(at: runDirectory)
    }

    var log: String { (try? String(contentsOf: runDirectory.appendingPathComponent("qemu.log"), encoding: .utf8)) ?? "" }

    private static func stop(_ launcher: Process, pidFile: URL) {
        let qemu = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        for (signal, grace) in [(Int32(0), 3.0), (SIGTERM, 2.0), (SIGKILL, 5.0)] {
            if signal != 0, let qemu { kill(qemu, signal) }
            let deadline = Date().addingTimeInterval(grace)
            while launcher.isRunning && Date() < deadline { usleep(10_000) }
            if !launcher.isRunning { break }
        }
        if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) }
        launcher.waitUntilExit()
    }
}
