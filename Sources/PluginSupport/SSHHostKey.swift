import Foundation
import PluginKit

/// An SSH host key made on the host, so it is known before the guest boots.
public struct SSHHostKey {
    public let privateKey: String
    public let publicKey: String

    public static func generate(in directory: URL, comment: String) throws -> SSHHostKey {
        let path = directory.appendingPathComponent("ssh_host_ed25519_key").path
        try HostTool.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], package: "openssh-client")
        return SSHHostKey(privateKey: try String(contentsOfFile: path, encoding: .utf8),
                           publicKey: try String(contentsOfFile: path + ".pub", encoding: .utf8))
    }
}
