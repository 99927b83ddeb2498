import CLibvirt
import Foundation
import PluginKit

/// Destroys this run's restored domains when host ends, however it ends
/// (SIGKILL included). A domain started by host dies with host's libvirt
/// connection (auto-destroy), but libvirt has no such flag for a restore:
/// so a watchdog in its own session reads "URI ID" lines from a pipe whose
/// write end only host holds, and at end of file, which the kernel delivers
/// when host's last descriptor closes, destroys each with virsh. By ID, not
/// name: a saved domain keeps its name, and the next run of host may have
/// restored it already under the same one. libvirt never reuses an ID.
final class DomainReaper {
    /// Never waited for: it outlives host on purpose.
    private let watchdog: RunningChild

    /// One per run of host.
    nonisolated(unsafe) private static var shared: DomainReaper?

    private init() throws {
        let script = #"""
            domains=""
            while read -r uri id; do domains="$domains $uri $id"; done
            set -- $domains
            while [ $# -ge 2 ]; do "$0" -q -c "$1" destroy "$2" >/dev/null 2>&1; shift 2; done
            """#
        var command = Command("/bin/sh", ["-c", script, try HostTool.path("virsh", package: "libvirt-clients")])
        // Only host holds the write end (Command's pipes are close-on-exec).
        command.input = .pipe
        command.ownSession = true
        watchdog = try command.start()
    }

    /// Starts the watchdog, before the first restore of the run.
    static func start() throws {
        if shared == nil { shared = try DomainReaper() }
    }

    /// Watches `domain`, just restored (and still paused).
    static func watch(_ domain: Domain) {
        guard let fd = shared?.watchdog.input else { return }
        let line = Array("\(domain.hypervisor.uri) \(virDomainGetID(domain.pointer))\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
