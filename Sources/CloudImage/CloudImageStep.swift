import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// The step behind os.fedora and os.alpine: find the release's image on the
/// mirror, download it into host's download cache verified against the
/// published checksum, boot it on a VM backend through its own boot loader
/// with a NoCloud seed, and wait until cloud-init has finished.
public struct CloudImageStep: Sendable {
    let name: String
    let distribution: String
    let hostname: String
    let defaultVersion: String
    let defaultMirror: String
    let mirrorVariable: String
    let release: @Sendable (_ mirror: String, _ version: String) throws -> CloudImageRelease

    public init(name: String, distribution: String, hostname: String, defaultVersion: String, defaultMirror: String,
                mirrorVariable: String, release: @escaping @Sendable (String, String) throws -> CloudImageRelease) {
        self.name = name
        self.distribution = distribution
        self.hostname = hostname
        self.defaultVersion = defaultVersion
        self.defaultMirror = defaultMirror
        self.mirrorVariable = mirrorVariable
        self.release = release
    }

    public var step: Step {
        Step(name, summary: "\(distribution) from its official cloud image with a cloud-init seed: downloaded and booted once, then restored",
             flags: .startsPipeline,
             parameters: [
                .string("version", default: defaultVersion, help: "\(distribution) release"),
                .string("mirror", default: "", help: "mirror URL (default: $\(mirrorVariable), else \(defaultMirror))"),
                .int("boot-timeout", default: 900, help: "seconds to wait for the first boot and cloud-init"),
             ],
             needs: [HOST_VM_V1]) { call in try run(call) }
    }

    func run(_ call: StepCall) throws -> MachineHandle? {
        guard let vm = call.virtualMachine else { throw StepError("\(name) needs a machine offering \(HOST_VM_V1)") }
        let environment = ProcessInfo.processInfo.environment[mirrorVariable] ?? ""
        var mirror = call.string("mirror").isEmpty ? (environment.isEmpty ? defaultMirror : environment) : call.string("mirror")
        while mirror.hasSuffix("/") { mirror.removeLast() }
        let release: CloudImageRelease
        do { release = try self.release(mirror, call.string("version")) } catch { throw StepError(String(describing: error)) }

        func text(_ url: String) throws -> String {
            try String(contentsOfFile: try call.fetch(url), encoding: .utf8)
        }
        let listing: [String]
        do {
            listing = DirectoryIndex.names(in: try text(release.directoryURL + "/"))
        } catch {
            // The first contact with the mirror: say where it was and how to pick another.
            call.log("the \(distribution) mirror \(mirror) did not answer; another one: --mirror=URL or \(mirrorVariable)=URL", level: .warning)
            throw error
        }
        let chosen: (image: String, checksum: String)
        do {
            chosen = try release.choose(from: listing) { ChecksumList.parse(try text(release.directoryURL + "/" + $0)) }
        } catch let error as ReleaseError {
            throw StepError(error.description)
        }
        call.log("\(distribution) image \(chosen.image) (\(chosen.checksum.prefix(20))…)")
        return try CloudImageStep.boot(call, vm, url: release.directoryURL + "/" + chosen.image, checksum: chosen.checksum,
                                       distribution: distribution, hostname: hostname)
    }

    /// Downloads the image at `url` into host's download cache, verified
    /// against `checksum` ("sha256:HEX"), boots it with host's NoCloud seed
    /// and waits until root can log in and cloud-init is done: every cloud
    /// image step ends here.
    public static func boot(_ call: StepCall, _ vm: VirtualMachine, url: String, checksum: String, distribution: String,
                            hostname: String) throws -> MachineHandle? {
        let image = try call.fetch(url, checksum: checksum)
        let work = try PrivateDirectory.make("host-\(hostname)")
        defer { try? FileManager.default.removeItem(at: work) }
        let hostKey = try SSHHostKey.generate(in: work, comment: "root@\(hostname)")
        let seed = try NoCloudSeed(hostname: hostname,
                                   authorizedKey: try String(contentsOfFile: try call.identity() + ".pub", encoding: .utf8),
                                   hostPrivateKey: hostKey.privateKey, hostPublicKey: hostKey.publicKey).write(in: work)
        try vm.setDisk(image, format: "qcow2")
        try vm.boot(kernel: nil)
        try vm.attachReadOnlyDrive(seed)
        try vm.setSSH(user: "root", hostKey: hostKey.publicKey)
        // Its ports, for the image's guest agent if it has one (the seed
        // starts it): a restored machine's commands then need no SSH login.
        try vm.setGuestAgent()

        // Up when root's SSH works with the recorded host key and cloud-init
        // says it is done (status 2: done, with recoverable errors).
        try call.start()
        let timeout = call.int("boot-timeout")
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while true {
            let left = max(1, Int(deadline.timeIntervalSinceNow))
            // 255 is ssh's own failure: sshd up before cloud-init gave root the key.
            if let result = try? call.exec("timeout \(left) cloud-init status --wait >/dev/null 2>&1; s=$?; cloud-init status --long; exit $s"),
               result.status != 255 {
                if result.status == 0 || result.status == 2 { break }
                throw StepError(result.status == 124
                                ? "cloud-init did not finish within \(timeout) s in the new \(distribution) machine:\n\(result.out)"
                                : "cloud-init failed in the new \(distribution) machine (status \(result.status)):\n\(result.out)\(result.err)")
            }
            guard Date() < deadline else {
                throw StepError("\(distribution) did not let root log in over SSH with the recorded host key within \(timeout) s of booting "
                                + "(not a cloud-init image? a slow machine may need a larger --boot-timeout)")
            }
            sleep(2)
        }
        return call.machine
    }
}
