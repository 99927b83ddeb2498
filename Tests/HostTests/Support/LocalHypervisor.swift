import Foundation
import Testing

/// TEST FIXTURE: the libvirt hypervisor of Tests/Fixtures/hypervisor: this
/// machine's libvirtd (started for the test run when it is not running, and
/// stopped at its end), reached as qemu:///system and, through an sshd of
/// the fixture's own on 127.0.0.1 with a test key, as a remote hypervisor is
/// reached: qemu+ssh://root@127.0.0.1:PORT/system.
final class LocalHypervisor: @unchecked Sendable {
    static let script = Sandbox.repository.appendingPathComponent("Tests/Fixtures/hypervisor/hypervisor").path

    /// One per test run; stopped when the test process exits.
    static let shared: Swift.Result<LocalHypervisor, any Error> = Swift.Result {
        let hypervisor = try LocalHypervisor()
        atexit { _ = try? Sandbox.execute(LocalHypervisor.script, ["stop", LocalHypervisor.directory.path]) }
        return hypervisor
    }
    static let directory = FileManager.default.temporaryDirectory.appendingPathComponent("host-test-hypervisor-\(getpid())")

    /// The remote way in: the fixture's sshd, its key and its host key
    /// (recorded in a known_hosts file of the fixture's, named by an ssh
    /// wrapper: ssh reads ~/.ssh from the passwd entry, not from $HOME).
    let remoteURI: String

    private init() throws {
        let started = try Sandbox.execute(Self.script, ["start", Self.directory.path])
        guard started.status == 0, let port = Int(started.out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "the hypervisor fixture did not start: \(started.err)")
        }
        let directory = Self.directory
        let hostKey = try String(contentsOf: directory.appendingPathComponent("host_key.pub"), encoding: .utf8)
        try "[127.0.0.1]:\(port) \(hostKey)".write(to: directory.appendingPathComponent("known_hosts"), atomically: true, encoding: .utf8)
        let wrapper = directory.appendingPathComponent("ssh")
        try "#!/bin/sh\nexec ssh -o UserKnownHostsFile=\(directory.path)/known_hosts \"$@\"\n"
            .write(to: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper.path, 0o755)
        remoteURI = "qemu+ssh://root@127.0.0.1:\(port)/system?keyfile=\(directory.path)/id&command=\(wrapper.path)"
    }

    /// `virsh -c URI ARGUMENTS`' output.
    static func virsh(_ arguments: [String], uri: String = "qemu:///system") throws -> String {
        let result = try Sandbox.execute("/usr/bin/virsh", ["-q", "-c", uri] + arguments)
        #expect(result.status == 0, "virsh \(arguments.joined(separator: " ")) failed: \(result.err)")
        return result.out
    }

    struct Failure: Error, CustomStringConvertible { let description: String }
}
