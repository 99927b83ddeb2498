/*
 * host_plugin.h: the plugin ABI of `host`, version 1.
 *
 * This header is the whole contract between host and its plugins. A plugin
 * is a shared object that exports one function, HOST_PLUGIN_ENTRY_V1, and
 * needs nothing but this header to be written in C. Nothing Swift crosses it.
 *
 * Conventions that hold for every declaration below:
 *
 * - Growth. Every struct begins with `struct_size`, set to sizeof() of the
 *   version it was compiled against by the side that allocates the struct:
 *   the plugin for what it returns and for a host_exec_result it passes to
 *   services->exec (host then writes only the fields that fit in it), host
 *   for the tables it hands out (host_call, host_services). The reader
 *   copies at most what it knows into a zeroed struct, so fields added at the
 *   end in a later minor version read as zero/NULL from an older writer. A
 *   struct smaller than its v1 size is rejected.
 * - Threads. host is single-threaded towards plugins: it calls every plugin
 *   function on its main thread, one call at a time, and a plugin calls the
 *   host services only on the thread host called it on, before returning.
 * - Ownership. Unless a comment says otherwise, a pointer passed to a
 *   function is borrowed for the duration of that call only: copy what you
 *   keep. Everything a plugin returns from HOST_PLUGIN_ENTRY_V1 (the
 *   descriptor and all it points to) is owned by the plugin and must stay
 *   valid and unchanged until the process exits; host never frees it and
 *   never unloads a plugin.
 * - Errors. A function that can fail returns host_status. On HOST_ERROR the
 *   callee has (or should have) reported a message with services->set_error;
 *   host copies the message, so the plugin may free its buffer afterwards.
 */
#ifndef HOST_PLUGIN_H
#define HOST_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_ABI_MAJOR 1
/* What each minor version added. A plugin declares in host_plugin.abi_minor
 * the lowest minor whose features it uses (1 for services->fetch, 3 for
 * parameter flags, ...; 0 when it uses none of these), not HOST_ABI_MINOR:
 * a host older than the declared minor refuses the plugin, so declaring
 * the newest needlessly shuts out older hosts. HOST_ABI_MINOR is this
 * header's own minor, the most a plugin built against it can need.
 *
 *   1.1  services->fetch
 *   1.2  host_backend.forget
 *   1.3  HOST_USAGE_ERROR; host_param.flags (HOST_PARAM_RUNTIME,
 *        HOST_PARAM_NAMED_ONLY, HOST_PARAM_BOUNDED), .minimum, .maximum;
 *        host_argument(s); host_step.needs; HOST_STEP_NO_SAVE; the name
 *        "cache" reserved; host_backend.create_with, .set_run_arguments;
 *        the capability extensions host.vm/1 (host_vm.h) and
 *        host.container/1 (host_container.h), which replace host.qemu/1
 *        and host.podman/1 (still accepted, as aliases)
 *   1.4  host_vm_v1.set_guest_agent
 *   1.5  services->checkpoint, ->resume, ->discard; host_vm_v1.reboot
 *   1.6  HOST_PARAM_PATH, a host file or directory that enters the cache
 *        key by its content; HOST_PARAM_WITH_FOLDER; HOST_PARAM_BOUNDED on
 *        DOUBLE parameters, with host_param.minimum_double and
 *        .maximum_double; services->depend_file keeps a relative path
 *        relative (see there); step names that are host's command words
 *        (HOST_COMMAND_WORDS) refused for steps that start a pipeline.
 *        A 1.5 plugin loads unchanged, and its STRING parameters enter
 *        the key as their text, as before.
 *   1.7  Machines that live (`host up --name`): host_backend.processes,
 *        .exec_with, .change, .clone_from, .detach and .attach, with
 *        host_exec_request, host_change and host_clone_request. Designed
 *        at once for named machines, run-time forwards and devices,
 *        layered backends and machines started from one mapped RAM image;
 *        each is optional, and a 1.5 or 1.6 backend loads unchanged and
 *        keeps a machine running under host's monitor without them. */
#define HOST_ABI_MINOR 7

/* (1.6) host's command words: `host WORD ...` runs the command, so no step
 * that starts a pipeline may be named one of them (`host -- STEP ...`
 * always runs a pipeline). Reserved now for the commands to come, too. */
