import Foundation
import PluginKit

/// Removes this run's containers when host ends, however it ends (SIGKILL
/// included): a watchdog in its own session reads "PID NAME" lines from a
/// pipe whose write end only host holds. At end of file, which the kernel
/// delivers when host's last descriptor closes, it waits for each podman
/// client (PID) that may still be creating a container, then removes them.
final class ContainerReaper: @unchecked Sendable {
    /// Never waited for: it outlives host on purpose.
    private let watchdog: RunningChild

    init(podman: Podman) throws {
        let script = #"""
            pids="" names=""
            while read -r pid name; do pids="$pids $pid"; names="$names $name"; done
            for pid in $pids; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
            [ -z "$names" ] || exec "$@" $names >/dev/null 2>&1
            """#
        var command = Command("/bin/sh", ["-c", script, "host-reaper", podman.executable] + podman.globalFlags + ["rm", "--force", "--ignore", "--time", "0"],
                              environment: podman.environment)
        // Only host holds the write end (Command's pipes are close-on-exec),
        // or a child (conmon lives on) would keep the watchdog waiting forever.
        command.input = .pipe
        command.ownSession = true
        watchdog = try command.start()
    }

    /// `client` is the podman process creating the container.
    func watch(_ container: String, client: pid_t) {
        guard let fd = watchdog.input else { return }
        let line = Array("\(client) \(container)\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
