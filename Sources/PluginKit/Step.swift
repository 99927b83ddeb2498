import PluginABI

/// What a step means to host; see the HOST_STEP_* flags in host_plugin.h.
public struct StepFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let interactive = StepFlags(rawValue: HOST_STEP_INTERACTIVE)
    public static let transient = StepFlags(rawValue: HOST_STEP_TRANSIENT)
    public static let transientWhenLast = StepFlags(rawValue: HOST_STEP_TRANSIENT_WHEN_LAST)
    public static let startsPipeline = StepFlags(rawValue: HOST_STEP_STARTS_PIPELINE)
    public static let backend = StepFlags(rawValue: HOST_STEP_BACKEND)
    /// A backend whose machines cannot be saved (they exist already).
    public static let savesNothing = StepFlags(rawValue: HOST_STEP_NO_SAVE)
}

/// One step of a Swift plugin. `run` gets the call and returns the machine to
/// keep, or nil to keep nothing (the step's changes are dropped).
public struct Step: Sendable {
    public let name: String
    public let summary: String
    public let flags: StepFlags
    public let expiry: Int64
    public let parameters: [Parameter]
    /// Capabilities (extension ids) of which the machine's backend must
    /// offer one; host refuses the pipeline up front otherwise.
    public let needs: [String]
    public let run: @Sendable (StepCall) throws -> MachineHandle?

    public init(
        _ name: String, summary: String, flags: StepFlags = [], expiry: Int64 = 0,
        parameters: [Parameter] = [], needs: [String] = [], run: @escaping @Sendable (StepCall) throws -> MachineHandle?
    ) {
        self.name = name
        self.summary = summary
        self.flags = flags
        self.expiry = expiry
        self.parameters = parameters
        self.needs = needs
        self.run = run
    }
}

/// An error a plugin throws to fail its step; host shows the message.
/// A usage error (what the user wrote cannot work) makes host exit 64.
public struct StepError: Error, CustomStringConvertible {
    public let description: String
    public let isUsage: Bool
    public init(_ message: String) { self.init(message, isUsage: false) }
    private init(_ message: String, isUsage: Bool) {
        description = message
        self.isUsage = isUsage
    }
    public static func usage(_ message: String) -> StepError { StepError(message, isUsage: true) }

    /// The status an error thrown out of a plugin function returns.
    static func status(of error: any Error) -> host_status {
        (error as? StepError)?.isUsage == true ? HOST_USAGE_ERROR : HOST_ERROR
    }
}

/// How loud a log line is: info and warnings reach the terminal, debug only
/// the step log (and the terminal with --verbose).
public enum LogLevel: Sendable {
    case debug, info, warning

    var abi: host_log_level {
        switch self {
        case .debug: HOST_LOG_DEBUG
        case .info: HOST_LOG_INFO
        case .warning: HOST_LOG_WARNING
        }
    }
}