#define HOST_COMMAND_WORDS \
    "list-plugins", "help", "cache", "cleanup", "push", "pull", "tag", "from", "plugin-template", \
    "completion", "up", "ls", "exec", "ssh", "console", "cp", "logs", "stop", "start", "rm", "unit", \
    "volume", "forward", "network", "build", "down", "run", "schema", "hostfile", "pipeline", \
    "login", "logout"

/* The same words as a NULL-terminated array: the one table host's command
 * dispatcher, its shell completion and its plugin scanner all read. */
static inline const char *const *host_command_words(void) {
    static const char *const words[] = {HOST_COMMAND_WORDS, NULL};
    return words;
}

/* The name of the one function a plugin exports. A future incompatible ABI
 * gets a new name (…_v2), so an old host never calls a new plugin's entry.
 *
 * Where host looks: every *.so file (other names are ignored) in, in this
 * order: BIN/../lib/host/plugins (BIN: the directory of the host executable,
 * symlinks resolved), each directory of $HOST_PLUGIN_PATH (separated by
 * ':'), $XDG_CONFIG_HOME/host/plugins (else ~/.config/host/plugins) and
 * ~/.local/lib/host/plugins; a file reached twice is read once. Step names
 * need not start with the plugin's name (by convention they do: "acme.sum");
 * a step name offered by two plugins is refused when used, naming both
 * files, and a plugin name taken twice loads only the one found first. A
 * plugin that crashes or hangs while loading (its constructors, this entry)
 * is found by a scan in a child process and listed as failed; one that
 * crashes in a step makes host exit naming the plugin file and the step,
 * the cache as it was. */
#define HOST_PLUGIN_ENTRY_V1 "host_plugin_entry_v1"

typedef enum host_status {
    HOST_OK = 0,
    HOST_ERROR = 1,
    /* (1.3) Failed because of what the user wrote (a value the step cannot
     * use, a file that exists without --force): host reports the message
     * like its own usage errors and exits 64 (EX_USAGE). Anything else a
     * plugin returns that is not HOST_OK is HOST_ERROR. */
    HOST_USAGE_ERROR = 2,
} host_status;

/* Opaque handles, owned by host. A host_call lives for one call from host
 * into the plugin; a host_machine lives until the step that received or
 * created it returns. */
typedef struct host_call host_call;
typedef struct host_machine host_machine;

/* ---- Parameters --------------------------------------------------------- */

typedef enum host_param_type {
    /* C type of the argument: const char * (NUL-terminated, never NULL). */
    HOST_PARAM_STRING = 1,
    /* int64_t */
    HOST_PARAM_INT = 2,
    /* bool. On the command line: --name, --no-name, --name=true|false. */
    HOST_PARAM_BOOL = 3,
    /* double */
    HOST_PARAM_DOUBLE = 4,
    /* const host_string_list *: every --name=value given, in order. */
    HOST_PARAM_LIST = 5,
    /* const host_string_list *: the positional words left after the declared
     * positional parameters are filled (`exec CMD...`). At most one.
     * Positional words fill every STRING, INT, BOOL, DOUBLE and LIST
     * parameter without HOST_PARAM_NAMED_ONLY, optional ones included, in
     * declaration order, before REST gets any: give options such as
     * --scale or --verbose HOST_PARAM_NAMED_ONLY (1.3) so that stray words
     * reach REST. */
    HOST_PARAM_REST = 6,
    /* const host_kv_list *: every --key=value the step does not declare
     * (`ansible MODULE --name=patch`). At most one. */
    HOST_PARAM_KWARGS = 7,
    /* (1.6) const char *: a file or directory on the host, given relative to
     * host's working directory or absolute; the step receives its absolute
     * path. It must exist: host refuses the pipeline before any work (exit
     * 64) when it does not. It enters the cache key as the digest of what
     * it names, never as its text: a file's bytes; a directory's relative
     * names, types, modes, bytes and symlink targets. So two checkouts of
     * one repository in different folders share entries, a changed or
     * different file never reuses one, and the step need not call
     * depend_file for it. A default ("" allowed: no path, digested as
     * nothing) is used as given. */
    HOST_PARAM_PATH = 8,
} host_param_type;

typedef struct host_string_list {
    size_t count;
    const char *const *items; /* count NUL-terminated strings */
} host_string_list;

typedef struct host_kv_list {
    size_t count;
    const char *const *keys;   /* in the order given on the command line */
    const char *const *values;
} host_kv_list;

