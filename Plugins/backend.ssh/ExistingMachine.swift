import Foundation
import PluginKit
import PluginSupport

/// A machine that exists already, reached over SSH. It cannot be saved or
/// copied, so host runs every step on it each time (HOST_STEP_NO_SAVE) and
/// nothing done to it is undone.
final class ExistingMachine: BackendMachine {
    let connection: SSHConnection
    /// Said once, when the first `ssh` session or ansible run starts.
    private var warnedThatChangesStay = false

    init(connection: SSHConnection) { self.connection = connection }

    func up(_ call: BackendCall) throws { try connection.open() }

    func down(_ call: BackendCall) throws {
        throw StepError("an existing machine reached over SSH cannot be saved")
    }

    func drop(_ call: BackendCall) { connection.close() }

    func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        try connection.run(command) { stream, bytes in bytes.withUnsafeBytes { output(stream, $0) } }
    }

    func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws {
        let (command, payload, _) = try ShellTransfer.upload(localPath, to: machinePath)
        _ = try check(command, input: payload)
    }

    func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws {
        let reply = try check(ShellTransfer.downloadCommand(machinePath, base64: false))
        try ShellTransfer.receive(reply, of: machinePath, to: localPath, base64: false)
    }

    /// Runs a command that must succeed, returning its standard output.
    private func check(_ command: String, input: Data? = nil) throws -> [UInt8] {
        try ShellTransfer.output(of: command, "on \(connection.target.name)") { try connection.run(command, input: input, output: $0) }
    }

    func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws { throw Self.noConsole }

    func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        throw Self.noConsole
    }

    static let noConsole = StepError("backend.ssh has no console: it reaches an existing machine over SSH only; use the ssh step for a shell")

    /// The ssh(1) arguments for `ssh` sessions and ansible, once logged in.
    func sshArguments(_ call: BackendCall) throws -> [String] {
        try connection.open()
        if !warnedThatChangesStay {
            warnedThatChangesStay = true
            call.log("\(connection.target.name) is an existing machine: what is done on it stays (nothing is saved or undone)", level: .warning)
        }
        return connection.arguments
    }

    func describe() -> String? { "existing machine \(connection.target.name), over SSH" }
}
