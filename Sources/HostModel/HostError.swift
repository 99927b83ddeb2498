/// The one error type host shows a person: what went wrong, and what would
/// be right. `exitCode` follows sysexits: usage errors are EX_USAGE (64).
/// (An error of the system's in host's words, `init(system:)`, is HostCore's:
/// it asks ChildProcess what an errno means.)
public struct HostError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case usage          // the command line is wrong
        case plugin         // a plugin is broken or missing
        case stepFailed     // a step ran and reported failure
        case environment    // the machine lacks something (tool, space, permission)
        case cache          // the cache is unreadable or inconsistent
        case remote         // a registry could not be reached or refused
        case damagedData    // what came from elsewhere is not what it claims
    }

    public let kind: Kind
    public let message: String
    /// The exit status a failed step asked for (exec passes on its command's).
    public var status: Int32?
    /// The cached entry (its directory's path) whose saved machine would not
    /// restore, when that is what failed: the step runner then checks it
    /// for damage and rebuilds it or says it is intact.
    package var failedRestore: String?

    public init(_ kind: Kind, _ message: String, status: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    public static func usage(_ message: String) -> HostError { HostError(.usage, message) }

    public var description: String { message }

    public var exitCode: Int32 {
        if let status { return status }
        return switch kind {
        case .usage: 64      // EX_USAGE
        case .plugin: 69     // EX_UNAVAILABLE
        case .environment: 72 // EX_OSFILE
        case .cache: 74      // EX_IOERR
        case .stepFailed: 1
        case .remote: 75      // EX_TEMPFAIL: try again later
        case .damagedData: 65 // EX_DATAERR
        }
    }
}
