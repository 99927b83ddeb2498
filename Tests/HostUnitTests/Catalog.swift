import Foundation
@testable import HostCore
@testable import HostModel
import PluginABI

/// A fixed step catalog for the unit tests, as the plugin index would hold
/// it: no plugin file, no scan. A fixture: each test names the steps it uses.
enum Catalog {
    static let digest = String(repeating: "0", count: 64)

    static func parameter(_ name: String, _ type: ParameterType, default text: String? = nil, runtime: Bool = false,
                          namedOnly: Bool = false, range: ClosedRange<Int64>? = nil, realRange: ClosedRange<Double>? = nil,
                          withFolder: Bool = false) -> ParameterInfo {
        // The defaults are the tests' own, written to convert.
        let value = try! text.map { try ArgumentValue.parseDefault($0, as: type) } ?? (type == .kwargs ? .pairs([]) : nil)
        return ParameterInfo(name: name, type: type, defaultText: text, defaultValue: value, help: "", isRuntime: runtime,
                             isNamedOnly: namedOnly, range: range, realRange: realRange, withFolder: withFolder)
    }

    static func step(_ name: String, flags: UInt32 = 0, needs: [String] = [], offers: [String] = [],
                     _ parameters: [ParameterInfo] = []) -> StepRecord {
        StepRecord(name: name, summary: "", flags: flags, expiry: 0, parameters: parameters, needs: needs, offers: offers)
    }

    /// One plugin file holding `steps`.
    static func registry(_ steps: [StepRecord], failures: [(path: String, reason: String)] = []) -> PluginIndex {
        let identity = FileIdentity(device: 1, inode: 1, size: 1, modified: 1, changed: 1)
        let scanned = PluginIndexFile.Record(path: "/plugins/fixture.so", identity: identity,
                                           scanned: .init(name: "fixture", version: "1", digest: digest, steps: steps))
        return PluginIndex(records: [scanned] + failures.map {
            PluginIndexFile.Record(path: $0.path, identity: identity, scanned: nil, failure: $0.reason)
        })
    }

    /// Backends a, b (which offers host.network/1), a no-save backend, an
    /// installer, a command, a transient and a transient-when-last step, and
    /// a step that needs host.network/1.
    static let standard: PluginIndex = registry([
        step("backend.a", flags: HOST_STEP_BACKEND, [parameter("memory", .int, default: "512", range: 64...4096),
                                                     parameter("forward", .list, default: "", runtime: true, namedOnly: true)]),
        step("backend.b", flags: HOST_STEP_BACKEND, offers: [HOST_NETWORK_V1, HOST_QEMU_V1]),
        step("backend.existing", flags: HOST_STEP_BACKEND | HOST_STEP_NO_SAVE),
        step("os.x", flags: HOST_STEP_STARTS_PIPELINE),
        step("run", [parameter("user", .string, default: "root", namedOnly: true), parameter("command", .rest)]),
        step("shell", flags: HOST_STEP_TRANSIENT | HOST_STEP_INTERACTIVE),
        step("exec", flags: HOST_STEP_TRANSIENT_WHEN_LAST, [parameter("command", .rest)]),
        step("seal", flags: 0, needs: [HOST_NETWORK_V1]),
        step("vm.only", flags: 0, needs: [HOST_VM_V1]),
    ])

    static func planner(default backend: String = "backend.a", _ registry: PluginIndex = standard) -> PipelinePlanner<PluginIndex> {
        PipelinePlanner(registry: registry, defaultBackend: backend)
    }
}

/// The usage error `body` throws, or nil when it throws none or another kind.
func usageError(_ body: () throws -> Any) -> HostError? {
    do {
        _ = try body()
        return nil
    } catch let error as HostError where error.kind == .usage {
        return error
    } catch {
        return nil
    }
}
