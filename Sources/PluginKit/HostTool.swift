@_exported import ChildProcess
@_exported import Trace
import Foundation

/// Host programs a plugin runs (qemu-img, mmdebstrap, ...), through
/// ChildProcess's Command: found on PATH, with the Debian package that
/// provides each named when it is missing.
public enum HostTool {
    public static func path(_ name: String, package: String) throws -> String {
        do {
            return try Command.find(name, package: package)
        } catch {
            throw StepError(String(describing: error))
        }
    }

    /// Runs a program to completion and returns its output (standard output
    /// and error together), through a file: a chatty program can never fill
    /// a pipe and stall. Throws with the output's end when it fails.
    @discardableResult
    public static func run(_ name: String, _ arguments: [String], package: String, input: URL? = nil) throws -> String {
        let (ending, output) = try capture(name, arguments, package: package, input: input)
        guard ending == .exited(0) else {
            throw StepError("\(name) failed (status \(ending.status)): \(output.suffix(1500).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output
    }

    /// As `run`, but a failure is the caller's to judge: how it ended and
    /// its output, whatever the status.
    public static func capture(_ name: String, _ arguments: [String], package: String, input: URL? = nil) throws -> (ending: Command.Ending, output: String) {
        var command = Command(try path(name, package: package), arguments)
        if let input { command.input = .file(input.path) }
        return try command.capture()
    }

    /// As `run`, handing each line the program prints (either stream) to
    /// `line` as it comes, for progress.
    public static func run(_ name: String, _ arguments: [String], package: String, line: (String) -> Void) throws {
        let (ending, tail) = try Command(try path(name, package: package), arguments).runLines(line)
        guard ending == .exited(0) else {
            throw StepError("\(name) failed (status \(ending.status)): \(tail.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