typedef struct host_param {
    size_t struct_size;
    /* Lower-case letters, digits, '_' and '-', starting with a letter. Unique
     * within the step. "transient" and (1.3) "cache" are host's own: every
     * step takes --transient and --cache=DURATION. */
    const char *name;
    host_param_type type;
    /* The default as it would be written on the command line, or NULL when
     * the parameter is required. LIST and REST defaults are their items
     * separated by '\n' ("" is the empty list). KWARGS takes no default
     * (NULL) and is never required. */
    const char *default_value;
    /* One line for `host help STEP`. May be NULL. */
    const char *help;
    /* (1.3) HOST_PARAM_* flags below; host refuses a step with a flag it
     * does not know. Zero in a 1.0-1.2 plugin. */
    uint32_t flags;
    /* (1.3) With HOST_PARAM_BOUNDED, the inclusive range of an INT
     * parameter: host refuses other values as a usage error (exit 64)
     * before any machine starts, and checks the default against it on load. */
    int64_t minimum;
    int64_t maximum;
    /* (1.6) The same for a DOUBLE parameter with HOST_PARAM_BOUNDED. */
    double minimum_double;
    double maximum_double;
} host_param;

/* (1.3) The parameter describes the running machine, not what is built
 * (forwarded ports): it is left out of the cache key, so changing it never
 * rebuilds anything. Only on a backend step's parameters: host hands
 * their values to host_backend.set_run_arguments for every machine of the
 * run, restored or built, which applies them at every start. */
#define HOST_PARAM_RUNTIME 0x1u
/* (1.3) Only `--name=value` fills it, never a positional word: for options
 * (`--force`) that must not swallow a stray word meant for a REST
 * parameter or another positional one. */
#define HOST_PARAM_NAMED_ONLY 0x2u
/* (1.3) An INT parameter whose value must lie in [minimum, maximum];
 * (1.6) or a DOUBLE one in [minimum_double, maximum_double]. */
#define HOST_PARAM_BOUNDED 0x4u
/* (1.6) On a PATH parameter naming a file: the key also holds the digest of
 * the file's whole folder, as a tree (`.git` left out), for a file that
 * reads its neighbours (a playbook its roles/, group_vars/ and templates). */
#define HOST_PARAM_WITH_FOLDER 0x8u

/* ---- Steps -------------------------------------------------------------- */

/* Flags in the low 16 bits are hints that an older host may ignore. Flags in
 * the high 16 bits change what a step means: a host that does not know one
 * of them refuses the whole plugin (listed by `host list-plugins` with the
 * flag named) rather than run a step wrongly. A flag marked (1.N), here and
 * at HOST_PARAM_*, needs abi_minor N or more; unmarked ones are 1.0's (the
 * plugin guide's "ABI versions" has them in one table). */
#define HOST_STEP_REQUIRED_MASK 0xFFFF0000u

/* Hint: the step reads the terminal (ssh, console). */
#define HOST_STEP_INTERACTIVE 0x00000001u
/* The step's result is never saved: it runs every time and the next step
 * continues from its parent. host skips the save and the lock. */
#define HOST_STEP_TRANSIENT 0x00010000u
/* Transient when it is the pipeline's last step, cached otherwise. */
#define HOST_STEP_TRANSIENT_WHEN_LAST 0x00020000u
/* The step may be the first of a pipeline. Unless it is also a backend, it
 * then receives an empty machine of the default backend. (1.6) Its name
 * must not be one of HOST_COMMAND_WORDS, which `host WORD ...` means as a
 * command: host refuses such a plugin, naming the word. */
#define HOST_STEP_STARTS_PIPELINE 0x00040000u
/* The step makes machines: its descriptor's `backend` is set, and it receives
 * a machine host has just created through that backend (create_with or
 * create, then set_run_arguments). Its entry must set *result to that
 * machine and return HOST_OK (with create_with that is usually all it does);
 * host then starts and saves it as the pipeline's first entry. Left NULL,
 * the pipeline has no machine and its next step fails. */
#define HOST_STEP_BACKEND 0x00080000u
/* (1.3) With HOST_STEP_BACKEND: its machines cannot be saved (machines that
 * exist already, reached over the network). host then runs every step of
 * the pipeline each time, in order, on the one machine, caches nothing,
 * and says so; `down` and `clone` are never called (but must be set). */
#define HOST_STEP_NO_SAVE 0x00100000u

