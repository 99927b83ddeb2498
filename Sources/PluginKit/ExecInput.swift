import Foundation
import PluginABI

/// `host exec -i` (host_backend.exec_with, ABI 1.7) on any Swift backend:
/// a backend whose commands can take standard input themselves overrides
/// this; the rest get it as a file copied into the machine that the
/// command's standard input is redirected from.
extension BackendMachine {
    public func exec(_ call: BackendCall, _ command: String, input: [UInt8],
                     output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        try execReadingFile(call, command, input: input, output: output)
    }

    /// The input copied into the machine as a file, the command's standard
    /// input redirected from it (and the file removed after).
    public func execReadingFile(_ call: BackendCall, _ command: String, input: [UInt8],
                                output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("host-input-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("input")
        try Data(input).write(to: file)
        let inMachine = "/tmp/.host-input-\(UInt64.random(in: 0...UInt64.max))"
        try upload(call, from: file.path, to: inMachine)
        return try exec(call, "( \(command)\n) < \(inMachine); status=$?; rm -f \(inMachine); exit $status", output: output)
    }
}
