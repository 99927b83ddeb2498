import Foundation
import PluginKit

/// Destroys this run's restored domains when host ends, however it ends
/// (SIGKILL included). A domain started by host dies with host's libvirt
/// connection (auto-destroy), but libvirt has no such flag for a restore:
/// so a watchdog in its own session reads "URI NAME" lines from a pipe
/// whose write end only host holds, and at end of file, which the kernel
/// delivers when host's last descriptor closes, destroys each with virsh.
final class DomainReaper {
    /// Never waited for: it outlives host on purpose.
    private let watchdog: RunningChild

    /// One per run of host.
    nonisolated(unsafe) private static var shared: DomainReaper?

    private init() throws {
        let script = #"""
            domains=""
            while read -r uri name; do domains="$domains $uri $name"; done
            set -- $domains
            while [ $# -ge 2 ]; do "$0" -q -c "$1" destroy "$2" >/dev/null 2>&1; shift 2; done
            """#
        var command = Command("/bin/sh", ["-c", script, try HostTool.path("virsh", package: "libvirt-clients")])
        // Only host holds the write end (Command's pipes are close-on-exec).
        command.input = .pipe
        command.ownSession = true
        watchdog = try command.start()
    }

    /// Watches the domain `name` on `uri`, before it is restored.
    static func watch(_ name: String, on uri: String) throws {
        if shared == nil { shared = try DomainReaper() }
        guard let fd = shared?.watchdog.input else { return }
        let line = Array("\(uri) \(name)\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
