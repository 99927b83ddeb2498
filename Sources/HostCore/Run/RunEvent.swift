import Foundation

/// A fact of a run that a program may want: which cached step was reused,
/// built or rebuilt and why, and host's other lines. `Output` prints it in
/// English, or with `--json` as one JSON object per line on standard error,
/// so scripts and tests read data instead of wording.
public struct RunEvent: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// A cached entry was taken as it was (`by`: "another run" when this
        /// run waited while that one built it).
        case reused
        /// The step ran and its machine was saved (`seconds`: how long;
        /// `checkpoint`: the step's own checkpoint of that name).
        case built
        /// A saved entry could not be used; the step runs again (`reason`).
        case rebuilding
        /// Any other line of host's (progress, a plugin's log line).
        case message
        /// The run failed: `message` and the `exit` status.
        case error
    }

    public var event: Kind
    public var step: String?
    /// The entry's whole cache key and its directory.
    public var key: String?
    public var entry: String?
    public var by: String?
    public var seconds: Double?
    public var checkpoint: String?
    public var reason: String?
    public var message: String?
    public var exit: Int32?

    public init(_ event: Kind, step: String? = nil, key: String? = nil, entry: String? = nil, by: String? = nil,
                seconds: Double? = nil, checkpoint: String? = nil, reason: String? = nil, message: String? = nil, exit: Int32? = nil) {
        (self.event, self.step, self.key, self.entry, self.by) = (event, step, key, entry, by)
        (self.seconds, self.checkpoint, self.reason, self.message, self.exit) = (seconds.map { ($0 * 100).rounded() / 100 }, checkpoint, reason, message, exit)
    }

    /// The line a person reads.
    var text: String {
        let step = step.map { "\($0): " } ?? ""
        let key = String((key ?? "").prefix(12))
        return switch event {
        case .reused: step + (by.map { "built by \($0)" } ?? "cached") + " " + key
        case .built: step + (checkpoint.map { "\($0) saved" } ?? "built") + String(format: " in %.2f s, ", seconds ?? 0) + key
        case .rebuilding: step + "rebuilding: " + (reason ?? "")
        case .message: step + (message ?? "")
        case .error: "error: " + (message ?? "")
        }
    }
}
