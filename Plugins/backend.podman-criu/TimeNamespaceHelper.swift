import Foundation
import PluginKit

/// CRIU restores a container's processes into a time namespace of their
/// own (so their clocks go on from the save), but runc 1.1 starts `podman
/// exec` processes outside it. A process started that way in a restored
/// container would make the next checkpoint hold two time namespaces, which
/// CRIU cannot restore. So in a restored container commands run through
/// this helper: it joins the time namespace of the container's init (which
/// needs a privileged exec), takes init's capabilities instead of the
/// privileged ones, and runs the command as its child.
enum TimeNamespaceHelper {
    static let pathInContainer = "/run/host-timens"

    static let source = #"""
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <linux/capability.h>
        #include <sched.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/prctl.h>
        #include <sys/syscall.h>
        #include <sys/wait.h>
        #include <unistd.h>

        /* One of init's capability sets from /proc/1/status ("CapEff:\t..."). */
        static unsigned long long init_caps(const char *name) {
            FILE *status = fopen("/proc/1/status", "r");
            char line[256];
            unsigned long long value = 0;
            size_t length = strlen(name);
            while (status && fgets(line, sizeof line, status))
                if (strncmp(line, name, length) == 0) sscanf(line + length, " %llx", &value);
            if (status) fclose(status);
            return value;
        }

        int main(int argc, char **argv) {
            if (argc < 2) return 127;
            int fd = open("/proc/1/ns/time", O_RDONLY);
            if (fd < 0 || setns(fd, CLONE_NEWTIME) != 0) {
                perror("host-timens: joining the time namespace of the container's init");
                return 126;
            }
            close(fd);
            /* The exec was privileged only to join; the command gets init's capabilities. */
            unsigned long long bounding = init_caps("CapBnd:"), effective = init_caps("CapEff:"),
                               permitted = init_caps("CapPrm:"), inheritable = init_caps("CapInh:");
            for (int cap = 0; cap < 64; cap++)
                if (!(bounding & (1ULL << cap))) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
            struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
            struct __user_cap_data_struct data[2] = {
                { (unsigned)effective, (unsigned)permitted, (unsigned)inheritable },
                { (unsigned)(effective >> 32), (unsigned)(permitted >> 32), (unsigned)(inheritable >> 32) },
            };
            if (syscall(SYS_capset, &header, data) != 0) { perror("host-timens: capset"); return 126; }
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
        // Kept per boot only in the user's private runtime directory; else
        // built afresh in a private temporary one, never in a guessable path.
        let directory = try RuntimeDirectory.private() ?? PrivateDirectory.make("host-timens")
        // Named by this source (FNV-1a), so a changed helper is built anew.
        let digest = source.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        let binary = directory.appendingPathComponent("host-timens-\(RuntimeDirectory.bootID)-\(String(digest, radix: 16))")
        if FileManager.default.isExecutableFile(atPath: binary.path) { return binary.path }
        let file = directory.appendingPathComponent("host-timens-\(getpid()).c")
        defer { try? FileManager.default.removeItem(at: file) }
        try source.write(to: file, atomically: true, encoding: .utf8)
        let partial = binary.path + ".\(getpid())"
        try HostTool.run("gcc", ["-static", "-O2", "-o", partial, file.path], package: "gcc and libc6-dev")
        guard rename(partial, binary.path) == 0 else { throw StepError("cannot place \(binary.path)") }
        return binary.path
    }
}
