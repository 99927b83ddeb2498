import Foundation
import HostModel
import PluginABI

/// The backend a machine belongs to: the backend step that made its
/// pipeline's first machine, and that step's vtable.
struct BackendRef {
    let step: StepInfo
    let table: host_backend

    init(_ step: StepInfo) throws {
        guard let table = try step.backendTable() else {
            throw HostError(.plugin, "\(step.name) is not a backend")
        }
        self.step = step
        self.table = table
    }
}

/// A machine as host tracks it: the backend's object, the directory it lives
/// in, and the saved state it started from. Plugins see it as an opaque
/// `host_machine *`.
final class TrackedMachine {
    let backend: BackendRef
    let directory: TemporaryDirectory
    /// The cache entry this machine was cloned from; nil for a fresh one.
    let origin: CacheEntry?
    var object: UnsafeMutableRawPointer?
    var isUp = false
    /// Changed since it was cloned: `apply` on it could not be cached
    /// correctly any more.
    var isDirty = false
    /// Console output read but not yet matched by an expect.
    var console: [UInt8] = []

    init(backend: BackendRef, directory: TemporaryDirectory, origin: CacheEntry?) {
        self.backend = backend
        self.directory = directory
        self.origin = origin
    }

    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }
}
