/* host-timens: runs a command inside the time namespace of a restored
 * container's init. CRIU restores a container's processes into a time
 * namespace of their own (so their clocks go on from the save), but runc 1.1
 * starts `podman exec` processes outside it, and a process started that way
 * would make the next checkpoint hold two time namespaces, which CRIU cannot
 * restore. backend.podman-criu copies this (static) program into restored
 * containers and runs commands through it: it joins init's time namespace
 * (which needs a privileged exec), takes init's capabilities instead of the
 * privileged ones, and runs the command as its child. */
#define _GNU_SOURCE
#include <errno.h>
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
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) { perror("host-timens: waitpid"); return 126; }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
