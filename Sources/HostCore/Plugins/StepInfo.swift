import Foundation
import PluginABI

/// A parameter type as host converts command-line words to it.
public enum ParameterType: String, Sendable, Codable {
    case string, int, bool, double, list, rest, kwargs, path

    init?(_ abi: host_param_type) {
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

    /// Filled by position (rest and kwargs take what is left instead).
    var isPositional: Bool { self != .rest && self != .kwargs }
}

public struct ParameterInfo: Sendable, Codable {
    public let name: String
    public let type: ParameterType
    /// The default as written on the command line; nil when required.
    public let defaultText: String?
    /// The default converted to its type, checked when the plugin was scanned.
    let defaultValue: ArgumentValue?
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

    init(name: String, type: ParameterType, defaultText: String?, defaultValue: ArgumentValue?, help: String,
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

/// What a plugin's descriptor says of one step, as the scanner recorded it
/// in the plugin index (PluginIndexFile): everything but the code.
struct StepRecord: Codable, Sendable {
    let name: String
    let summary: String
    let flags: UInt32
    /// Seconds; host's default when the plugin says 0.
    let expiry: Int64
    let parameters: [ParameterInfo]
    let needs: [String]
    /// A backend step's capabilities among those host knows
    /// (StepInfo.knownCapabilities), asked of its table when it was
    /// scanned, so planning loads no plugin.
    let offers: [String]
}

/// A plugin file whose descriptor passed validation when it was scanned.
/// Its code is loaded only when a pipeline uses one of its steps.
public final class PluginInfo: @unchecked Sendable {
    public let name: String
    public let version: String
    public let path: String
    /// The file's SHA-256 when it was scanned, part of every cache key of
    /// its steps: rebuilding a plugin invalidates what it made.
    public let digest: String
    private let identity: FileIdentity
    private var loaded: Descriptor?

    init(name: String, version: String, path: String, digest: String, identity: FileIdentity) {
        self.name = name
        self.version = version
        self.path = path
        self.digest = digest
        self.identity = identity
    }

    /// The plugin's code: dlopen'ed once, for the first step a run calls.
    /// The file must still be the one that was scanned.
    func load() throws -> Descriptor {
        if let loaded { return loaded }
        guard FileIdentity(path) == identity else {
            throw HostError(.plugin, "\(path) changed since host scanned it; run host again to scan it anew")
        }
        let descriptor = try CrashReport.during("the plugin \(path), while loading,") { try DescriptorReader.load(path) }
        loaded = descriptor
        return descriptor
    }
}

public struct StepInfo: Sendable {
    let record: StepRecord
    public let plugin: PluginInfo

    public var name: String { record.name }
    public var summary: String { record.summary }
    public var flags: UInt32 { record.flags }
    public var expiry: Int64 { record.expiry == 0 ? defaultExpirySeconds : record.expiry }
    public var parameters: [ParameterInfo] { record.parameters }
    /// Extension ids of which the machine's backend must offer one (host_step.needs).
    public var needs: [String] { record.needs }

    /// The step's entry point, from the plugin's loaded code.
    func entry() throws -> host_step_entry {
        guard let entry = try plugin.load().entries[name] else {
            throw HostError(.plugin, "\(plugin.path) no longer offers step \(name); run host again to scan it anew")
        }
        return entry
    }

    /// A copy of the backend's table, for a backend step.
    func backendTable() throws -> host_backend? { try plugin.load().backends[name] }

    public var isTransient: Bool { flags & HOST_STEP_TRANSIENT != 0 }
    public var isTransientWhenLast: Bool { flags & HOST_STEP_TRANSIENT_WHEN_LAST != 0 }
    public var startsPipeline: Bool { flags & HOST_STEP_STARTS_PIPELINE != 0 || isBackend }
    public var isBackend: Bool { flags & HOST_STEP_BACKEND != 0 }
    public var isInteractive: Bool { flags & HOST_STEP_INTERACTIVE != 0 }
    /// Whether this backend step's machines offer the extension `id` (or
    /// its name before ABI 1.3): from the scan for an id host knows; an id
    /// of a third party's is asked of the plugin, which that loads.
    func offers(_ id: String) -> Bool {
        let names = [id] + (Self.formerNames[id] ?? [])
        if Self.knownCapabilities.contains(id) { return names.contains(where: record.offers.contains) }
        guard let table = (try? backendTable()) ?? nil, let lookup = table.extension else { return false }
        return names.contains { lookup($0) != nil }
    }

    /// The capability ids of host's headers, current and former.
    static let knownCapabilities: Set<String> = [HOST_VM_V1, HOST_CONTAINER_V1, HOST_SSH_V1, HOST_NETWORK_V1, HOST_PORTABLE_V1,
                                                 HOST_SWEEP_V1, HOST_QEMU_V1, HOST_PODMAN_V1]

    /// Capability ids and what 1.2 backends call them (host_qemu.h, host_podman.h).
    static let formerNames = [HOST_VM_V1: [HOST_QEMU_V1], HOST_CONTAINER_V1: [HOST_PODMAN_V1]]

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
