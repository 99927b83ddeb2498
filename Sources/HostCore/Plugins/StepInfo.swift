import Foundation
import HostModel
import PluginABI

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

/// A step of an installed plugin: its record from the scan, and the plugin
/// whose code runs it. HostModel's planner sees it as a CatalogStep; what
/// only the plugin or the disk can answer (an unknown capability, a host
/// path's digest) is answered here.
public struct StepInfo: CatalogStep {
    package let record: StepRecord
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

    public var isTransient: Bool { record.isTransient }
    public var isTransientWhenLast: Bool { record.isTransientWhenLast }
    public var startsPipeline: Bool { record.startsPipeline }
    public var isBackend: Bool { record.isBackend }
    public var isInteractive: Bool { record.isInteractive }
    /// A backend whose machines cannot be saved (HOST_STEP_NO_SAVE).
    public var savesNothing: Bool { record.savesNothing }
    public var isCacheable: Bool { record.isCacheable }
    /// The flag words `list-plugins` shows.
    public var flagNames: [String] { record.flagNames }

    /// Whether this backend step's machines offer the extension `id` (or
    /// its name before ABI 1.3): from the scan for an id host knows; an id
    /// of a third party's is asked of the plugin, which that loads.
    package func offers(_ id: String) -> Bool {
        if let scanned = record.scannedOffer(id) { return scanned }
        guard let table = (try? backendTable()) ?? nil, let lookup = table.extension else { return false }
        return StepRecord.names(of: id).contains { lookup($0) != nil }
    }
}

public let defaultExpirySeconds: Int64 = 7 * 24 * 3600
