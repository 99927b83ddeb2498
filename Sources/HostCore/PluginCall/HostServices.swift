import Foundation
import ChildProcess
import HostModel
import PluginABI

/// What the host services do, behind their C table (ServicesTable): a
/// pipeline run's (RunServices) do everything; outside a run
/// (CleanupServices: cleanup telling backends to let go of deleted
/// machines) only logging works.
protocol HostServices: AnyObject {
    func log(_ context: CallContext, _ level: host_log_level, _ message: String)
    func exec(_ context: CallContext, _ machine: TrackedMachine, _ command: String, stream: Bool) throws -> (status: Int32, out: Data, err: Data)
    func transfer(_ context: CallContext, _ machine: TrackedMachine, upload: Bool, _ local: String, _ remote: String) throws
    func consoleSend(_ context: CallContext, _ machine: TrackedMachine, _ bytes: [UInt8]) throws
    func consoleRead(_ context: CallContext, _ machine: TrackedMachine, capacity: Int, timeoutMs: Int64) throws -> [UInt8]
    func consoleExpect(_ context: CallContext, _ machine: TrackedMachine, _ pattern: String, regex: Bool, timeoutMs: Int64) throws
    func apply(_ context: CallContext, _ machine: TrackedMachine, _ words: [String]) throws -> TrackedMachine
    func checkpoint(_ context: CallContext, _ machine: TrackedMachine, key: String, description: String) throws -> TrackedMachine
    func resume(_ context: CallContext, key: String) throws -> TrackedMachine?
    /// services->discard: ends a machine the step made and no longer wants.
    func drop(_ context: CallContext, _ machine: TrackedMachine) throws
    func start(_ context: CallContext, _ machine: TrackedMachine) throws
    func extensionTable(_ machine: TrackedMachine, _ id: String) -> UnsafeRawPointer?
    func identity() throws -> UnsafePointer<CChar>
    func fetch(_ context: CallContext, url: String, checksum: String?) throws -> String
    func setExitStatus(_ status: Int32)
}

/// Outside a pipeline run there is no machine to work on: every service but
/// logging fails, saying so.
extension HostServices {
    private var noRun: HostError { HostError(.plugin, "this service is only available to steps of a pipeline") }
    func exec(_ context: CallContext, _ machine: TrackedMachine, _ command: String, stream: Bool) throws -> (status: Int32, out: Data, err: Data) { throw noRun }
    func transfer(_ context: CallContext, _ machine: TrackedMachine, upload: Bool, _ local: String, _ remote: String) throws { throw noRun }
    func consoleSend(_ context: CallContext, _ machine: TrackedMachine, _ bytes: [UInt8]) throws { throw noRun }
    func consoleRead(_ context: CallContext, _ machine: TrackedMachine, capacity: Int, timeoutMs: Int64) throws -> [UInt8] { throw noRun }
    func consoleExpect(_ context: CallContext, _ machine: TrackedMachine, _ pattern: String, regex: Bool, timeoutMs: Int64) throws { throw noRun }
    func apply(_ context: CallContext, _ machine: TrackedMachine, _ words: [String]) throws -> TrackedMachine { throw noRun }
    func checkpoint(_ context: CallContext, _ machine: TrackedMachine, key: String, description: String) throws -> TrackedMachine { throw noRun }
    func resume(_ context: CallContext, key: String) throws -> TrackedMachine? { throw noRun }
    func drop(_ context: CallContext, _ machine: TrackedMachine) throws { throw noRun }
    func start(_ context: CallContext, _ machine: TrackedMachine) throws { throw noRun }
    func extensionTable(_ machine: TrackedMachine, _ id: String) -> UnsafeRawPointer? { nil }
    func identity() throws -> UnsafePointer<CChar> { throw noRun }
    func fetch(_ context: CallContext, url: String, checksum: String?) throws -> String { throw noRun }
    func setExitStatus(_ status: Int32) {}
}
