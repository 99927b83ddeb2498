import Foundation
import HostModel

/// A dlopen'ed plugin. Never closed: a library with Swift code in it cannot
/// be unloaded safely, and host keeps pointers into every plugin's
/// descriptor for the process lifetime.
struct DynamicLibrary {
    let path: String
    private let handle: UnsafeMutableRawPointer

    static func open(_ path: String) throws -> DynamicLibrary {
        // RTLD_LOCAL: two plugins that both embed PluginKit must not bind to
        // each other's copy. RTLD_NOW: a missing symbol fails here, by name,
        // not later in the middle of a step.
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw HostError(.plugin, "dlopen failed: \(lastError())")
        }
        return DynamicLibrary(path: path, handle: handle)
    }

    func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(handle, name)
    }

    private static func lastError() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }
}
