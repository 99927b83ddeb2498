import PluginABI

/// A parameter type as host converts command-line words to it.
public enum ParameterType: String, Sendable, Codable {
    case string, int, bool, double, list, rest, kwargs, path

    package init?(_ abi: host_param_type) {
        switch abi {
        case HOST_PARAM_STRING: self = .string
        case HOST_PARAM_INT: self = .int
        case HOST_PARAM_BOOL: self = .bool
        case HOST_PARAM_DOUBLE: self = .double
        case HOST_PARAM_LIST: self = .list
        case HOST_PARAM_REST: self = .rest
        case HOST_PARAM_KWARGS: self = .kwargs
        case HOST_PARAM_PATH: self = .path
        default: return nil
        }
    }

    package var abi: host_param_type {
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

    /// Filled by position (rest and kwargs take what is left instead).
    package var isPositional: Bool { self != .rest && self != .kwargs }
}

/// One parameter of a step, as its plugin declares it (host_param) and the
/// scan recorded it: what the binder fills and checks.
public struct ParameterInfo: Sendable, Codable {
    public let name: String
    public let type: ParameterType
    /// The default as written on the command line; nil when required.
    public let defaultText: String?
    /// The default converted to its type, checked when the plugin was scanned.
    package let defaultValue: ArgumentValue?
    public let help: String
    /// Describes the running machine: left out of the cache key (HOST_PARAM_RUNTIME).
    public let isRuntime: Bool
    /// Never filled by a positional word (HOST_PARAM_NAMED_ONLY).
    public let isNamedOnly: Bool
    /// The values an int parameter accepts (HOST_PARAM_BOUNDED).
    public let range: ClosedRange<Int64>?
    /// The values a double parameter accepts (HOST_PARAM_BOUNDED, 1.6).
    public let realRange: ClosedRange<Double>?
    /// A path parameter whose file's folder enters the key too (HOST_PARAM_WITH_FOLDER).
    public let withFolder: Bool

    public var isRequired: Bool { defaultValue == nil && type != .kwargs }
    /// Filled by a positional word when one is left.
    public var takesPosition: Bool { type.isPositional && !isNamedOnly }

    package init(name: String, type: ParameterType, defaultText: String?, defaultValue: ArgumentValue?, help: String,
         isRuntime: Bool, isNamedOnly: Bool, range: ClosedRange<Int64>?, realRange: ClosedRange<Double>? = nil, withFolder: Bool = false) {
        self.name = name
        self.type = type
        self.defaultText = defaultText
        self.defaultValue = defaultValue
        self.help = help
        self.isRuntime = isRuntime
        self.isNamedOnly = isNamedOnly
        self.range = range
        self.realRange = realRange
        self.withFolder = withFolder
    }

    private enum CodingKeys: String, CodingKey { case name, type, defaultText, help, isRuntime, isNamedOnly, range, realRange, withFolder }

    /// The typed default is derived again from its text, as the scan did.
    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        let type = try values.decode(ParameterType.self, forKey: .type)
        let defaultText = try values.decodeIfPresent(String.self, forKey: .defaultText)
        self.init(name: try values.decode(String.self, forKey: .name), type: type, defaultText: defaultText,
                  defaultValue: try defaultText.map { try ArgumentValue.parseDefault($0, as: type) } ?? (type == .kwargs ? .pairs([]) : nil),
                  help: try values.decode(String.self, forKey: .help), isRuntime: try values.decode(Bool.self, forKey: .isRuntime),
                  isNamedOnly: try values.decode(Bool.self, forKey: .isNamedOnly),
                  range: try values.decodeIfPresent(ClosedRange<Int64>.self, forKey: .range),
                  realRange: try values.decodeIfPresent(ClosedRange<Double>.self, forKey: .realRange),
                  withFolder: try values.decodeIfPresent(Bool.self, forKey: .withFolder) ?? false)
    }

    /// What the step's result depends on through this parameter, for
    /// `host help`: nil for a parameter that is not a host path.
    public var dependency: String? {
        guard type == .path else { return nil }
        return withFolder ? "the content of the file and of its whole folder (.git left out)" : "the content of the file or folder"
    }
}
