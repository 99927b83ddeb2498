import CLibvirt
import Foundation
import PluginKit

/// libvirt's message for the last call that failed on this thread.
func libvirtMessage() -> String {
    virGetLastErrorMessage().map { String(cString: $0) } ?? "libvirt gave no reason"
}

/// One hypervisor as libvirt reaches it (`qemu:///system`,
/// `qemu+ssh://root@hv1/system`): one connection per URI for the whole run
/// of host. It holds the run's auto-destroyed domains, which libvirt ends
/// when the connection closes, that is when host exits, however it exits.
final class Hypervisor {
    let uri: String
    let connection: virConnectPtr

    /// Written on host's one plugin thread only.
    nonisolated(unsafe) private static var opened: [String: Hypervisor] = [:]

    private init(uri: String, connection: virConnectPtr) {
        self.uri = uri
        self.connection = connection
    }

    static func connect(_ uri: String) throws -> Hypervisor {
        if let known = opened[uri] { return known }
        if opened.isEmpty {
            // libvirt prints every error to stderr unless told otherwise; host
            // reports the ones that matter itself, with what to do about them.
            virSetErrorFunc(nil) { _, _ in }
            startEventLoop()
        }
        guard let connection = virConnectOpen(uri) else { throw StepError(explainFailedConnection(to: uri)) }
        // A hypervisor that stops answering (its host or network gone) ends
        // the connection after 6 unanswered probes 5 s apart, and every call
        // on it fails, instead of waiting forever.
        _ = virConnectSetKeepAlive(connection, 5, 6)
        let hypervisor = Hypervisor(uri: uri, connection: connection)
        opened[uri] = hypervisor
        return hypervisor
    }

    /// libvirt's event loop, run by a thread of its own for the whole run:
    /// it reads the connection's socket as data comes, so the streams
    /// (console, the agent's ports) receive without blocking anyone, and
    /// it sends the keepalive probes.
    private static func startEventLoop() {
        guard virEventRegisterDefaultImpl() == 0 else { return }
        Thread {
            while virEventRunDefaultImpl() == 0 {}
        }.start()
    }

    /// The user's default: the system daemon for root, else their session daemon.
    static var defaultURI: String { getuid() == 0 ? "qemu:///system" : "qemu:///session" }

    private static func explainFailedConnection(to uri: String) -> String {
        let message = libvirtMessage()
        if message.contains("ssh:") || message.contains("Host key verification failed") || message.contains("publickey") {
            return "cannot connect to \(uri): ssh to the hypervisor's host failed (\(message)); libvirt runs ssh without a terminal, so `ssh` to that host must work with no password or host-key prompt (a key in your agent or ?keyfile= in the URI, the host in ~/.ssh/known_hosts)"
        }
        if message.contains("No such file or directory") || message.contains("Connection refused") {
            return "cannot connect to \(uri): libvirt's daemon is not running there (\(message)); start it with `sudo systemctl start libvirtd` (Debian package libvirt-daemon-system)"
        }
        if message.contains("Permission denied") || message.contains("authentication") {
            return "cannot connect to \(uri): permission denied (\(message)); add your user to the libvirt group (`sudo adduser $USER libvirt`, then log in again), or use --uri=qemu:///session"
        }
        return "cannot connect to \(uri): \(message)"
    }

    /// What failed and why, naming the hypervisor.
    func error(_ what: String) -> StepError { StepError("\(what) on \(uri): \(libvirtMessage())") }

    /// Whether libvirt offers domains of `type` ("kvm", "qemu") for x86_64 guests there.
    func offers(domainType type: String) -> Bool {
        guard let capabilities = virConnectGetDomainCapabilities(connection, nil, "x86_64", nil, type, 0) else { return false }
        free(capabilities)
        return true
    }

    /// Whether QEMU there offers the versioned machine type `type`.
    func offers(machineType type: String, domainType: String) -> Bool {
        guard let capabilities = virConnectGetDomainCapabilities(connection, nil, "x86_64", type, domainType, 0) else { return false }
        free(capabilities)
        return true
    }

    /// Whether the hypervisor runs on this computer: its URI names no host.
    var isLocal: Bool { URLComponents(string: uri)?.host.map(\.isEmpty) ?? true }

    /// How ssh reaches a remote URI's hypervisor host, as libvirt does
    /// (`qemu+ssh://USER@HOST:PORT/system?keyfile=K&command=SSH`): the ssh
    /// program and its arguments up to the destination; nil for a local one.
    var sshHop: (command: [String], destination: String)? {
        guard let parts = URLComponents(string: uri), let scheme = parts.scheme, scheme.hasSuffix("+ssh"),
              let host = parts.host, !host.isEmpty else { return nil }
        func parameter(_ name: String) -> String? { parts.queryItems?.first { $0.name == name }?.value }
        var command = [parameter("command") ?? "ssh", "-o", "BatchMode=yes"]
        if let port = parts.port { command += ["-p", String(port)] }
        if let key = parameter("keyfile") { command += ["-i", key] }
        return (command, (parts.user.map { $0 + "@" } ?? "") + host)
    }

    func create(_ xml: String) throws -> Domain {
        // Paused: the console and the agent's ports are open before the
        // guest prints or writes a byte. Auto-destroyed with the connection.
        let flags = VIR_DOMAIN_START_PAUSED.rawValue | VIR_DOMAIN_START_AUTODESTROY.rawValue
        let started = Date()
        while true {
            if let domain = virDomainCreateXML(connection, xml, flags) { return Domain(domain, on: self) }
            guard Self.isPassing(libvirtMessage()), Date().timeIntervalSince(started) < 10 else { throw error("starting a domain failed") }
            usleep(100_000)
        }
    }

