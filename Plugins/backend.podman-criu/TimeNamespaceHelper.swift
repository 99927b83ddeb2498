import Foundation
import PluginKit

/// CRIU restores a container's processes into a time namespace of their
/// own (so their clocks go on from the save), but runc 1.1 starts `podman
/// exec` processes outside it. A process started that way in a restored
/// container would make the next checkpoint hold two time namespaces, which
/// CRIU cannot restore. So in a restored container commands run through
/// this helper: it joins the time namespace of the container's init (which
/// needs a privileged exec), then runs the command as its child.
enum TimeNamespaceHelper {
    static let pathInContainer = "/run/host-timens"

    static let source = #"""
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <sched.h>
        #include <stdio.h>
        #include <sys/wait.h>
        #include <unistd.h>

        int main(int argc, char **argv) {
            if (argc < 2) return 127;
            int fd = open("/proc/1/ns/time", O_RDONLY);
            if (fd < 0 || setns(fd, CLONE_NEWTIME) != 0) {
                perror("host-timens: joining the time namespace of the container's init");
                return 126;
            }
            close(fd);
            pid_t child = fork(); /* a time namespace applies to children only */
            if (child < 0) { perror("host-timens: fork"); return 126; }
            if (child == 0) { execv(argv[1], argv + 1); perror(argv[1]); _exit(127); }
            int status;
            while (waitpid(child, &status, 0) < 0) {}
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        """#

    /// The helper, built once per boot of the host as a static binary (it
    /// runs inside any image).
    static func binary() throws -> String {
        let directory = RuntimeDirectory.private() ?? FileManager.default.temporaryDirectory
        let binary = directory.appendingPathComponent("host-timens-\(RuntimeDirectory.bootID)")
        if FileManager.default.isExecutableFile(atPath: binary.path) { return binary.path }
        let file = directory.appendingPathComponent("host-timens-\(getpid()).c")
        defer { try? FileManager.default.removeItem(at: file) }
        try source.write(to: file, atomically: true, encoding: .utf8)
        let partial = binary.path + ".\(getpid())"
        try HostTool.run("gcc", ["-static", "-O2", "-o", partial, file.path], package: "gcc and libc6-dev")
        guard rename(partial, binary.path) == 0 else { throw StepErrorText("cannot place \(binary.path)") }
        return binary.path
    }
}
