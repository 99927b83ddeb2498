import CloudImage
import Foundation
import PluginABI
import PluginKit

/// os.cloud_image: any qcow2 or raw cloud image that runs cloud-init, from
/// a URL, verified against a checksum given or published beside it, booted
/// with host's NoCloud seed as os.fedora and os.alpine boot theirs.
let plugin = Plugin(name: "os.cloud_image", version: "1.0.0", steps: [
    Step("os.cloud_image", summary: "Any cloud image with cloud-init, from its URL, verified by its checksum, booted once, then restored",
         flags: .startsPipeline,
         parameters: [
            .string("url", help: "the image (qcow2 or raw), http:// or https://"),
            .string("checksum", default: "", flags: .namedOnly, help: "its digest, sha256:HEX or sha512:HEX"),
            .string("checksum-url", default: "", flags: .namedOnly,
                    help: "a checksum file that lists the image by name (SHA256SUMS, CHECKSUM), instead of --checksum"),
            .string("hostname", default: "cloud", flags: .namedOnly, help: "the guest's host name"),
            .int("boot-timeout", default: 900, flags: .namedOnly, help: "seconds to wait for the first boot and cloud-init"),
         ],
         needs: [HOST_VM_V1]) { call in
        guard let vm = call.virtualMachine else { throw StepError("os.cloud_image needs a machine offering \(HOST_VM_V1)") }
        let url = call.string("url")
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), !parsed.lastPathComponent.isEmpty else {
            throw StepError.usage("--url=\(url) is not an http:// or https:// address of an image file")
        }
        let given = call.string("checksum"), list = call.string("checksum-url")
        let checksum: String
        switch (given.isEmpty, list.isEmpty) {
        case (false, true):
            let parts = given.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let length = ["sha256": 64, "sha512": 128][parts[0].lowercased()],
                  parts[1].count == length, parts[1].allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
                throw StepError.usage("--checksum=\(given) is not sha256:HEX (64 digits) or sha512:HEX (128 digits)")
            }
            checksum = given.lowercased()
        case (true, false):
            let sums = ChecksumList.parse(try String(contentsOfFile: try call.fetch(list), encoding: .utf8))
            guard let listed = sums[parsed.lastPathComponent] else {
                throw StepError("\(list) lists no checksum for \(parsed.lastPathComponent) (it lists \(sums.keys.sorted().prefix(5).joined(separator: ", ")))")
            }
            checksum = listed
        default:
            throw StepError.usage("give the image's checksum: --checksum=sha256:HEX, or --checksum-url=URL of the checksum file published beside it")
        }
        let hostname = call.string("hostname")
        guard !hostname.isEmpty, hostname.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw StepError.usage("--hostname=\(hostname) is not a host name (letters, digits and hyphens)")
        }
        call.log("cloud image \(parsed.lastPathComponent) (\(checksum.prefix(20))…)")
        return try CloudImageStep.boot(call, vm, url: url, checksum: checksum, distribution: "the cloud image", hostname: hostname)
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
