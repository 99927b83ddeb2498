import Foundation
import HostModel

/// A published machine that this run holds a shared use lock on, so no
/// cleanup removes it while the run reads from it.
final class CacheEntry {
    let manifest: Manifest
    let directory: URL
    private let useLock: FileLock

    init(manifest: Manifest, directory: URL, useLock: FileLock) {
        self.manifest = manifest
        self.directory = directory
        self.useLock = useLock
        useLock.touch() // used now
    }

    var key: String { manifest.key }
    var machineDirectory: URL { directory.appendingPathComponent("machine") }
}
