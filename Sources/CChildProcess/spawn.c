#define _GNU_SOURCE
#include "cchildprocess.h"

#include <errno.h>
#include <fcntl.h>
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
    long limit = sysconf(_SC_OPEN_MAX);
    for (int fd = first; fd < (limit > 0 ? limit : 1024); fd++)
        if (fd != except) close(fd);
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
        struct sigaction standard = {0};
        standard.sa_handler = SIG_DFL;
        for (int signal = 1; signal < NSIG; signal++) sigaction(signal, &standard, NULL);
        if (!options->keep_signal_mask) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
        }
        int wanted[3] = {options->stdin_fd, options->stdout_fd, options->stderr_fd};
        for (int target = 0; target < 3; target++)
            if (wanted[target] != CCHILD_INHERIT && wanted[target] != target && dup2(wanted[target], target) < 0) goto failed;
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
