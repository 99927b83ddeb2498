import PluginABI

/// A step parameter as a Swift plugin declares it. The factory functions
/// only build well-typed defaults, so a PluginKit plugin cannot ship the
/// "default of the wrong type" that host rejects in C plugins.
public struct Parameter: Sendable {
    public enum Kind: Sendable {
        case string, int, bool, double, list, rest, kwargs, path

        var abi: host_param_type {
            switch self {
            case .string: HOST_PARAM_STRING
            case .int: HOST_PARAM_INT
            case .bool: HOST_PARAM_BOOL
            case .double: HOST_PARAM_DOUBLE
            case .list: HOST_PARAM_LIST
            case .rest: HOST_PARAM_REST
            case .kwargs: HOST_PARAM_KWARGS
            case .path: HOST_PARAM_PATH
            }
        }
    }

    /// What host_param.flags says (host_plugin.h): run-time only, named only.
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// Describes the running machine; left out of the cache key (backend steps only).
        public static let runtime = Flags(rawValue: HOST_PARAM_RUNTIME)
        /// Only `--name=value` fills it, never a positional word.
        public static let namedOnly = Flags(rawValue: HOST_PARAM_NAMED_ONLY)
        /// A path parameter naming a file: its whole folder enters the key too.
        public static let withFolder = Flags(rawValue: HOST_PARAM_WITH_FOLDER)
    }

    public let name: String
    public let kind: Kind
    /// The default as written on the command line; nil makes it required.
    public let defaultValue: String?
    public let help: String
    public var flags: Flags = []
    /// The values an int parameter accepts; host refuses others (exit 64).
    public var range: ClosedRange<Int64>?
    /// The values a double parameter accepts; host refuses others (exit 64).
    public var realRange: ClosedRange<Double>?

    public static func string(_ name: String, default value: String? = nil, flags: Flags = [], help: String = "") -> Parameter {
        Parameter(name: name, kind: .string, defaultValue: value, help: help, flags: flags)
    }
    public static func int(_ name: String, default value: Int64? = nil, range: ClosedRange<Int64>? = nil, flags: Flags = [],
                           help: String = "") -> Parameter {
        Parameter(name: name, kind: .int, defaultValue: value.map { String($0) }, help: help, flags: flags, range: range)
    }
    public static func bool(_ name: String, default value: Bool = false, flags: Flags = [], help: String = "") -> Parameter {
        Parameter(name: name, kind: .bool, defaultValue: value ? "true" : "false", help: help, flags: flags)
    }
    public static func double(_ name: String, default value: Double? = nil, range: ClosedRange<Double>? = nil, flags: Flags = [],
                              help: String = "") -> Parameter {
        Parameter(name: name, kind: .double, defaultValue: value.map { String($0) }, help: help, flags: flags, realRange: range)
    }
    /// A host file or directory: the step gets its absolute path, and the
    /// cache key its content (host_plugin.h, HOST_PARAM_PATH).
    public static func path(_ name: String, default value: String? = nil, flags: Flags = [], help: String = "") -> Parameter {
        Parameter(name: name, kind: .path, defaultValue: value, help: help, flags: flags)
    }
    /// Every `--name=value` given, in order; empty unless given.
    public static func list(_ name: String, flags: Flags = [], help: String = "") -> Parameter {
        Parameter(name: name, kind: .list, defaultValue: "", help: help, flags: flags)
    }
    /// The positional words left over, as `exec CMD...` takes them.
    public static func rest(_ name: String, required: Bool = false, help: String = "") -> Parameter {
        Parameter(name: name, kind: .rest, defaultValue: required ? nil : "", help: help)
    }
    /// Free `--key=value` pairs the step does not declare one by one.
    public static func kwargs(_ name: String, help: String = "") -> Parameter {
        Parameter(name: name, kind: .kwargs, defaultValue: nil, help: help)
    }
}

/// A typed argument as it arrived through the C ABI.
public enum Argument: Sendable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case list([String])
    case pairs([(String, String)])
}
