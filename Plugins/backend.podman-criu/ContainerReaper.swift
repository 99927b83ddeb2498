import Foundation
import PluginKit

/// Removes this run's containers when host ends, however it ends (SIGKILL
/// included): a watchdog in its own session reads "PID NAME" lines from a
/// pipe whose write end only host holds. At end of file, which the kernel
/// delivers when host's last descriptor closes, it waits for each podman
/// client (PID) that may still be creating a container, then removes them.
final class ContainerReaper: @unchecked Sendable {
    private let pipe = Pipe()

    init(podman: Podman) throws {
        let script = #"""
            pids="" names=""
            while read -r pid name; do pids="$pids $pid"; names="$names $name"; done
            for pid in $pids; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
            [ -z "$names" ] || exec "$@" $names >/dev/null 2>&1
            """#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["/bin/sh", "-c", script, "host-reaper", podman.executable] + podman.globalFlags + ["rm", "--force", "--ignore", "--time", "0"]
        process.environment = podman.environment
        process.standardInput = pipe
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // Only host may hold the write end, or a child (conmon lives on)
        // would keep the pipe open and the watchdog waiting forever.
        _ = fcntl(pipe.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        try process.run()
        try? pipe.fileHandleForReading.close()
    }

    /// `client` is the podman process creating the container.
    func watch(_ container: String, client: pid_t) {
        try? pipe.fileHandleForWriting.write(contentsOf: Data("\(client) \(container)\n".utf8))
    }
}
