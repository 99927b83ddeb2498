import CLibvirt
import Foundation
import GuestAccess
import PluginKit
import PluginSupport

/// A virtual machine on a libvirt hypervisor: a qcow2 overlay chain of
/// volumes in host's pool there and, once it has booted, its RAM and
/// devices saved by libvirt into a volume of their own. Saving is
/// virDomainSaveFlags (the domain ends); restoring is virDomainRestoreFlags
/// with the domain's XML pointing at a fresh overlay.
final class LibvirtMachine: GuestMachine {
    let directory: URL
    var config: LibvirtConfig
    let pool: StoragePool
    private(set) var domain: Domain?
    /// Held while a restored domain runs: another run restoring the same
    /// saved domain waits for it.
    private var domainLock: DomainLock?
    /// How host's commands reach the running guest; one per run of the domain.
    private var session: GuestSession?
    private var foundSSHPort: Int32?
    /// The run's private (0700) directory for its SSH control socket.
    private var runDirectory: URL?
    /// Set once `down` saved it: its volumes belong to the cache from then on.
    private var saved = false
    /// The ssh(1) arguments handed out through host.ssh/1.
    let exportedSSHArguments = ExportedStrings()

    init(directory: URL, config: LibvirtConfig, pool: StoragePool) {
        self.directory = directory
        self.config = config
        self.pool = pool
    }

    func stagedFile(_ name: String) -> URL {
        directory.appendingPathComponent(LibvirtConfig.staged).appendingPathComponent(name)
    }

    private func isStaged(_ name: String) -> Bool { FileManager.default.fileExists(atPath: stagedFile(name).path) }

    var hasBooted: Bool { config.state != nil || domain != nil }
    var isBootable: Bool { config.kernel != nil || isStaged("kernel") || config.firmwareBoot == true }

    /// A name for a new volume of this machine's, recorded as its own
    /// before it exists, so `forget` finds it even if host dies making it;
    /// what the name says (LibvirtSweep) lets a sweep find it when `forget`
    /// could not reach the hypervisor.
    func newVolumeName(_ suffix: String) throws -> String {
        let name = LibvirtSweep.volumeName(suffix, pool: config.pool, uri: config.uri)
        config.own.append(name)
        try config.save(to: directory)
        return name
    }

    /// Volumes as they are now, after the pool looked at its files again
    /// (libvirt tells a qcow2 file's size only after probing it).
    func current(_ names: String...) throws -> [Volume] {
        pool.refresh()
        return try names.map { name in
            guard let volume = pool.volume(name) else { throw pool.hypervisor.error("the volume \(name) is missing") }
            return volume
        }
    }

    // MARK: Lifecycle

