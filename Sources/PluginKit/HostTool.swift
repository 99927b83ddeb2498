import Foundation

/// Host programs a plugin runs (qemu-img, mmdebstrap, ...): found on PATH,
/// with the Debian package that provides each named when it is missing.
public enum HostTool {
    public static func path(_ name: String, package: String) throws -> String {
        if name.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: name) { return name }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw StepError("\(name) is not installed; install the Debian package \(package) (apt-get install \(package))")
    }

    /// Runs a program to completion and returns its output (standard output
    /// and error together). The output goes to a file, not a pipe, so a
    /// chatty program can never fill a pipe and stall, and a daemon it
    /// forks (`ssh -f`) cannot hold the reader up. Throws with the output's
    /// end when the program fails.
    @discardableResult
    public static func run(_ name: String, _ arguments: [String], package: String, input: URL? = nil) throws -> String {
        let (status, output) = try capture(name, arguments, package: package, input: input)
        guard status == 0 else {
            throw StepError("\(name) failed (status \(status)): \(output.suffix(1500).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output
    }

    /// As `run`, handing each line the program prints (either stream) to
    /// `line` as it comes, for progress.
    public static func run(_ name: String, _ arguments: [String], package: String, line: (String) -> Void) throws {
        var pending: [Int32: [UInt8]] = [:], tail: [UInt8] = []
        let result = try Streamer.run(try path(name, package: package), arguments) { stream, bytes in
            tail = Array((tail + bytes).suffix(1500))
            pending[stream, default: []] += bytes
            while let newline = pending[stream]?.firstIndex(of: 10) {
                line(String(decoding: pending[stream]?[..<newline] ?? [], as: UTF8.self))
                pending[stream]?.removeSubrange(...newline)
            }
        }
        for rest in pending.values where !rest.isEmpty { line(String(decoding: rest, as: UTF8.self)) }
        guard result.status == 0 else {
            throw StepError("\(name) failed (status \(result.status)): \(String(decoding: tail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// As `run`, but a failure is the caller's to judge: the exit status and
    /// the output, whatever the status.
    public static func capture(_ name: String, _ arguments: [String], package: String, input: URL? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path(name, package: package))
        process.arguments = arguments
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("host-\((name as NSString).lastPathComponent)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = try input.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
        try process.run()
        try? handle.close()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
