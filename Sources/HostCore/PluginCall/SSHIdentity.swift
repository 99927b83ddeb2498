import ChildProcess
import Foundation
import HostModel

/// The per-user SSH key host logs into machines with: generated once per
/// cache with ssh-keygen, mode 0600 in a 0700 directory, never shipped.
enum SSHIdentity {
    static func ensure(in location: CacheLocation) throws -> String {
        let directory = location.root.appendingPathComponent("ssh")
        let key = directory.appendingPathComponent("id_ed25519")
        if FileManager.default.fileExists(atPath: key.path) { return key.path }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // Two runs making the key at once would pair one's .pub with the other's key.
        let lock = try FileLock(directory.appendingPathComponent(".lock").path)
        try lock.lock(.exclusive)
        defer { lock.unlock() }
        if FileManager.default.fileExists(atPath: key.path) { return key.path }
        let keygen = try RequiredTool.path("ssh-keygen", package: "openssh-client")
        // Generated beside, then renamed: a concurrent run never sees half a key.
        let partial = directory.appendingPathComponent("id_ed25519.\(getpid())")
        guard try Command(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "host machines key", "-f", partial.path]).run() == .exited(0) else {
            throw HostError(.environment, "ssh-keygen could not create \(key.path)")
        }
        chmod(partial.path, 0o600)
        try? FileManager.default.moveItem(atPath: partial.path + ".pub", toPath: key.path + ".pub")
        try? FileManager.default.moveItem(atPath: partial.path, toPath: key.path)
        return key.path
    }
}
