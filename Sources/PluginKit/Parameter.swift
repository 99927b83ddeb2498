import PluginABI

/// A step parameter as a Swift plugin declares it. The factory functions
/// only build well-typed defaults, so a PluginKit plugin cannot ship the
/// "default of the wrong type" that host rejects in C plugins.
public struct Parameter: Sendable {
    public enum Kind: Sendable {
        case string, int, bool, double, list, rest, kwargs

        var abi: host_param_type {
            switch self {
            case .string: HOST_PARAM_STRING
            case .int: HOST_PARAM_INT
            case .bool: HOST_PARAM_BOOL
            case .double: HOST_PARAM_DOUBLE
            case .list: HOST_PARAM_LIST
            case .rest: HOST_PARAM_REST
            case .kwargs: HOST_PARAM_KWARGS
            }
        }
    }

    public let name: String
    public let kind: Kind
    /// The default as written on the command line; nil makes it required.
    public let defaultValue: String?
    public let help: String

    public static func string(_ name: String, default value: String? = nil, help: String = "") -> Parameter {
        Parameter(name: name, kind: .string, defaultValue: value, help: help)
    }
    public static func int(_ name: String, default value: Int64? = nil, help: String = "") -> Parameter {
        Parameter(name: name, kind: .int, defaultValue: value.map { String($0) }, help: help)
    }
    public static func bool(_ name: String, default value: Bool = false, help: String = "") -> Parameter {
        Parameter(name: name, kind: .bool, defaultValue: value ? "true" : "false", help: help)
    }
    public static func double(_ name: String, default value: Double? = nil, help: String = "") -> Parameter {
        Parameter(name: name, kind: .double, defaultValue: value.map { String($0) }, help: help)
    }
    /// Every `--name=value` given, in order; empty unless given.
    public static func list(_ name: String, help: String = "") -> Parameter {
        Parameter(name: name, kind: .list, defaultValue: "", help: help)
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