/* A step's entry point. Its real C signature is
 *
 *     host_status entry(host_call *call, host_machine *machine,
 *                       host_machine **result, P1 p1, P2 p2, ...);
 *
 * with one argument per declared parameter, in declaration order, of the C
 * type listed at host_param_type. host builds the call through libffi from
 * the declared parameters, so they must match the definition exactly.
 *
 * `machine` is the machine to work on (owned by host; it may or may not be
 * running: the services start it on first use). To keep the changes, set
 * *result to the machine to save (`machine` itself, or one returned by
 * services->apply) and return HOST_OK. Leave *result NULL (it is NULL on
 * entry) to return nothing: the changes are dropped and the next step
 * continues from the parent. Argument pointers are valid until the entry
 * returns. Under -Wall -Wextra -Werror, write `(void)machine;` and
 * `(void)result;` for the ones an entry does not use. */
typedef void (*host_step_entry)(void);

typedef struct host_backend host_backend;

typedef struct host_step {
    size_t struct_size;
    /* Dotted lower-case words: "os.debian", "self_test.greeting". */
    const char *name;
    /* One line for `host list-plugins` and `host help`. */
    const char *summary;
    uint32_t flags;
    /* Seconds a cached result stays valid; 0 means host's default (7 days). */
    int64_t default_expiry;
    size_t param_count;
    const host_param *const *params;
    host_step_entry entry;
    /* Set exactly when flags has HOST_STEP_BACKEND. */
    const host_backend *backend;
    /* (1.3) The capabilities the step needs of its machine: extension ids
     * ("host.vm/1"), NULL-terminated, of which the machine's backend must
     * offer at least one. host refuses a pipeline whose backend offers none
     * before any step runs, naming the installed backends that do. NULL:
     * the step works on any machine. */
    const char *const *needs;
} host_step;

typedef struct host_plugin {
    size_t struct_size;
    uint32_t abi_major; /* HOST_ABI_MAJOR the plugin was built against */
    uint32_t abi_minor; /* HOST_ABI_MINOR; a host older than it refuses it */
    const char *name;
    const char *version;
    size_t step_count;
    const host_step *const *steps;
} host_plugin;

/* The exported entry, called once, right after dlopen. It must not call
 * host (there is no call context yet) and must return the same pointer
 * every time. */
typedef const host_plugin *(*host_plugin_entry_fn)(void);

/* (1.3) A typed argument as host converted it from the command line, for
 * backend functions (create_with, set_run_arguments), which have no libffi
 * signature of their own. Owned by host, valid for the call. */
typedef struct host_argument {
    const char *name;   /* the parameter's name */
    host_param_type type;
    union {
        const char *string;           /* STRING */
        int64_t integer;              /* INT */
        bool boolean;                 /* BOOL */
        double number;                /* DOUBLE */
        const host_string_list *list; /* LIST, REST */
        const host_kv_list *pairs;    /* KWARGS */
    } value;
} host_argument;

typedef struct host_arguments {
    size_t count;
    const host_argument *items; /* in the order the parameters are declared */
} host_arguments;

/* ---- Host services: what a step may ask of host -------------------------- */

typedef enum host_log_level {
    HOST_LOG_DEBUG = 0,
    HOST_LOG_INFO = 1,
    HOST_LOG_WARNING = 2,
} host_log_level;

/* services->exec flags */
#define HOST_EXEC_STREAM 0x1u /* also print the output on host's terminal */

typedef struct host_exec_result {
    size_t struct_size;
    int32_t exit_status; /* the command's status; 128+N when killed by signal N */
    /* Captured output, owned by host, valid until the step's entry returns;
     * each is NUL-terminated after its length (out[out_len] == 0), but may
     * hold NUL bytes before it: use the lengths. */
    const char *out;
    size_t out_len;
    const char *err;
    size_t err_len;
} host_exec_result;

/* services->console_expect flags */
#define HOST_EXPECT_REGEX 0x1u /* pattern is a POSIX extended regex, not literal */

