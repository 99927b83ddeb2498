import Foundation

/// Removes this run's containers when host ends, however it ends (SIGKILL
/// included): a watchdog in its own session reads container names from a
/// pipe whose write end only host holds; at end of file, which the kernel
/// delivers when host's last descriptor closes, it removes them all.
final class ContainerReaper: @unchecked Sendable {
    private let pipe = Pipe()

    init(podman: Podman) throws {
        let script = #"names=""; while read -r name; do names="$names $name"; done; [ -z "$names" ] || exec "$@" $names >/dev/null 2>&1"#
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

    func watch(_ container: String) {
        try? pipe.fileHandleForWriting.write(contentsOf: Data((container + "\n").utf8))
    }
}
