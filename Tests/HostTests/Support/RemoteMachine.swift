import Foundation
import Testing

/// TEST FIXTURE: a "remote machine" for backend.ssh, made by
/// Tests/Fixtures/remote-machine: a real sshd in a network namespace and a
/// root filesystem of its own (an overlay on a Debian tree made once per
/// test run), reached at a private address on this machine only. What a
/// test does there lands in `changes`, never on the machine running tests.
final class RemoteMachine {
    static let script = Sandbox.repository.appendingPathComponent("Tests/Fixtures/remote-machine/remote-machine").path

    /// The Debian tree (minbase, openssh-server, python3) every remote
    /// machine of this run starts from; removed when the test process exits.
    static let tree: Swift.Result<URL, any Error> = Swift.Result {
        let tree = treeDirectory
        let made = try Sandbox.execute(script, ["tree", tree.path])
        guard made.status == 0 else { throw Failure(description: "making the remote machine's tree failed: \(made.err)") }
        atexit { try? FileManager.default.removeItem(at: RemoteMachine.treeDirectory) }
        return tree
    }
    static let treeDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("host-test-remote-tree-\(getpid())")

    nonisolated(unsafe) private static var used = 0
    private static let lock = NSLock()

    let directory: URL
    let address: String
    /// The private key root's authorized_keys accepts.
    let identity: URL
    /// The machine's host key, as in its .pub file, and its fingerprint.
    let hostKey: String
    let fingerprint: String

    let port: Int

    init(in sandbox: Sandbox, port: Int = 22) throws {
        self.port = port
        let tree = try Self.tree.get()
        Self.lock.lock()
        Self.used += 1
        let number = Self.used
        Self.lock.unlock()
        directory = sandbox.file("remote-\(number)")
        identity = sandbox.file("remote-\(number)-id")
        let keygen = try Sandbox.execute("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", identity.path])
        #expect(keygen.status == 0, "\(keygen.err)")
        let started = try Sandbox.execute(Self.script, ["start", tree.path, directory.path, "\(number)", identity.path + ".pub", "\(port)"])
        guard started.status == 0 else { throw Failure(description: "the remote machine did not start: \(started.err)") }
        address = started.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyFile = directory.appendingPathComponent("upper/etc/ssh/ssh_host_ed25519_key.pub")
        hostKey = try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let listed = try Sandbox.execute("/usr/bin/ssh-keygen", ["-lf", keyFile.path])
        fingerprint = String(listed.out.split(separator: " ")[1])
    }

    deinit { _ = try? Sandbox.execute(Self.script, ["stop", directory.path]) }

    /// What the tests did to the machine's files: its overlay's upper layer.
    var changes: URL { directory.appendingPathComponent("upper") }

    /// The backend step reaching this machine as root with its own key.
    func backend(_ extra: [String] = []) -> [String] {
        ["backend.ssh", "--host=\(address)", "--port=\(port)", "--user=root", "--identity=\(identity.path)"] + extra
    }

    /// How many logins sshd accepted so far.
    var logins: Int {
        let log = (try? String(contentsOf: directory.appendingPathComponent("sshd.log"), encoding: .utf8)) ?? ""
        return log.components(separatedBy: "Accepted publickey").count - 1
    }

    struct Failure: Error, CustomStringConvertible { let description: String }
}