typedef struct host_services {
    size_t struct_size;

    /* Writes a line to the step's log (CACHE/machines/KEY/log.txt once
     * cached; kept in CACHE/logs when the step fails, a transient step's
     * only then) and, at INFO and WARNING, to host's standard error as
     * `host: STEP: message` (unless -q; DEBUG only with -v). There is no
     * service for standard output: a plugin's own printf goes to host's
     * stdout, as does a command's output with HOST_EXEC_STREAM. host does
     * not capture it and writes streamed output straight to descriptor 1,
     * so fflush(stdout) before returning and before an exec with
     * HOST_EXEC_STREAM: into a pipe or file, stdio's buffer would come out
     * only when host exits, after later output, or never if it is killed. */
    void (*log)(host_call *call, host_log_level level, const char *message);
    /* Records why the call failed; the plugin then returns HOST_ERROR. */
    void (*set_error)(host_call *call, const char *message);

    /* Runs `command` with /bin/sh -c in the machine and waits for it
     * (starting the machine first if need be), through host_backend.exec:
     * empty standard input, the machine's environment and starting
     * directory, never host's (write `cd DIR && VAR=x cmd`). A command that
     * runs and fails is HOST_OK with a non-zero exit_status; HOST_ERROR
     * means it could not be run. `result` is filled by host. */
    host_status (*exec)(host_call *call, host_machine *machine, const char *command,
                        uint32_t flags, host_exec_result *result);
    /* Copies a file or directory between host and machine. A file goes to
     * exactly the target path, replacing a file there (its directory must
     * exist; a directory there is an error). A directory's contents go
     * into the target path, made when missing and merged into when it
     * exists (same names replaced, others kept): `./app` to /root/app gives
     * /root/app/x, never /root/app/app/x. A relative machine path starts
     * where commands start. host_backend.upload/download do the same. */
    host_status (*upload)(host_call *call, host_machine *machine, const char *local_path,
                          const char *machine_path);
    host_status (*download)(host_call *call, host_machine *machine, const char *machine_path,
                            const char *local_path);

    /* Writes `length` bytes to the machine's console, as typed. */
    host_status (*console_send)(host_call *call, host_machine *machine, const char *data, size_t length);
    /* Reads the console until `pattern` appears (flags: HOST_EXPECT_REGEX) or
     * timeout_ms passes (an error). Everything read goes to the step log. */
    host_status (*console_expect)(host_call *call, host_machine *machine, const char *pattern,
                                  uint32_t flags, int64_t timeout_ms);

    /* Applies another step, written as command-line words (argv[0] is the
     * step name), to `machine` as it was given to this step, and sets *result
     * to the machine it returns. The result is cached on its own, like a
     * pipeline step. *result is owned by host; `machine` stays usable. */
    host_status (*apply)(host_call *call, host_machine *machine, size_t argc,
                         const char *const *argv, host_machine **result);

    /* The result of this step depends on this host file (or directory, as
     * a tree): when its content changes (its SHA-256, not its mtime), the
     * step is run again. (1.6) A relative path is taken from host's working
     * directory and recorded as given, relative, so that a later run in
     * another folder checks the file of that folder, never the first one's;
     * an absolute path is recorded as it is. A path that does not exist
     * fails the call (HOST_ERROR). A PATH parameter needs no such call.
     * The digest is taken during this call, so call it before reading the
     * file: a change after it, while the step runs, makes the next run see
     * the file changed and run the step again. */
    host_status (*depend_file)(host_call *call, const char *path);
    /* The result of this step must not be reused after `seconds`. */
    void (*cap_expiry)(host_call *call, int64_t seconds);
    /* host exits with this status when the pipeline ends (exec, tests).
     * One value for the run: the last call wins, whichever step made it.
     * A step that then fails (HOST_ERROR) makes host exit with it too, or
     * with 1 when it is 0; HOST_USAGE_ERROR always exits 64. */
    void (*set_exit_status)(host_call *call, int32_t status);

    /* The backend's own object for `machine`: meaningful only to the backend
     * plugin itself and to the functions of its extensions, which take it. */
    void *(*backend_machine)(host_call *call, host_machine *machine);
    /* A backend extension by versioned id ("host.qemu/1"), or NULL when the
     * machine's backend does not offer it. Owned by the backend plugin;
     * valid for the process lifetime. Call its functions with the pointer
     * backend_machine gives. */
    const void *(*extension)(host_call *call, host_machine *machine, const char *id);

    /* Starts (or restores) the machine now rather than on first use. */
    host_status (*start)(host_call *call, host_machine *machine);
    /* The path of this user's SSH private key for machines (the public key
     * is beside it, with ".pub"), created with mode 0600 on first use; NULL
     * on error. Owned by host, valid for the process lifetime. Also callable
     * from backend functions. */
    const char *(*identity)(host_call *call);
    /* Reads what the console printed (first whatever console_expect read past
     * its match), waiting up to timeout_ms for the first byte; *length 0
     * means nothing came in time. For interactive consoles. */
    host_status (*console_read)(host_call *call, host_machine *machine, char *buffer, size_t capacity,
                                int64_t timeout_ms, size_t *length);
    /* (ABI 1.1) Downloads `url` (showing progress) and returns the local file's path;
     * NULL on error. With `checksum` ("sha256:HEX" or "sha512:HEX") the file
     * goes into host's download cache: kept across runs, resumed when an
     * earlier download was cut off, and returned only when its digest
     * matches (a mismatch deletes it). With NULL it is a fresh, unverified
     * copy for this call only, for small files such as an index or the
     * checksum list itself. The path is owned by host, valid until the call
     * returns. */
    const char *(*fetch)(host_call *call, const char *url, const char *checksum);

    /* (1.5) Checkpoints, for a step that works in stages and wants a later
     * run to skip the stages that did not change (script.debug). Saves
     * `machine` as it is now, running processes and all, as a cached entry
     * of its own, a child of the machine this step received, which
     * services->resume finds again by the same `key` in a later run of
     * this step (same plugin build) on that machine. The machine is saved,
     * stopped and restored: *result is the machine to go on with and
     * `machine` is no longer valid. When a usable entry for `key` exists
     * already nothing is saved and *result is `machine`. `description`
     * ("checkpoint after line 12") names the entry in `host cache ls`. */
    host_status (*checkpoint)(host_call *call, host_machine *machine, const char *key,
                              const char *description, host_machine **result);
    /* (1.5) The machine checkpoint saved under `key`, to be started (or
     * restored) on first use, or NULL when there is none usable (never
     * saved, expired, damaged: host has then logged why). */
    host_machine *(*resume)(host_call *call, const char *key);
    /* (1.5) Stops a machine this step got from apply, checkpoint or resume,
     * without saving it; the handle is invalid afterwards. The machine the
     * step received cannot be discarded. */
    void (*discard)(host_call *call, host_machine *machine);
} host_services;