    /// Sends what the OS step staged (boot files, its disk image) into the
    /// pool, or makes the empty disk the backend was asked for.
    private func uploadStaged(_ call: BackendCall) throws {
        let files = [("kernel", \LibvirtConfig.kernel), ("initrd", \LibvirtConfig.initrd), ("cdrom", \LibvirtConfig.cdrom), ("disk.qcow2", \LibvirtConfig.disk)]
        for (file, path) in files where isStaged(file) {
            call.log("uploading the \(file) to the pool \(pool.name) on \(config.uri)", level: .debug)
            config[keyPath: path] = try pool.upload(stagedFile(file).path, as: try newVolumeName(file))
        }
        if config.disk == nil {
            let name = try newVolumeName("disk.qcow2")
            try pool.create(name, format: "qcow2", capacity: config.diskSize)
            config.disk = try current(name)[0]
        }
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(LibvirtConfig.staged))
        try config.save(to: directory)
    }

    func up(_ call: BackendCall) throws {
        guard domain == nil, isBootable else { return }
        let started = Date()
        try uploadStaged(call)
        let xml = DomainXML.make(config, pool: pool)
        let domain: Domain
        if let state = config.state {
            domainLock = try DomainLock.acquire(config.domainName) { call.log($0) }
            do {
                try DomainReaper.watch(config.domainName, on: config.uri)
                domain = try pool.hypervisor.restore(from: pool.path(of: state.name), xml: xml, name: config.domainName) { call.log($0) }
            } catch {
                domainLock = nil
                throw error
            }
            DomainReaper.watch(domain)
            Trace.mark("libvirt: restored, paused")
        } else {
            domain = try pool.hypervisor.create(xml)
            if config.machineType == nil {
                // Pinned now: a restore needs the type the state was saved on.
                config.machineType = domain.machineType
                try config.save(to: directory)
            }
        }
        self.domain = domain
        do {
            let agent = config.guestAgent == true
                ? GuestAgent(channel: LibvirtAgentChannel(domain), stdout: try domain.open(channel: GuestAgent.ports[1].name),
                             stderr: try domain.open(channel: GuestAgent.ports[2].name))
                : nil
            session = GuestSession(guest: .init(sshUser: config.sshUser, consolePrompt: config.consolePrompt, agentRunning: config.agentRunning),
                                   console: try domain.open(channel: nil), agent: agent, restored: config.state != nil,
                                   traceName: "libvirt") { [unowned self] call, user in try openSSH(call, user: user) }
            Trace.mark("libvirt: console and ports open")
            try domain.resume()
        } catch {
            stop()
            throw error
        }
        if config.state != nil { call.log(String(format: "restored in %.2f s", Date().timeIntervalSince(started)), level: .debug) }
    }

    /// The domain's QEMU where libvirt runs it on this computer and records
    /// its pid (qemu:///system, or the user's session daemon): what `host ls`
    /// counts, and whose end is the domain's. nil for a remote hypervisor.
    func processes() -> [Int32]? {
        guard domain != nil else { return [] }
        let runDirectory: String
        if config.uri.hasPrefix("qemu:///system") {
            runDirectory = "/run/libvirt/qemu"
        } else if config.uri.hasPrefix("qemu:///session"), let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] {
            runDirectory = runtime + "/libvirt/qemu/run"
        } else {
            return nil
        }
        guard let text = try? String(contentsOfFile: "\(runDirectory)/\(config.domainName).pid", encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return [pid]
    }

    /// Saves the running machine and restores it with the domain XML its
    /// config now makes (its network), processes and all.
    func restart(_ call: BackendCall) throws {
        guard domain != nil else { return }
        // Held from the save to the restore: no other run takes the domain's name in between.
        let lock = domainLock
        try down(call)
        saved = false // the state volume is this machine's own until the cache takes it
        try up(call)
        domainLock = domainLock ?? lock
    }

    func down(_ call: BackendCall) throws {
        defer { try? config.save(to: directory) }
        guard let domain, let disk = config.disk else { return }
        let started = Date()
        session?.closeSSH()
        // Asked now, whatever it said before: a step may have stopped it.
        if let answers = session?.agentAnswersNow() { config.agentRunning = answers }
        let state = try newVolumeName("state")
        try pool.create(state, format: "raw", capacity: 0)
        try domain.save(to: pool.path(of: state))
        self.domain = nil // the save ended it
        stop()
        // What this machine saved replaces what it was restored from.
        if let old = config.state, config.own.contains(old.name) {
            pool.delete(old.name)
            config.own.removeAll { $0 == old.name }
        }
        let written = try current(state, disk.name) // one look at the pool for both
        config.state = written[0]
        config.disk = written[1]
        saved = true
        call.log(String(format: "saved in %.2f s", Date().timeIntervalSince(started)), level: .debug)
    }

    /// Ends the domain; a machine that was never saved takes its volumes with it.
    func drop(_ call: BackendCall) {
        stop()
        if !saved {
            for name in config.own { pool.delete(name) }
        }
    }

    private func stop() {
        session = nil
        domain?.end()
        domain = nil
        domainLock = nil
        foundSSHPort = nil
        runDirectory.map { try? FileManager.default.removeItem(at: $0) }
        runDirectory = nil
    }

    private func socketDirectory() throws -> URL {
        if let runDirectory { return runDirectory }
        let made = try PrivateDirectory.forThisRun("libvirt")
        runDirectory = made
        return made
    }

    // MARK: Reaching the guest

    func guest() throws -> GuestSession {
        guard let session else { throw StepError("the machine is not running (no operating system was installed on it yet)") }
        return session
    }

    /// The hypervisor's port (on its 127.0.0.1) that leads to the guest's sshd.
    func sshPort() throws -> Int32 {
        if let foundSSHPort { return foundSSHPort }
        guard let domain else { throw StepError("the machine is not running") }
        let table = try domain.monitor("info usernet")
        guard let port = forwardedSSHPort(infoUsernet: table) else { throw StepError("QEMU reports no forwarded SSH port: \(table)") }
        foundSSHPort = port
        return port
    }

    /// The run's SSH connection to the guest: straight to 127.0.0.1 for a
    /// local hypervisor, else through the hypervisor host (ssh -W), whose
    /// loopback the port is on.
    private func openSSH(_ call: BackendCall, user: String) throws -> SSHAccess {
        var via: [String] = []
        if let hop = pool.hypervisor.sshHop {
            let jump = hop.command + ["-W", "%h:%p", hop.destination]
            via = ["-o", "ProxyCommand=" + jump.map(ShellTransfer.quoted).joined(separator: " ")]
        }
        let access = SSHAccess(identity: try call.identity(),
                               knownHosts: directory.appendingPathComponent(SSHAccess.knownHostsFile).path,
                               port: try sshPort(), user: user,
                               controlPath: try socketDirectory().appendingPathComponent("ssh.sock").path,
                               via: via)
        try access.open()
        return access
    }

    func describe() -> String? {
        guard let domain else { return "libvirt machine (stopped) on \(config.uri)" }
        let loopback = pool.hypervisor.sshHop.map { " of \($0.destination)" } ?? ""
        guard let port = try? sshPort() else { return "libvirt domain \(domain.name) on \(config.uri)" }
        return "libvirt domain \(domain.name) on \(config.uri), SSH on 127.0.0.1:\(port)\(loopback)"
    }
}
