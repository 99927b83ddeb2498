import Foundation
import PluginKit

/// The disk images an OS step hands a VM backend (host_vm_v1.set_disk).
public enum DiskImage {
    /// Converts `image` (raw or qcow2, a host file) into the qcow2 file
    /// `disk`, replacing it, grown to `minimumSize` bytes when smaller (the
    /// size the backend's --disk asked for).
    public static func makeQcow2(from image: String, format: String, at disk: String, minimumSize: Int?) throws {
        try? FileManager.default.removeItem(atPath: disk)
        try HostTool.run("qemu-img", ["convert", "-f", format, "-O", "qcow2", image, disk], package: "qemu-utils")
        if let minimumSize, try virtualSize(disk) < minimumSize {
            try HostTool.run("qemu-img", ["resize", "-q", disk, String(minimumSize)], package: "qemu-utils")
        }
    }

    /// An image's virtual size in bytes, as qemu-img reports it.
    public static func virtualSize(_ image: String) throws -> Int {
        let json = try HostTool.run("qemu-img", ["info", "--output=json", image], package: "qemu-utils")
        guard let info = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let size = info["virtual-size"] as? Int else { throw StepError("qemu-img gave no size for \(image)") }
        return size
    }
}