/* What every call from host gives a plugin. Owned by host, valid until the
 * called function returns. */
struct host_call {
    size_t struct_size;
    const host_services *services;
    const char *step_name; /* the step being run, or the backend's step */
};

/* ---- (1.7) Machines that live -------------------------------------------- *
 *
 * A named machine (`host up --name=NAME PIPELINE`) is a machine host
 * restored from the cache and keeps running after the command returns. A
 * small process of host's own, the machine's monitor, makes it with the
 * usual calls (clone, set_run_arguments, up) and then holds it: every
 * later `host exec`, `cp`, `console` and `stop` is a call the monitor
 * makes on the same `void *machine`, on its main thread, one at a time,
 * as during a run. So a backend needs nothing new to keep a machine
 * running; what follows lets it do more, and each part is optional. */

/* host_backend.exec_with: a command with standard input and a terminal. */
#define HOST_EXEC_TTY 0x1u /* a pseudo-terminal for the command (`host exec -t`) */

typedef struct host_exec_request {
    size_t struct_size;
    const char *command;   /* run with /bin/sh -c, as host_backend.exec */
    /* The whole of standard input (`host exec -i`), read by host before
     * the call; input_length 0 is empty input. */
    const char *input;
    size_t input_length;
    uint32_t flags;        /* HOST_EXEC_TTY */
} host_exec_request;

/* host_backend.change: what may change on a running machine. */
typedef enum host_change_kind {
    /* A TCP forward, `spec` as backend.qemu's --forward writes it:
     * [ADDRESS:]HOSTPORT:GUESTPORT, the address 127.0.0.1 when left out. */
    HOST_CHANGE_FORWARD_ADD = 1,
    HOST_CHANGE_FORWARD_REMOVE = 2,
    /* A disk: `path` a raw or qcow2 image on the host (`format`), attached
     * as device `id` (host's name for it, unique on the machine); the
     * guest sees it with the serial `id`. Removed by id. */
    HOST_CHANGE_DISK_ATTACH = 3,
    HOST_CHANGE_DISK_DETACH = 4,
    /* A second network card on a private network of host's: `path` the
     * network's socket, `address` the card's MAC address. Removed by id. */
    HOST_CHANGE_NIC_ATTACH = 5,
    HOST_CHANGE_NIC_DETACH = 6,
    /* A host directory (`path`) shared at `guest_path`: containers bind it. */
    HOST_CHANGE_MOUNT = 7,
} host_change_kind;

