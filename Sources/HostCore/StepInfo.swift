import Foundation
import PluginABI

/// A parameter type as host converts command-line words to it.
public enum ParameterType: String, Sendable, Codable {
    case string, int, bool, double, list, rest, kwargs

    init?(_ abi: host_param_type) {
        switch abi {
        case HOST_PARAM_STRING: self = .string
        case HOST_PARAM_INT: self = .int
        case HOST_PARAM_BOOL: self = .bool
        case HOST_PARAM_DOUBLE: self = .double
        case HOST_PARAM_LIST: self = .list
        case HOST_PARAM_REST: self = .rest
        case HOST_PARAM_KWARGS: self = .kwargs
        default: return nil
        }
    }

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

    /// Filled by position (rest and kwargs take what is left instead).
    var isPositional: Bool { self != .rest && self != .kwargs }
}

public struct ParameterInfo: Sendable {
    public let name: String
    public let type: ParameterType
    /// The default as written on the command line; nil when required.
    public let defaultText: String?
    /// The default converted to its type, checked when the plugin loaded.
    let defaultValue: ArgumentValue?
    public let help: String
    /// Describes the running machine: left out of the cache key (HOST_PARAM_RUNTIME).
    public let isRuntime: Bool
    /// Never filled by a positional word (HOST_PARAM_NAMED_ONLY).
    public let isNamedOnly: Bool
    /// The values an int parameter accepts (HOST_PARAM_BOUNDED).
    public let range: ClosedRange<Int64>?

    public var isRequired: Bool { defaultValue == nil && type != .kwargs }
    /// Filled by a positional word when one is left.
    var takesPosition: Bool { type.isPositional && !isNamedOnly }
}

/// A plugin file that loaded and passed validation.
public final class PluginInfo: @unchecked Sendable {
    public let name: String
    public let version: String
    public let path: String
    private var cachedDigest: String?

    init(name: String, version: String, path: String) {
        self.name = name
        self.version = version
        self.path = path
    }

    /// The file's SHA-256, part of every cache key of its steps: rebuilding
    /// a plugin invalidates what it made. Computed only for plugins a
    /// pipeline uses, once per run.
    func digest() throws -> String {
        if let cachedDigest { return cachedDigest }
        let value = try Digest.ofFile(path)
        cachedDigest = value
        return value
    }
}

public struct StepInfo: @unchecked Sendable {
    public let name: String
    public let summary: String
    public let flags: UInt32
    /// Seconds; host's default when the plugin says 0.
    public let expiry: Int64
    public let parameters: [ParameterInfo]
    public let plugin: PluginInfo
    let entry: host_step_entry
    /// A copy of the plugin's backend table, taken under the struct_size rules.
    let backend: host_backend?
    /// Extension ids of which the machine's backend must offer one (host_step.needs).
    public let needs: [String]

    public var isTransient: Bool { flags & HOST_STEP_TRANSIENT != 0 }
    public var isTransientWhenLast: Bool { flags & HOST_STEP_TRANSIENT_WHEN_LAST != 0 }
    public var startsPipeline: Bool { flags & HOST_STEP_STARTS_PIPELINE != 0 || isBackend }
    public var isBackend: Bool { flags & HOST_STEP_BACKEND != 0 }
    public var isInteractive: Bool { flags & HOST_STEP_INTERACTIVE != 0 }
    /// Whether this backend step's machines offer the extension `id`.
    func offers(_ id: String) -> Bool { backend?.extension?(id) != nil }

    /// A backend whose machines cannot be saved (HOST_STEP_NO_SAVE).
    public var savesNothing: Bool { flags & HOST_STEP_NO_SAVE != 0 }
    public var isCacheable: Bool { !isTransient && !savesNothing }

    /// The flag words `list-plugins` shows.
    public var flagNames: [String] {
        var names: [String] = []
        if isTransient { names.append("transient") }
        if isTransientWhenLast { names.append("transient-when-last") }
        if isCacheable { names.append("cacheable") }
        if startsPipeline { names.append("starts-pipeline") }
        if isInteractive { names.append("interactive") }
        if savesNothing { names.append("saves-nothing") }
        return names
    }
}

public let defaultExpirySeconds: Int64 = 7 * 24 * 3600
