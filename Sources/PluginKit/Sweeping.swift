import PluginABI

/// What host asks a backend to sweep (host_sweep_scope in host_sweep.h).
public struct SweepScope {
    /// The cache whose machines' leftovers may go.
    public let cacheDirectory: String
    /// The machine directories still in that cache: what they name stays.
    public let liveDirectories: [String]
    /// `host cleanup everything`: also what the backend keeps for all its machines.
    public let everything: Bool
}

/// A backend that removes what it made outside the cache and no entry
/// names any more (host.sweep/1): its extensionTable returns
/// `sweepExtension` for HOST_SWEEP_V1.
public protocol SweepingBackend: Backend {
    /// Failures are the backend's to log; host goes on with the next backend.
    func sweep(_ call: BackendCall, _ scope: SweepScope)
}

/// The host.sweep/1 table of a SweepingBackend. Written once, then only read.
public nonisolated(unsafe) let sweepExtension: UnsafeMutablePointer<host_sweep_v1> = {
    let table = UnsafeMutablePointer<host_sweep_v1>.allocate(capacity: 1)
    table.initialize(to: host_sweep_v1(
        struct_size: MemoryLayout<host_sweep_v1>.size,
        sweep: { call, scope in
            guard let call, let scope, scope.pointee.struct_size >= MemoryLayout<host_sweep_scope>.size,
                  let cache = scope.pointee.cache_directory,
                  let backend = BackendBridge.backend as? any SweepingBackend else { return }
            let live = (0..<scope.pointee.live_count).compactMap { scope.pointee.live_directories?[$0].map { String(cString: $0) } }
            backend.sweep(BackendCall(raw: call), SweepScope(cacheDirectory: String(cString: cache), liveDirectories: live,
                                                             everything: scope.pointee.flags & HOST_SWEEP_EVERYTHING != 0))
        }))
    return table
}()
