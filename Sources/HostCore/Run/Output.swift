import ChildProcess
import Foundation

/// Where host's own messages go: progress on standard error (standard output
/// belongs to the steps, such as exec's command), silenced by --quiet, as
/// JSON lines with --json.
public final class Output: @unchecked Sendable {
    public let quiet: Bool
    public let verbose: Bool
    /// Each line a RunEvent as one JSON object (`host --json`).
    public let json: Bool

    public init(quiet: Bool = false, verbose: Bool = false, json: Bool = false) {
        self.quiet = quiet
        self.verbose = verbose
        self.json = json
    }

    public func progress(_ message: String) { report(RunEvent(.message, message: message)) }

    /// A fact of the run, in English or as JSON. --quiet silences the
    /// English only: a program that asked for JSON gets every fact.
    public func report(_ event: RunEvent) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // A RunEvent holds strings and numbers only, which always encode.
            guard let data = try? encoder.encode(event) else { return }
            StandardStream.error.write(data + [UInt8(ascii: "\n")])
        } else if !quiet {
            StandardStream.error.write("host: \(TerminalText.escaped(event.text))\n")
        }
    }
}
