import CLibvirt
import Foundation
import PluginKit

/// Destroys this run's restored domains when host ends, however it ends
/// (SIGKILL included). A domain started by host dies with host's libvirt
/// connection (auto-destroy), but libvirt has no such flag for a restore:
/// so a watchdog in its own session reads lines from a pipe whose write end
/// only host holds, and at end of file, which the kernel delivers when
/// host's last descriptor closes, destroys each domain with virsh. Each
/// restore sends "URI name NAME" before it starts and "URI id ID" once
/// done. The ID is what is destroyed: a saved domain keeps its name, and
/// the next run of host may be restoring it already under the same one
/// (libvirt never reuses an ID). Only a name whose ID never came (host died
/// during that restore, the last one) is destroyed by name, and only while
/// paused, as host's restores are until they are done.
final class DomainReaper {
    /// Never waited for: it outlives host on purpose.
    private let watchdog: RunningChild

    /// One per run of host.
    nonisolated(unsafe) private static var shared: DomainReaper?

    private init() throws {
        let script = #"""
            virsh=$0 ids="" pending=""
            while read -r uri kind domain; do
                case $kind in
                    name) pending="$uri $domain" ;;
                    id) ids="$ids $uri $domain" pending="" ;;
                esac
            done
            set -- $ids
            while [ $# -ge 2 ]; do "$virsh" -q -c "$1" destroy "$2" >/dev/null 2>&1; shift 2; done
            set -- $pending
            if [ $# -eq 2 ] && [ "$("$virsh" -q -c "$1" domstate "$2" 2>/dev/null)" = paused ]; then
                "$virsh" -q -c "$1" destroy "$2" >/dev/null 2>&1
            fi
            """#
        var command = Command("/bin/sh", ["-c", script, try HostTool.path("virsh", package: "libvirt-clients")])
        // Only host holds the write end (Command's pipes are close-on-exec).
        command.input = .pipe
        command.ownSession = true
        watchdog = try command.start()
    }

    /// Watches the domain `name`, about to be restored.
    static func watch(_ name: String, on uri: String) throws {
        if shared == nil { shared = try DomainReaper() }
        shared?.send("\(uri) name \(name)\n")
    }

    /// Watches `domain`, just restored (and still paused).
    static func watch(_ domain: Domain) {
        shared?.send("\(domain.hypervisor.uri) id \(virDomainGetID(domain.pointer))\n")
    }

    private func send(_ line: String) {
        guard let fd = watchdog.input else { return }
        _ = Array(line.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
