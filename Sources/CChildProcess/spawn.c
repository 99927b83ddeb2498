#define _GNU_SOURCE
#include "cchildprocess.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Between fork and exec the child calls only async-signal-safe functions:
 * host is multithreaded, and another thread may hold any lock. */
static void close_from(int first, int except) {
#ifdef SYS_close_range
    if (except >= first) {
        if (except > first) syscall(SYS_close_range, first, except - 1, 0);
        if (syscall(SYS_close_range, except + 1, ~0U, 0) == 0) return;
    } else if (syscall(SYS_close_range, first, ~0U, 0) == 0) {
        return;
    }
#endif
    /* No close_range: close what /proc/self/fd lists, read with the raw
     * syscall (opendir allocates), rather than try every number up to a
     * limit that may be a billion. */
    int directory = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0) {
        for (int fd = first; fd < 1024; fd++)
            if (fd != except) close(fd);
        return;
    }
    char buffer[4096];
    long got;
    while ((got = syscall(SYS_getdents64, directory, buffer, sizeof buffer)) > 0) {
        for (long offset = 0; offset < got;) {
            struct dirent64 *entry = (struct dirent64 *)(buffer + offset);
            offset += entry->d_reclen;
            int fd = 0;
            const char *digit = entry->d_name;
            if (*digit < '0' || *digit > '9') continue;
            while (*digit >= '0' && *digit <= '9') fd = fd * 10 + (*digit++ - '0');
            if (fd >= first && fd != except && fd != directory) close(fd);
        }
    }
    close(directory);
}

pid_t cchild_spawn(const cchild_options *options) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(report[0]);
        close(report[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        if (options->die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(127); /* host died before the line above */
        }
        if (options->new_session) setsid();
        if (options->directory && chdir(options->directory) < 0) goto failed;
        struct sigaction standard = {0};
        standard.sa_handler = SIG_DFL;
        for (int signal = 1; signal < NSIG; signal++) sigaction(signal, &standard, NULL);
        if (!options->keep_signal_mask) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
        }
        int wanted[3] = {options->stdin_fd, options->stdout_fd, options->stderr_fd};
        /* Host keeps 0, 1 and 2 open (Main), so what it passes is 3 or above;
         * one passed as its own number only needs to survive the exec. */
        for (int target = 0; target < 3; target++) {
            if (wanted[target] == CCHILD_INHERIT) continue;
            if (wanted[target] == target ? fcntl(target, F_SETFD, 0) < 0 : dup2(wanted[target], target) < 0) goto failed;
        }
        close_from(3, report[1]);
        execve(options->path, options->argv, options->envp);
    failed:;
        int error = errno;
        (void)!write(report[1], &error, sizeof error);
        _exit(127);
    }
    close(report[1]);
    int error = 0;
    ssize_t got;
    do got = read(report[0], &error, sizeof error); while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof error) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        errno = error;
        return -1;
    }
    return pid;
}

int cchild_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
