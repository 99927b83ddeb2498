#if canImport(Glibc)
import Glibc
#endif
import CFFI
import PluginABI

/// A Swift plugin: its name, version, steps and (for backend plugins) the
/// backend. `descriptor` is what the plugin's exported
/// `host_plugin_entry_v1` returns:
///
///     let plugin = Plugin(name: "demo", version: "1.0", steps: [...])
///     @_cdecl("host_plugin_entry_v1")
///     public func entry() -> UnsafeRawPointer { plugin.descriptor }
public final class Plugin: Sendable {
    /// Built once and never freed: host may hold the pointers for the
    /// process lifetime (see host_plugin.h).
    nonisolated(unsafe) public let descriptor: UnsafeRawPointer

    public init(name: String, version: String, steps: [Step], backend: (any Backend)? = nil) {
        if let backend { BackendBridge.install(backend) }
        let stepPointers = UnsafeMutablePointer<UnsafePointer<host_step>?>.allocate(capacity: max(steps.count, 1))
        for (index, step) in steps.enumerated() {
            stepPointers[index] = UnsafePointer(Self.makeStep(step, backend: backend != nil))
        }
        let plugin = UnsafeMutablePointer<host_plugin>.allocate(capacity: 1)
        plugin.initialize(to: host_plugin(
            struct_size: MemoryLayout<host_plugin>.size,
            abi_major: UInt32(HOST_ABI_MAJOR), abi_minor: UInt32(HOST_ABI_MINOR),
            name: UnsafePointer(strdup(name)), version: UnsafePointer(strdup(version)),
            step_count: steps.count, steps: UnsafePointer(stepPointers)))
        descriptor = UnsafeRawPointer(plugin)
    }

    private static func makeStep(_ step: Step, backend: Bool) -> UnsafeMutablePointer<host_step> {
        let params = UnsafeMutablePointer<UnsafePointer<host_param>?>.allocate(capacity: max(step.parameters.count, 1))
        for (index, parameter) in step.parameters.enumerated() {
            let param = UnsafeMutablePointer<host_param>.allocate(capacity: 1)
            param.initialize(to: host_param(
                struct_size: MemoryLayout<host_param>.size,
                name: UnsafePointer(strdup(parameter.name)),
                type: parameter.kind.abi,
                default_value: parameter.defaultValue.map { UnsafePointer(strdup($0)) },
                help: UnsafePointer(strdup(parameter.help)),
                flags: parameter.flags.rawValue | (parameter.range == nil && parameter.realRange == nil ? 0 : HOST_PARAM_BOUNDED),
                minimum: parameter.range?.lowerBound ?? 0, maximum: parameter.range?.upperBound ?? 0,
                minimum_double: parameter.realRange?.lowerBound ?? 0, maximum_double: parameter.realRange?.upperBound ?? 0))
            params[index] = UnsafePointer(param)
        }
        let result = UnsafeMutablePointer<host_step>.allocate(capacity: 1)
        result.initialize(to: host_step(
            struct_size: MemoryLayout<host_step>.size,
            name: UnsafePointer(strdup(step.name)),
            summary: UnsafePointer(strdup(step.summary)),
            flags: step.flags.rawValue,
            default_expiry: step.expiry,
            param_count: step.parameters.count,
            params: UnsafePointer(params),
            entry: StepTrampoline.make(for: step),
            backend: step.flags.contains(.backend) && backend ? BackendBridge.vtable : nil,
            needs: step.needs.isEmpty ? nil : UnsafePointer(cStringArray(step.needs))))
        return result
    }
}

/// A NULL-terminated array of C strings that lives for the process.
private func cStringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
    let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: strings.count + 1)
    for (index, string) in strings.enumerated() { array[index] = UnsafePointer(strdup(string)) }
    array[strings.count] = nil
    return array
}
