import Foundation
import FuzzInput
@testable import HostCore
@testable import HostModel
@testable import PodmanBackendPlugin
@testable import QemuBackendPlugin

/// What host reads back from disk: a cache entry's manifest (which may
/// come from another machine through a registry), the plugin registry,
/// the backends' records of saved machines, and what a registry sends (a
/// pushed machine's config, a reference typed by hand). A damaged file is
/// an error or "unreadable", never a trap, a manifest that reads never
/// points outside its own machine, and a reference that parses reads back
/// the same.
func fuzzRecords(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let reader = input.below(6)
    let json = Data(input.rest())
    let entry = URL(fileURLWithPath: "/cache/machines/0123")
    switch reader {
    case 0:
        if case let .valid(manifest) = Manifest.parse(json) {
            for file in manifest.saved ?? [] {
                precondition(file.isWellFormed, "a manifest read with \(file.path.debugDescription) in it")
                let resolved = entry.appendingPathComponent(file.path).standardized.path
                precondition(resolved.hasPrefix(entry.path + "/machine/"), "\(file.path.debugDescription) leads to \(resolved)")
            }
            _ = manifest.keyIsConsistent
        }
    case 1:
        _ = try? JSONDecoder().decode(PluginIndexFile.self, from: json)
    case 2:
        _ = (try? QemuConfig.decode(json, named: "qemu.json"))?.anchored(at: entry)
    case 3:
        _ = try? MachineImage.decode(json)
    case 4:
        if let reference = try? RegistryReference(String(decoding: json, as: UTF8.self)) {
            precondition((try? RegistryReference(reference.description)) == reference, "\(reference) does not read back")
            precondition(reference.repository.contains("/") && !reference.repository.contains("@"), "\(reference) has no host or a stray @")
        }
    default:
        if let config = try? PodmanConfig.decode(json, named: "podman.json") {
            _ = config.anchored(at: entry).ownedImages(in: entry)
        }
    }
    return 0
}