typedef struct host_change {
    size_t struct_size;
    host_change_kind kind;
    const char *id;
    const char *spec;
    const char *path;
    const char *format;
    const char *address;
    const char *guest_path;
} host_change;

/* host_backend.clone_from: a clone with what a plain clone cannot say. */
#define HOST_CLONE_SHARED_MEMORY 0x1u /* map the saved RAM copy-on-write, shared by every copy */

typedef struct host_clone_request {
    size_t struct_size;
    /* The saved machine and every one it was built on, nearest first,
     * for backends whose machines are layers (overlay directories):
     * layers[0] is what clone's src_dir would be. */
    const char *const *layers;
    size_t layer_count;
    const char *dst_dir;
    uint32_t flags;        /* HOST_CLONE_* */
} host_clone_request;

/* ---- Backends ----------------------------------------------------------- */

/* Where a backend writes a command's output, chunk by chunk. */
typedef struct host_output {
    size_t struct_size;
    void *context;
    /* stream: 1 stdout, 2 stderr. `data` is borrowed for the call. */
    void (*write)(void *context, int stream, const char *data, size_t length);
} host_output;

/* A machine, as the backend sees it, is a `void *` it allocates and a
 * directory host gives it. host never looks inside either. The directory is
 * empty when given to create/clone; after down returns it holds everything
 * the machine needs to be cloned later, and host may then move it (so saved
 * state must refer to its own files by relative path). host records every
 * file's size and SHA-256 then, and rebuilds a saved machine whose files
 * changed: never write into a saved machine's directory.
 *
 * Required: clone, up, down, drop, exec, upload, download, console_send,
 * console_read, and create or create_with; host refuses a plugin without
 * one, naming it. A backend that cannot do one sets it anyway and returns
 * HOST_ERROR with a message. The rest may be NULL; each says what host
 * does then. Fields past a table's struct_size read as NULL. */
struct host_backend {
    size_t struct_size;
    /* A new, empty machine stored in `dir`, configured afterwards by the
     * backend step's entry. (1.3: create_with, below, replaces it.) */
    host_status (*create)(host_call *call, const char *dir, void **machine);
    /* A new machine in `dst_dir` that starts as the saved machine in
     * `src_dir` is. src_dir is read-only for the backend, and stays in place
     * while the clone exists. */
    host_status (*clone)(host_call *call, const char *src_dir, const char *dst_dir, void **machine);
    /* Starts or restores the machine. Called before any exec/console/file
     * operation; host calls it at most once per machine. */
    host_status (*up)(host_call *call, void *machine);
    /* Saves the machine's whole state into its directory and stops it. */
    host_status (*down)(host_call *call, void *machine);
    /* Stops the machine without saving and frees `machine`. Always the last
     * call for a machine, after down or instead of it. */
    void (*drop)(host_call *call, void *machine);
    /* Runs `command` with /bin/sh -c, streams its output to `output`, and
     * stores its exit status (128+N when killed by signal N). Standard
     * input is empty (/dev/null), never host's; the environment and the
     * starting directory are the machine's (host's VM backends: the
     * machine user's login environment and home), never host's. */
    host_status (*exec)(host_call *call, void *machine, const char *command,
                        const host_output *output, int32_t *exit_status);
    host_status (*upload)(host_call *call, void *machine, const char *local_path,
                          const char *machine_path);
    host_status (*download)(host_call *call, void *machine, const char *machine_path,
                            const char *local_path);
    /* Sends bytes to the console. */
    host_status (*console_send)(host_call *call, void *machine, const char *data, size_t length);
    /* Reads what the console printed, waiting up to timeout_ms for the first
     * byte; *length 0 means nothing came in time. */
    host_status (*console_read)(host_call *call, void *machine, char *buffer, size_t capacity,
                                int64_t timeout_ms, size_t *length);
    /* One line describing the machine for people (ports, state). Owned by the
     * backend, valid until the next call on this machine. May be NULL; host
     * calls it nowhere yet. */
    const char *(*describe)(host_call *call, void *machine);
    /* An extension by versioned id, or NULL. May be NULL: the machines then
     * offer none (services->extension returns NULL, steps whose `needs`
     * name one are refused, `host push` refuses the machines). */
    const void *(*extension)(const char *id);
    /* Checks that the saved machine in `dir` can still be cloned (its files
     * are all there and intact) before host reuses it. HOST_ERROR with a
     * message makes host rebuild it instead. May be NULL: host then relies on
     * its own check of the recorded files alone. */
    host_status (*check)(host_call *call, const char *dir);
    /* (1.2) The machine in `dir` is leaving the cache and will be deleted
     * once this returns: a saved one being removed or replaced, or one a
     * run that died was building. Release what the backend keeps for it
     * outside the directory (an image in a container store, say). Called
     * only when no run uses the machine; failures are the backend's to
     * report with services->log. May be NULL: host deletes the directory
     * and nothing else. */
    void (*forget)(host_call *call, const char *dir);
    /* (1.3) Like create, with every argument of the backend step (its
     * run-time ones included), so that the machine is configured where it
     * is made; the backend step's entry then runs on it as on any machine.
     * host calls it instead of create when it is set; a 1.3 backend may
     * leave create NULL (and a backend with create may leave this NULL).
     * HOST_USAGE_ERROR when an argument cannot be used. */
    host_status (*create_with)(host_call *call, const char *dir, const host_arguments *arguments, void **machine);
    /* (1.3) The backend step's HOST_PARAM_RUNTIME arguments for this run,
     * given for every machine right after create_with or clone and before
     * up, also when the backend step itself was reused from the cache: what
     * they set (forwarded ports) holds at every start and restore, and is
     * not saved by down. HOST_USAGE_ERROR when a value cannot be used. May
     * be NULL: host then drops the run-time arguments. */
    host_status (*set_run_arguments)(host_call *call, void *machine, const host_arguments *arguments);

