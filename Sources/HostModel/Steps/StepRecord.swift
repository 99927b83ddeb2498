import PluginABI

/// What a plugin's descriptor says of one step, as the scanner recorded it
/// in the plugin index (PluginIndexFile): everything but the code. The
/// planner reasons about steps through it alone (CatalogStep).
package struct StepRecord: Codable, Sendable {
    package let name: String
    package let summary: String
    package let flags: UInt32
    /// Seconds; host's default when the plugin says 0.
    package let expiry: Int64
    package let parameters: [ParameterInfo]
    package let needs: [String]
    /// A backend step's capabilities among those host knows
    /// (StepRecord.knownCapabilities), asked of its table when it was
    /// scanned, so planning loads no plugin.
    package let offers: [String]

    package init(name: String, summary: String, flags: UInt32, expiry: Int64, parameters: [ParameterInfo], needs: [String], offers: [String]) {
        self.name = name
        self.summary = summary
        self.flags = flags
        self.expiry = expiry
        self.parameters = parameters
        self.needs = needs
        self.offers = offers
    }
}

/// What the flags (host_step.flags) mean: one reading, for the planner,
/// the runner and `list-plugins`.
extension StepRecord {
    package var isTransient: Bool { flags & HOST_STEP_TRANSIENT != 0 }
    package var isTransientWhenLast: Bool { flags & HOST_STEP_TRANSIENT_WHEN_LAST != 0 }
    package var startsPipeline: Bool { flags & HOST_STEP_STARTS_PIPELINE != 0 || isBackend }
    package var isBackend: Bool { flags & HOST_STEP_BACKEND != 0 }
    package var isInteractive: Bool { flags & HOST_STEP_INTERACTIVE != 0 }
    /// A backend whose machines cannot be saved (HOST_STEP_NO_SAVE).
    package var savesNothing: Bool { flags & HOST_STEP_NO_SAVE != 0 }
    package var isCacheable: Bool { !isTransient && !savesNothing }

    /// The flag words `list-plugins` shows.
    package var flagNames: [String] {
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

/// Which capabilities a backend's machines offer, as far as the scan can say.
extension StepRecord {
    /// The capability ids of host's headers, current and former.
    package static let knownCapabilities: Set<String> = [HOST_VM_V1, HOST_CONTAINER_V1, HOST_SSH_V1, HOST_NETWORK_V1, HOST_PORTABLE_V1,
                                                         HOST_SWEEP_V1, HOST_QEMU_V1, HOST_PODMAN_V1]

    /// Capability ids and what 1.2 backends call them (host_qemu.h, host_podman.h).
    package static let formerNames = [HOST_VM_V1: [HOST_QEMU_V1], HOST_CONTAINER_V1: [HOST_PODMAN_V1]]

    /// `id` and its names before ABI 1.3.
    package static func names(of id: String) -> [String] { [id] + (formerNames[id] ?? []) }

    /// Whether this backend's machines offer `id` (or its former name), as
    /// the scan recorded it; nil for an id host does not know, which only
    /// the plugin's own table can answer (StepInfo.offers loads it).
    package func scannedOffer(_ id: String) -> Bool? {
        guard Self.knownCapabilities.contains(id) else { return nil }
        return Self.names(of: id).contains(where: offers.contains)
    }
}
