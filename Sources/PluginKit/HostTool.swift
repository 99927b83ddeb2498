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
    /// chatty program can never fill a pipe and stall. Throws with the
    /// output's end when the program fails.
    @discardableResult
    public static func run(_ name: String, _ arguments: [String], package: String, input: URL? = nil) throws -> String {
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
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw StepError("\(name) failed (status \(process.terminationStatus)): \(output.suffix(1500).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output
    }
}
