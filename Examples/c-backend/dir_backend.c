/* dir_backend: a minimal host backend in C, against host_plugin.h alone.
 * Its machines are directories: DIR/root is the machine's file system,
 * commands run there with /bin/sh on this computer, and saving is nothing
 * at all, since the files are the whole state. Not isolation, not a VM: an
 * example of the vtable's contract (docs/plugins.md, "Writing a backend").
 *
 *   cc -shared -fPIC -Wall -Wextra -Werror -I PREFIX/include/host -o dir_backend.so dir_backend.c
 *   host dir_backend + exec 'echo hi > greeting' + exec 'cat greeting'
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_plugin.h"

typedef struct machine {
    char root[4096]; /* DIR/root */
} machine;

static host_status fail(host_call *call, const char *what) {
    char message[512];
    snprintf(message, sizeof message, "dir_backend: %s: %s", what, strerror(errno));
    call->services->set_error(call, message);
    return HOST_ERROR;
}

/* Runs argv (no shell between) in `cwd`, its output to `output` when given. */
static int run(const char *cwd, char *const argv[], const host_output *output) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) return -1;
    if (pipe2(err, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (cwd != NULL && chdir(cwd) != 0) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    /* Both pipes read as data comes (poll), so neither can fill and stall the child. */
    struct pollfd fds[2] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
    int open_count = 2;
    char buffer[4096];
    while (open_count > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0 && output != NULL) output->write(output->context, i + 1, buffer, (size_t)n);
            if (n == 0 || (n < 0 && errno != EINTR)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_count--;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static machine *make(const char *dir) {
    machine *m = calloc(1, sizeof *m);
    if (m != NULL) snprintf(m->root, sizeof m->root, "%s/root", dir);
    return m;
}

static host_status dir_create(host_call *call, const char *dir, void **out) {
    machine *m = make(dir);
    if (m == NULL) return fail(call, "out of memory");
    if (mkdir(m->root, 0755) != 0) {
        free(m);
        return fail(call, "cannot make the machine's root directory");
    }
    *out = m;
    return HOST_OK;
}

/* A copy of the saved machine: the source stays read-only, as the contract says. */
static host_status dir_clone(host_call *call, const char *src_dir, const char *dst_dir, void **out) {
    machine *m = make(dst_dir);
    if (m == NULL) return fail(call, "out of memory");
    char source[4200];
    snprintf(source, sizeof source, "%s/root", src_dir);
    char *const argv[] = {"/bin/cp", "-a", "--", source, m->root, NULL};
    if (run(NULL, argv, NULL) != 0) {
        free(m);
        errno = EIO;
        return fail(call, "copying the saved machine failed");
    }
    *out = m;
    return HOST_OK;
}

static host_status dir_up(host_call *call, void *raw) {
    (void)call;
    (void)raw;
    return HOST_OK; /* nothing runs between commands */
}

static host_status dir_down(host_call *call, void *raw) {
    (void)call;
    (void)raw;
    return HOST_OK; /* the directory is the whole saved state */
}

static void dir_drop(host_call *call, void *raw) {
    (void)call;
    free(raw);
}

static host_status dir_exec(host_call *call, void *raw, const char *command, const host_output *output, int32_t *exit_status) {
    machine *m = raw;
    char *const argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    int status = run(m->root, argv, output);
    if (status < 0) return fail(call, "cannot run /bin/sh");
    *exit_status = status;
    return HOST_OK;
}

/* Copies between this computer and the machine's root as the guide's
 * "Files" says: a directory's contents into `to` (made when missing,
 * merged into when it exists), a file onto `to` itself. cp -T never puts
 * the source inside an existing target. */
static host_status copy(host_call *call, const char *from, const char *to) {
    struct stat info;
    if (stat(from, &info) == 0 && S_ISDIR(info.st_mode)) {
        char *const mkdir_argv[] = {"/bin/mkdir", "-p", "--", (char *)to, NULL};
        if (run(NULL, mkdir_argv, NULL) != 0) {
            errno = EIO;
            return fail(call, "cannot make the target directory");
        }
    }
    char *const argv[] = {"/bin/cp", "-a", "-T", "--", (char *)from, (char *)to, NULL};
    if (run(NULL, argv, NULL) != 0) {
        errno = EIO;
        return fail(call, "copying failed");
    }
    return HOST_OK;
}

static host_status dir_upload(host_call *call, void *raw, const char *local_path, const char *machine_path) {
    char target[8300];
    snprintf(target, sizeof target, "%s/%s", ((machine *)raw)->root, machine_path);
    return copy(call, local_path, target);
}

static host_status dir_download(host_call *call, void *raw, const char *machine_path, const char *local_path) {
    char source[8300];
    snprintf(source, sizeof source, "%s/%s", ((machine *)raw)->root, machine_path);
    return copy(call, source, local_path);
}

/* No console: the functions exist (host may call them) and say so. */
static host_status dir_console_send(host_call *call, void *raw, const char *data, size_t length) {
    (void)raw;
    (void)data;
    (void)length;
    call->services->set_error(call, "dir_backend machines have no console");
    return HOST_ERROR;
}

static host_status dir_console_read(host_call *call, void *raw, char *buffer, size_t capacity, int64_t timeout_ms,
                                    size_t *length) {
    (void)buffer;
    (void)capacity;
    (void)timeout_ms;
    *length = 0;
    return dir_console_send(call, raw, NULL, 0);
}

static const char *dir_describe(host_call *call, void *raw) {
    (void)call;
    return ((machine *)raw)->root;
}

/* A saved machine can be cloned while its root directory is there. */
static host_status dir_check(host_call *call, const char *dir) {
    char root[4200];
    struct stat info;
    snprintf(root, sizeof root, "%s/root", dir);
    if (stat(root, &info) != 0 || !S_ISDIR(info.st_mode)) return fail(call, "the saved machine has no root directory");
    return HOST_OK;
}

static const host_backend backend = {
    .struct_size = sizeof(host_backend),
    .create = dir_create,
    .clone = dir_clone,
    .up = dir_up,
    .down = dir_down,
    .drop = dir_drop,
    .exec = dir_exec,
    .upload = dir_upload,
    .download = dir_download,
    .console_send = dir_console_send,
    .console_read = dir_console_read,
    .describe = dir_describe,
    .check = dir_check,
};

/* The backend step's entry runs on the machine create just made. */
static host_status dir_step(host_call *call, host_machine *m, host_machine **result) {
    (void)call;
    *result = m;
    return HOST_OK;
}

static const host_step step = {
    .struct_size = sizeof(host_step),
    .name = "dir_backend",
    .summary = "Machines that are directories on this computer (an example backend in C)",
    .flags = HOST_STEP_BACKEND | HOST_STEP_STARTS_PIPELINE,
    .entry = (host_step_entry)dir_step,
    .backend = &backend,
};
static const host_step *const steps[] = {&step};

/* abi_minor 0: nothing here needs more than ABI 1.0. */
static const host_plugin plugin = {
    .struct_size = sizeof(host_plugin), .abi_major = HOST_ABI_MAJOR, .abi_minor = 0,
    .name = "dir_backend", .version = "1.0.0", .step_count = 1, .steps = steps,
};

const host_plugin *host_plugin_entry_v1(void) { return &plugin; }
