import ChildProcess
import Foundation
import HostModel
import PluginABI

/// Host's side of one `host_call`: what the call may touch and what it
/// reported. The C struct lives at the start of a raw block whose next
/// word points back here, so the services find their context from the
/// `host_call *` alone.
final class CallContext {
    /// What the host services of this call do: a pipeline run's, or
    /// cleanup's, which only logs.
    let services: HostServices
    /// How the services run other steps for a step (apply, checkpoints);
    /// nil for backend calls and calls outside a run.
    let steps: StepApplying?
    let stepName: String
    /// The step's log file; nil for backend calls made outside a step.
    let log: FileHandle?
    private(set) var machines: [TrackedMachine] = []
    var error: String?
    /// A failed restore of a service's (a machine started for an exec),
    /// which the plugin saw only as a message: the step's error carries it on.
    var failedRestore: String?
    /// The machine the step returned to be kept.
    var result: TrackedMachine?
    var expiryCap: Int64?
    var dependencies: [Manifest.Dependency] = []
    /// The step being run and the saved machine it received, which its
    /// checkpoints are children of; nil for backend calls and for a
    /// pipeline's first step.
    var checkpoints: (planned: Planned, parent: CacheEntry, machine: TrackedMachine)?
    /// Buffers handed to the plugin, freed when the call ends.
    private var retained: [UnsafeMutableRawPointer] = []

    private let block: UnsafeMutableRawPointer
    private static let frameSize = MemoryLayout<host_call>.stride

    init(services: HostServices, steps: StepApplying? = nil, stepName: String, log: FileHandle?) {
        self.services = services
        self.steps = steps
        self.stepName = stepName
        self.log = log
        block = .allocate(byteCount: Self.frameSize + MemoryLayout<UnsafeRawPointer>.stride,
                          alignment: MemoryLayout<host_call>.alignment)
        stepNameCString = strdup(stepName)
        block.initializeMemory(as: host_call.self, repeating: host_call(
            struct_size: MemoryLayout<host_call>.size, services: ServicesTable.table,
            step_name: UnsafePointer(stepNameCString)), count: 1)
        (block + Self.frameSize).storeBytes(of: Unmanaged.passUnretained(self).toOpaque(), as: UnsafeMutableRawPointer.self)
    }

    private let stepNameCString: UnsafeMutablePointer<CChar>?

    deinit {
        retained.forEach { $0.deallocate() }
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
        block.deallocate()
        free(stepNameCString)
    }

    var raw: UnsafeMutablePointer<host_call> { block.assumingMemoryBound(to: host_call.self) }

    static func from(_ call: UnsafeMutablePointer<host_call>?) -> CallContext? {
        guard let call else { return nil }
        let pointer = (UnsafeMutableRawPointer(call) + frameSize).load(as: UnsafeMutableRawPointer.self)
        return Unmanaged<CallContext>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Copies `data` into a buffer that lives until the call ends.
    func keep(_ data: Data) -> (UnsafePointer<CChar>, Int) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: data.count + 1, alignment: 1)
        data.copyBytes(to: buffer.assumingMemoryBound(to: UInt8.self), count: data.count)
        buffer.storeBytes(of: 0, toByteOffset: data.count, as: UInt8.self)
        retained.append(buffer)
        return (UnsafePointer(buffer.assumingMemoryBound(to: CChar.self)), data.count)
    }

    /// A private directory for files handed out for this call only,
    /// removed when the call ends.
    private var scratch: URL?

    func scratchDirectory() throws -> URL {
        if let scratch { return scratch }
        var template = Array("\(NSTemporaryDirectory())/host-call-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ $0.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw HostError(.environment, "cannot create a temporary directory in \(NSTemporaryDirectory()): \(SystemErrorText.meaning(of: errno, path: NSTemporaryDirectory()))")
        }
        let url = URL(fileURLWithPath: String(cString: made))
        scratch = url
        return url
    }

    func adopt(_ machine: TrackedMachine) { machines.append(machine) }

    /// A machine pointer from the plugin, checked against the ones this call
    /// owns: a stale or foreign pointer is an error, not a crash.
    func machine(_ handle: OpaquePointer?) -> TrackedMachine? {
        guard let handle else { return nil }
        return machines.first { $0.handle == handle }
    }

    /// The call no longer owns `machine` (it was dropped, or saved into the
    /// cache): ending the call leaves it alone.
    func disown(_ machine: TrackedMachine) { machines.removeAll { $0 === machine } }

    func write(log line: String) {
        log?.write(Data((line + "\n").utf8))
    }
}
