import Foundation
import PluginKit

/// Files and trees into and out of a machine through commands run in it
/// (a POSIX shell, cat, tar), for backends whose machines run commands:
/// an upload is a command that reads the bytes on its standard input, a
/// download a command whose output is the bytes, its first line saying
/// what the path was.
public enum ShellTransfer {
    /// The standard output of `command`, which `run` runs (handing each
    /// chunk of output, stream 1 or 2, to its argument, and returning the
    /// status); a status other than 0 is an error with both streams, said
    /// to have happened `place` ("in the machine").
    public static func output(of command: String, _ place: String,
                              _ run: (_ output: (Int32, [UInt8]) -> Void) throws -> Int32) throws -> [UInt8] {
        var collected: [UInt8] = [], errors: [UInt8] = []
        let status = try run { stream, bytes in
            if stream == 2 { errors += bytes } else { collected += bytes }
        }
        guard status == 0 else {
            throw StepError("`\(command.prefix(200))` failed \(place) (status \(status)): \(String(decoding: errors + collected, as: UTF8.self).prefix(2000))")
        }
        return collected
    }

    /// For /bin/sh: one word, whatever `text` holds.
    public static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The bytes of the host file or tree at `localPath` (a tree as a tar
    /// archive) and the command that puts them at `machinePath`.
    public static func upload(_ localPath: String, to machinePath: String) throws -> (command: String, payload: Data, isTree: Bool) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: localPath, isDirectory: &isDirectory) else {
            throw StepError("\(localPath) does not exist")
        }
        let target = quoted(machinePath)
        guard isDirectory.boolValue else {
            return ("cat > \(target)", try Data(contentsOf: URL(fileURLWithPath: localPath)), false)
        }
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("host-upload-\(UUID().uuidString).tar")
        defer { try? FileManager.default.removeItem(at: archive) }
        try HostTool.run("tar", ["-C", localPath, "-cf", archive.path, "."], package: "tar")
        return ("mkdir -p \(target) && tar -x -C \(target)", try Data(contentsOf: archive), true)
    }

    /// The command that sends `machinePath`; base64 when the way back is a
    /// terminal, which does not carry every byte.
    public static func downloadCommand(_ machinePath: String, base64: Bool) -> String {
        let source = quoted(machinePath)
        let encode = base64 ? " | base64" : ""
        return "if [ -d \(source) ]; then echo dir; tar -C \(source) -cf - .\(encode); "
            + "elif [ -e \(source) ]; then echo file; cat \(source)\(encode); else echo none; fi"
    }

    /// Writes what `downloadCommand` printed to `localPath`.
    public static func receive(_ reply: [UInt8], of machinePath: String, to localPath: String, base64: Bool) throws {
        let newline = reply.firstIndex(of: 10) ?? reply.endIndex
        let kind = String(decoding: reply[..<newline], as: UTF8.self)
        guard kind != "none" else { throw StepError("\(machinePath) does not exist in the machine") }
        var data = Data(reply[min(newline + 1, reply.endIndex)...])
        if base64 {
            guard let decoded = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                throw StepError("the machine sent \(machinePath) garbled")
            }
            data = decoded
        }
        guard kind == "dir" else { return try data.write(to: URL(fileURLWithPath: localPath)) }
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("host-download-\(UUID().uuidString).tar")
        defer { try? FileManager.default.removeItem(at: archive) }
        try data.write(to: archive)
        try FileManager.default.createDirectory(atPath: localPath, withIntermediateDirectories: true)
        try HostTool.run("tar", ["-C", localPath, "-xf", archive.path], package: "tar")
    }
}
