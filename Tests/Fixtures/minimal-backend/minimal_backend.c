/* TEST FIXTURE, not a product: the least a backend may be. Every
 * host_backend function the header says may be NULL is NULL here
 * (describe, extension, check, forget, set_run_arguments, and create,
 * since create_with makes the machines), so host's handling of each NULL
 * is exercised through the real binary (MinimalBackendTests).
 *
 * Machines are directories, DIR/root, as in Examples/c-backend; commands
 * run in DIR/root with /bin/sh on this computer.
 *
 *   -DMINIMAL_V1          a 1.0 table: create instead of create_with,
 *                         struct_size HOST_BACKEND_V1_SIZE (ends at check),
 *                         abi_minor 0
 *   -DMINIMAL_NO_UPLOAD   upload left NULL too, which the header does not
 *                         allow: host must refuse the plugin, naming it
 *   -DMINIMAL_MARK_LOADS  every process that loads the file creates the
 *                         file $HOST_TEST_LOAD_MARKER: planning must not
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_plugin.h"

#ifdef MINIMAL_MARK_LOADS
__attribute__((constructor)) static void mark_load(void) {
    const char *marker = getenv("HOST_TEST_LOAD_MARKER");
    if (marker) close(open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
}
#endif

typedef struct machine {
    char dir[4096];
} machine;

static host_status fail(host_call *call, const char *what) {
    call->services->set_error(call, what);
    return HOST_ERROR;
}

/* Runs argv in `cwd` with empty standard input, its output into the files
 * `out` and `err` (NULL: /dev/null); its status, or -1. */
static int run(const char *cwd, char *const argv[], const char *out, const char *err) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(127);
        if (cwd != NULL && chdir(cwd) != 0) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static machine *make(const char *dir) {
    machine *m = calloc(1, sizeof *m);
    if (m != NULL) snprintf(m->dir, sizeof m->dir, "%s", dir);
    return m;
}

static host_status new_machine(host_call *call, const char *dir, void **out) {
    machine *m = make(dir);
    char root[4200];
    snprintf(root, sizeof root, "%s/root", dir);
    if (m == NULL || mkdir(root, 0755) != 0) {
        free(m);
        return fail(call, "minimal_backend: cannot make the machine's root directory");
    }
    *out = m;
    return HOST_OK;
}

#ifdef MINIMAL_V1
static host_status minimal_create(host_call *call, const char *dir, void **out) { return new_machine(call, dir, out); }
#else
static host_status minimal_create_with(host_call *call, const char *dir, const host_arguments *arguments, void **out) {
    (void)arguments; /* the backend step declares no parameters */
    return new_machine(call, dir, out);
}
#endif

static host_status minimal_clone(host_call *call, const char *src_dir, const char *dst_dir, void **out) {
    machine *m = make(dst_dir);
    if (m == NULL) return fail(call, "minimal_backend: out of memory");
    char source[4200], target[4200];
    snprintf(source, sizeof source, "%s/root", src_dir);
    snprintf(target, sizeof target, "%s/root", dst_dir);
    char *const argv[] = {"/bin/cp", "-a", "-T", "--", source, target, NULL};
    if (run(NULL, argv, NULL, NULL) != 0) {
        free(m);
        return fail(call, "minimal_backend: copying the saved machine failed");
    }
    *out = m;
    return HOST_OK;
}

static host_status nothing(host_call *call, void *raw) {
    (void)call;
    (void)raw;
    return HOST_OK; /* nothing runs between commands; the files are the whole state */
}

static void minimal_drop(host_call *call, void *raw) {
    (void)call;
    free(raw);
}

/* Sends a file's bytes to `output` as `stream`, then removes the file. */
static void relay(const char *path, int stream, const host_output *output) {
    FILE *file = fopen(path, "rb");
    if (file != NULL) {
        char buffer[4096];
        size_t n;
        while ((n = fread(buffer, 1, sizeof buffer, file)) > 0) output->write(output->context, stream, buffer, n);
        fclose(file);
    }
    unlink(path);
}

static host_status minimal_exec(host_call *call, void *raw, const char *command, const host_output *output,
                                int32_t *exit_status) {
    machine *m = raw;
    char root[4200], out[4200], err[4200];
    snprintf(root, sizeof root, "%s/root", m->dir);
    snprintf(out, sizeof out, "%s/.out", m->dir);
    snprintf(err, sizeof err, "%s/.err", m->dir);
    char *const argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    int status = run(root, argv, out, err);
    relay(out, 1, output);
    relay(err, 2, output);
    if (status < 0) return fail(call, "minimal_backend: cannot run /bin/sh");
    *exit_status = status;
    return HOST_OK;
}

/* The files contract of docs/plugins.md: a directory's contents land in
 * the target (made when missing, merged into one that exists), a file
 * replaces the target file. cp -T never puts the source inside the target. */