    /// libvirt finds the cgroup tree in the mount table when it starts a
    /// domain: a CRIU checkpointing a container meanwhile mounts one of its
    /// own for a moment (.criu.cgyard), which is gone when libvirt reads
    /// it. A moment later the start works.
    private static func isPassing(_ message: String) -> Bool {
        message.contains("cgyard") || (message.contains("cgroup") && message.contains("No such file or directory"))
    }

    /// Restores a saved domain, paused, as `xml` describes it (its disk now
    /// the new overlay). The domain keeps the name it was saved under.
    /// `log` hears once when it waits for a domain of that name to end.
    func restore(from path: String, xml: String, name: String, log: (String) -> Void) throws -> Domain {
        // A domain of that name that a run just ended may take a second to
        // go; one that a run elsewhere (another computer's host, which
        // DomainLock cannot see) still runs, as long as DomainLock waits;
        // a CRIU's passing cgroup mount (isPassing), ten seconds.
        let started = Date()
        var told = false
        while virDomainRestoreFlags(connection, path, xml, VIR_DOMAIN_SAVE_PAUSED.rawValue) != 0 {
            let message = libvirtMessage()
            let taken = message.contains("already exists") || message.contains("already active") || message.contains("already being removed")
            let passing = Self.isPassing(message)
            let waited = Date().timeIntervalSince(started)
            if (taken && waited < DomainLock.patience) || (passing && waited < 10) {
                if taken && !told && waited > 5 {
                    log("waiting for the domain \(name) on \(uri) to end: it still runs (in a run of host that is ending, or on another computer); libvirt runs one copy of a saved domain at a time")
                    told = true
                }
                usleep(100_000)
                continue
            }
            if taken {
                throw StepError("cannot restore the saved machine on \(uri): its domain \(name) still runs after \(Int(DomainLock.patience / 60)) minutes, in another run of host (libvirt runs one copy of a saved domain at a time); wait for that run to end, or use backend.qemu for copies side by side")
            }
            throw StepError("restoring the saved machine failed on \(uri): \(message)")
        }
        guard let domain = virDomainLookupByName(connection, name) else { throw error("finding the restored domain \(name) failed") }
        return Domain(domain, on: self)
    }
}

/// A running domain of host's.
final class Domain {
    let pointer: virDomainPtr
    let hypervisor: Hypervisor

    init(_ pointer: virDomainPtr, on hypervisor: Hypervisor) {
        self.pointer = pointer
        self.hypervisor = hypervisor
    }

    deinit { virDomainFree(pointer) }

    var name: String { virDomainGetName(pointer).map { String(cString: $0) } ?? "?" }
    var isActive: Bool { virDomainIsActive(pointer) == 1 }

    /// The versioned machine type libvirt gave it ("pc-i440fx-7.2" for "pc").
    var machineType: String? {
        guard let xml = virDomainGetXMLDesc(pointer, 0) else { return nil }
        defer { free(xml) }
        let text = String(cString: xml)
        guard let start = text.range(of: "machine='") else { return nil }
        return String(text[start.upperBound...].prefix { $0 != "'" })
    }

    func resume() throws {
        guard virDomainResume(pointer) == 0 else { throw hypervisor.error("resuming the domain failed") }
    }

    /// Ends the domain without waiting for it to go: its QEMU is told to
    /// quit, which it does in a second or so (it flushes the disk that is
    /// being thrown away). libvirt's destroy would take longer still: it
    /// sends SIGTERM, which QEMU under libvirt (-no-shutdown) takes as
    /// "pause", and SIGKILL only seconds later.
    func end() {
        var reply: UnsafeMutablePointer<CChar>?
        if virDomainQemuMonitorCommand(pointer, #"{"execute":"quit"}"#, &reply, 0) == 0 {
            free(reply)
        } else {
            _ = virDomainDestroy(pointer)
        }
    }

    /// Writes RAM and device state to `path` on the hypervisor; the domain ends.
    func save(to path: String) throws {
        guard virDomainSaveFlags(pointer, path, nil, 0) == 0 else {
            throw hypervisor.error("saving the machine failed (is the hypervisor's disk full?)")
        }
    }

    /// A guest agent command (JSON) and its JSON reply.
    func agentCommand(_ json: String, timeoutSeconds: Int32) throws -> String {
        guard let reply = virDomainQemuAgentCommand(pointer, json, timeoutSeconds, 0) else {
            throw hypervisor.error("the guest agent did not run a command")
        }
        defer { free(reply) }
        return String(cString: reply)
    }

    /// A command of QEMU's human monitor, and what it printed.
    func monitor(_ command: String) throws -> String {
        var reply: UnsafeMutablePointer<CChar>?
        guard virDomainQemuMonitorCommand(pointer, command, &reply, UInt32(VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP.rawValue)) == 0,
              let reply else { throw hypervisor.error("QEMU's monitor did not run \(command)") }
        defer { free(reply) }
        return String(cString: reply)
    }

    /// The serial console, or a virtio-serial channel by its target name.
    func open(channel name: String?) throws -> LibvirtStream {
        guard let stream = virStreamNew(hypervisor.connection, UInt32(VIR_STREAM_NONBLOCK.rawValue)) else {
            throw hypervisor.error("making a stream failed")
        }
        let opened = name.map { virDomainOpenChannel(pointer, $0, stream, UInt32(VIR_DOMAIN_CHANNEL_FORCE.rawValue)) }
            ?? virDomainOpenConsole(pointer, nil, stream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue))
        guard opened == 0 else {
            virStreamFree(stream)
            throw hypervisor.error("opening the domain's \(name ?? "console") failed")
        }
        return LibvirtStream(stream, name: name ?? "console")
    }
}
