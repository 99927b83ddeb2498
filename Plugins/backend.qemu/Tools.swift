import Foundation

/// Host programs the backend runs, with the Debian package that provides
/// each, so a missing one is named together with its fix.
enum Tool {
    static let packages = [
        "qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "zstd": "zstd",
        "setpriv": "util-linux", "setsid": "util-linux", "tar": "tar", "ssh": "openssh-client",
    ]

    static func path(_ name: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw StepErrorText("\(name) is not installed; install the Debian package \(packages[name] ?? name) (apt-get install \(packages[name] ?? name))")
    }

    /// Runs a tool to completion; its output goes to a file (no pipe to fill).
    @discardableResult
    static func run(_ name: String, _ arguments: [String], input: URL? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path(name))
        process.arguments = arguments
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("host-tool-\(UUID().uuidString)")
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
            throw StepErrorText("\(name) \(arguments.joined(separator: " ")) failed: \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output
    }
}