static host_status copy(host_call *call, const char *from, const char *to) {
    struct stat info;
    if (stat(from, &info) == 0 && S_ISDIR(info.st_mode)) {
        char *const mkdir_argv[] = {"/bin/mkdir", "-p", "--", (char *)to, NULL};
        if (run(NULL, mkdir_argv, NULL, NULL) != 0) return fail(call, "minimal_backend: cannot make the target directory");
    }
    char *const argv[] = {"/bin/cp", "-a", "-T", "--", (char *)from, (char *)to, NULL};
    return run(NULL, argv, NULL, NULL) == 0 ? HOST_OK : fail(call, "minimal_backend: copying failed");
}

/* A machine path is taken inside DIR/root, relative ones from there too. */
static void inside(char *buffer, size_t size, machine *m, const char *machine_path) {
    snprintf(buffer, size, "%s/root/%s", m->dir, machine_path[0] == '/' ? machine_path + 1 : machine_path);
}

#ifndef MINIMAL_NO_UPLOAD
static host_status minimal_upload(host_call *call, void *raw, const char *local_path, const char *machine_path) {
    char target[8400];
    inside(target, sizeof target, raw, machine_path);
    return copy(call, local_path, target);
}
#endif

static host_status minimal_download(host_call *call, void *raw, const char *machine_path, const char *local_path) {
    char source[8400];
    inside(source, sizeof source, raw, machine_path);
    return copy(call, source, local_path);
}

static host_status minimal_console_send(host_call *call, void *raw, const char *data, size_t length) {
    (void)raw;
    (void)data;
    (void)length;
    return fail(call, "minimal_backend machines have no console");
}

static host_status minimal_console_read(host_call *call, void *raw, char *buffer, size_t capacity, int64_t timeout_ms,
                                        size_t *length) {
    (void)buffer;
    (void)capacity;
    (void)timeout_ms;
    *length = 0;
    return minimal_console_send(call, raw, NULL, 0);
}

/* Every function not named here is NULL, on purpose. */
static const host_backend backend = {
#ifdef MINIMAL_V1
    .struct_size = HOST_BACKEND_V1_SIZE,
    .create = minimal_create,
#else
    .struct_size = sizeof(host_backend),
    .create_with = minimal_create_with,
#endif
    .clone = minimal_clone,
    .up = nothing,
    .down = nothing,
    .drop = minimal_drop,
    .exec = minimal_exec,
#ifndef MINIMAL_NO_UPLOAD
    .upload = minimal_upload,
#endif
    .download = minimal_download,
    .console_send = minimal_console_send,
    .console_read = minimal_console_read,
};

/* What a backend step's entry must do: hand back the machine host made. */
static host_status minimal_step(host_call *call, host_machine *m, host_machine **result) {
    (void)call;
    *result = m;
    return HOST_OK;
}

/* Asks for a capability: with backend.extension NULL, host answers NULL. */
static host_status probe(host_call *call, host_machine *m, host_machine **result) {
    (void)result;
    bool offered = call->services->extension(call, m, "host.vm/1") != NULL;
    printf("host.vm/1 %s\n", offered ? "offered" : "not offered");
    fflush(stdout); /* before host writes anything more to descriptor 1 */
    return HOST_OK;
}

static const host_step backend_step = {
    .struct_size = sizeof(host_step),
    .name = "backend.minimal",
    .summary = "TEST FIXTURE: a backend with every optional function NULL",
    .flags = HOST_STEP_BACKEND,
    .entry = (host_step_entry)minimal_step,
    .backend = &backend,
};
static const host_step probe_step = {
    .struct_size = sizeof(host_step),
    .name = "backend.minimal.probe",
    .summary = "TEST FIXTURE: print whether the machine offers host.vm/1",
    .flags = HOST_STEP_TRANSIENT,
    .entry = (host_step_entry)probe,
};
#ifndef MINIMAL_V1
static const char *const vm_only[] = {"host.vm/1", NULL};
static const host_step vm_step = {
    .struct_size = sizeof(host_step),
    .name = "backend.minimal.vm",
    .summary = "TEST FIXTURE: needs host.vm/1, which backend.minimal does not offer",
    .flags = HOST_STEP_TRANSIENT,
    .entry = (host_step_entry)probe,
    .needs = vm_only,
};
static const host_step *const steps[] = {&backend_step, &probe_step, &vm_step};
#else
static const host_step *const steps[] = {&backend_step, &probe_step};
#endif

static const host_plugin plugin = {
    .struct_size = sizeof(host_plugin), .abi_major = HOST_ABI_MAJOR,
#ifdef MINIMAL_V1
    .abi_minor = 0,
#else
    .abi_minor = 3, /* create_with and needs */
#endif
    .name = "minimal_backend", .version = "1.0.0", .step_count = sizeof steps / sizeof steps[0], .steps = steps,
};

const host_plugin *host_plugin_entry_v1(void) { return &plugin; }
