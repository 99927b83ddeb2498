import Foundation
import FuzzInput
@testable import HostCore
@testable import PodmanBackendPlugin
@testable import QemuBackendPlugin

/// What host reads back from disk: a cache entry's manifest (which may
/// come from another machine through a registry), the plugin registry,
/// and the backends' records of saved machines. A damaged file is an
/// error or "unreadable", never a trap, and a manifest that reads never
/// points outside its own machine.
func fuzzRecords(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let reader = input.below(4)
    let json = Data(input.rest())
    let entry = URL(fileURLWithPath: "/cache/machines/0123")
    switch reader {
    case 0:
        if case let .valid(manifest) = Manifest.parse(json) {
            for file in manifest.files ?? [] {
                precondition(file.isWellFormed, "a manifest read with \(file.path.debugDescription) in it")
                let resolved = entry.appendingPathComponent(file.path).standardized.path
                precondition(resolved.hasPrefix(entry.path + "/machine/"), "\(file.path.debugDescription) leads to \(resolved)")
            }
            _ = manifest.keyIsConsistent
        }
    case 1:
        _ = try? JSONDecoder().decode(RegistryCache.self, from: json)
    case 2:
        _ = (try? QemuConfig.decode(json, named: "qemu.json"))?.anchored(at: entry)
    default:
        if let config = try? PodmanConfig.decode(json, named: "podman.json") {
            _ = config.anchored(at: entry).ownedImages(in: entry)
        }
    }
    return 0
}
