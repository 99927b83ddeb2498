import Foundation
import PluginKit

/// The host programs backend.qemu runs, each with its Debian package.
enum Tool {
    static let packages = [
        "qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "zstd": "zstd",
        "tar": "tar", "ssh": "openssh-client",
    ]

    static func path(_ name: String) throws -> String {
        try HostTool.path(name, package: packages[name] ?? name)
    }

    @discardableResult
    static func run(_ name: String, _ arguments: [String], input: URL? = nil) throws -> String {
        try HostTool.run(name, arguments, package: packages[name] ?? name, input: input)
    }
}
