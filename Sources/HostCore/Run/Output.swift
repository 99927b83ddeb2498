import ChildProcess
import Foundation

/// Where host's own messages go: progress on standard error (standard output
/// belongs to the steps, such as exec's command), silenced by --quiet.
public final class Output: @unchecked Sendable {
    public let quiet: Bool
    public let verbose: Bool

    public init(quiet: Bool = false, verbose: Bool = false) {
        self.quiet = quiet
        self.verbose = verbose
    }

    public func progress(_ message: String) {
        guard !quiet else { return }
        StandardStream.error.write("host: \(TerminalText.escaped(message))\n")
    }
}