    /* (1.7) The host processes the running machine is made of (QEMU; a
     * container's conmon), whose memory `host ls` shows and whose end
     * makes a named machine "dead". Writes at most `capacity` pids and sets
     * *count to how many there are; HOST_ERROR (or NULL) when it cannot say
     * (a machine on another computer): host then shows no memory and sees
     * the machine end only when a call on it fails. */
    host_status (*processes)(host_call *call, void *machine, int32_t *pids, size_t capacity, size_t *count);
    /* (1.7) exec with standard input and, with HOST_EXEC_TTY, a terminal
     * (a backend that cannot give one refuses it with a message). May be
     * NULL: host then refuses `host exec -i`, naming the backend. PluginKit
     * gives every Swift backend one: the input copied into the machine as a
     * file the command reads, unless the backend passes it itself (the
     * guest agent, SSH). */
    host_status (*exec_with)(host_call *call, void *machine, const host_exec_request *request,
                             const host_output *output, int32_t *exit_status);
    /* (1.7) Changes the running machine: forwards, disks, network cards,
     * mounts (host_change_kind); none of it is saved by down, and host
     * applies it again after every up. HOST_USAGE_ERROR for a value the
     * user wrote that cannot be used (a port taken, named in the message).
     * May be NULL: host refuses such changes, naming the backend. */
    host_status (*change)(host_call *call, void *machine, const host_change *change);
    /* (1.7) Like clone, given the whole chain (layers) and flags. host calls
     * it instead of clone when it is set and the request needs it. May be
     * NULL. */
    host_status (*clone_from)(host_call *call, const host_clone_request *request, void **machine);
    /* (1.7) For hypervisors with a daemon of their own (libvirtd) that keep
     * a machine running without any process of host's: detach hands the
     * running machine over (it is then no longer this process's to stop)
     * and writes into `token` (capacity bytes, NUL-terminated) what attach
     * needs to reach it again from another process. Both NULL: the
     * machine runs under host's monitor, as every machine may. */
    host_status (*detach)(host_call *call, void *machine, char *token, size_t capacity);
    host_status (*attach)(host_call *call, const char *dir, const char *token, void **machine);
};

/* The v1 sizes: host rejects anything smaller. */
#define HOST_PLUGIN_V1_SIZE (offsetof(host_plugin, steps) + sizeof(void *))
#define HOST_STEP_V1_SIZE (offsetof(host_step, backend) + sizeof(void *))
#define HOST_PARAM_V1_SIZE (offsetof(host_param, help) + sizeof(void *))
#define HOST_BACKEND_V1_SIZE (offsetof(host_backend, check) + sizeof(void *))

#ifdef __cplusplus
}
#endif

#endif /* HOST_PLUGIN_H */
