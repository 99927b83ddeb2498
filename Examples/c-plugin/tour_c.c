/* tour_c: every parameter type and the host services, from C, one step
 * each (Examples/swift-plugin/TourSwiftPlugin.swift shows checkpoints).
 * The guide is docs/plugins.md.
 *
 *   cc -shared -fPIC -Wall -Wextra -Werror -I PREFIX/include/host -o tour_c.so tour_c.c
 */
#include <stdio.h>
#include <string.h>

#include "host_plugin.h"

/* ---- tour_c.params: every parameter type --------------------------------- */

static host_status params(host_call *call, host_machine *machine, host_machine **result,
                          const char *name, int64_t count, double ratio, bool loud,
                          const host_string_list *tags, const host_string_list *words, const host_kv_list *extra) {
    char line[2048];
    int used = snprintf(line, sizeof line, "name=%s count=%lld ratio=%.2f loud=%s tags=", name, (long long)count, ratio,
                        loud ? "yes" : "no");
    for (size_t i = 0; i < tags->count && used < (int)sizeof line; i++)
        used += snprintf(line + used, sizeof line - (size_t)used, "%s%s", i ? "," : "", tags->items[i]);
    used += snprintf(line + used, sizeof line - (size_t)used, " words=");
    for (size_t i = 0; i < words->count && used < (int)sizeof line; i++)
        used += snprintf(line + used, sizeof line - (size_t)used, "%s%s", i ? "," : "", words->items[i]);
    used += snprintf(line + used, sizeof line - (size_t)used, " extra=");
    for (size_t i = 0; i < extra->count && used < (int)sizeof line; i++)
        used += snprintf(line + used, sizeof line - (size_t)used, "%s%s:%s", i ? "," : "", extra->keys[i], extra->values[i]);
    if (strchr(line, '\'') != NULL) {
        call->services->set_error(call, "no single quotes, please");
        return HOST_USAGE_ERROR; /* the user's words: exit 64 */
    }
    /* The result for people goes to standard output; progress goes to log. */
    printf("%s\n", line);
    fflush(stdout);
    char command[2200];
    snprintf(command, sizeof command, "echo '%s' > params.txt", line);
    host_exec_result out = {.struct_size = sizeof out};
    if (call->services->exec(call, machine, command, 0, &out) != HOST_OK) return HOST_ERROR;
    call->services->log(call, HOST_LOG_INFO, "wrote params.txt");
    *result = machine;
    return HOST_OK;
}

static const host_param p_name = {.struct_size = sizeof(host_param), .name = "name", .type = HOST_PARAM_STRING,
                                  .help = "a string (required: no default)"};
static const host_param p_count = {.struct_size = sizeof(host_param), .name = "count", .type = HOST_PARAM_INT,
                                   .default_value = "1", .help = "an int, 1 to 9", .flags = HOST_PARAM_BOUNDED,
                                   .minimum = 1, .maximum = 9};
static const host_param p_ratio = {.struct_size = sizeof(host_param), .name = "ratio", .type = HOST_PARAM_DOUBLE,
                                   .default_value = "0.5", .help = "a double, 0 to 1",
                                   .flags = HOST_PARAM_NAMED_ONLY | HOST_PARAM_BOUNDED, .minimum_double = 0, .maximum_double = 1};
static const host_param p_loud = {.struct_size = sizeof(host_param), .name = "loud", .type = HOST_PARAM_BOOL,
                                  .default_value = "false", .help = "a bool: --loud, --no-loud",
                                  .flags = HOST_PARAM_NAMED_ONLY};
static const host_param p_tag = {.struct_size = sizeof(host_param), .name = "tag", .type = HOST_PARAM_LIST,
                                 .default_value = "", .help = "a list: --tag=a --tag=b", .flags = HOST_PARAM_NAMED_ONLY};
static const host_param p_words = {.struct_size = sizeof(host_param), .name = "words", .type = HOST_PARAM_REST,
                                   .default_value = "", .help = "the positional words left over"};
static const host_param p_extra = {.struct_size = sizeof(host_param), .name = "extra", .type = HOST_PARAM_KWARGS,
                                   .help = "every --key=value not declared"};
static const host_param *const params_params[] = {&p_name, &p_count, &p_ratio, &p_loud, &p_tag, &p_words, &p_extra};

/* ---- tour_c.files: files, dependencies, expiry, capabilities ------------ */

static host_status files(host_call *call, host_machine *machine, host_machine **result, const char *file) {
    const host_services *s = call->services;
    /* `file` is a PATH parameter: its content is in the cache key, so editing
     * it (or naming another file) runs the step again. A file the step reads
     * that is no parameter would be declared with s->depend_file. */
    s->cap_expiry(call, 3600); /* and is reused for an hour at most */
    if (s->start(call, machine) != HOST_OK) return HOST_ERROR;
    if (s->upload(call, machine, file, "uploaded.txt") != HOST_OK) return HOST_ERROR;
    host_exec_result out = {.struct_size = sizeof out};
    /* HOST_EXEC_STREAM: the command's output shows as it comes. */
    if (s->exec(call, machine, "wc -c < uploaded.txt", HOST_EXEC_STREAM, &out) != HOST_OK) return HOST_ERROR;
    char back[4200];
    snprintf(back, sizeof back, "%s.back", file);
    if (s->download(call, machine, "uploaded.txt", back) != HOST_OK) return HOST_ERROR;
    const char *key = s->identity(call); /* this user's key for machines */
    char message[4400];
    snprintf(message, sizeof message, "identity %s; backend object %s; host.vm/1 %s", key ? "ready" : "missing",
             s->backend_machine(call, machine) ? "present" : "absent",
             s->extension(call, machine, "host.vm/1") ? "offered" : "not offered");
    s->log(call, HOST_LOG_INFO, message);
    *result = machine;
    return HOST_OK;
}

static const host_param p_file = {.struct_size = sizeof(host_param), .name = "file", .type = HOST_PARAM_PATH,
                                  .help = "a file on this computer"};
static const host_param *const files_params[] = {&p_file};

/* ---- tour_c.fetch: a download through host's cache ---------------------- */

static host_status fetch(host_call *call, host_machine *machine, host_machine **result, const char *url) {
    const char *local = call->services->fetch(call, url, NULL); /* unverified: small files only */
    if (local == NULL) return HOST_ERROR;
    if (call->services->upload(call, machine, local, "fetched.txt") != HOST_OK) return HOST_ERROR;
    *result = machine;
    return HOST_OK;
}

static const host_param p_url = {.struct_size = sizeof(host_param), .name = "url", .type = HOST_PARAM_STRING,
                                 .help = "an http(s) URL"};
static const host_param *const fetch_params[] = {&p_url};

/* ---- tour_c.console: type on the console and read what it prints -------- */

static host_status console(host_call *call, host_machine *machine, host_machine **result) {
    (void)result; /* returns nothing: transient */
    const host_services *s = call->services;
    const char *line = "echo console-$((6*7))\n";
    if (s->console_send(call, machine, line, strlen(line)) != HOST_OK) return HOST_ERROR;
    if (s->console_expect(call, machine, "console-[0-9]+", HOST_EXPECT_REGEX, 10000) != HOST_OK) return HOST_ERROR;
    char rest[256];
    size_t length = 0;
    if (s->console_read(call, machine, rest, sizeof rest - 1, 100, &length) != HOST_OK) return HOST_ERROR;
    rest[length] = 0;
    s->log(call, HOST_LOG_INFO, "the console answered");
    return HOST_OK;
}

/* ---- tour_c.check: host's exit status ----------------------------------- */

static host_status check(host_call *call, host_machine *machine, host_machine **result, const char *path) {
    (void)result;
    char command[4200];
    snprintf(command, sizeof command, "test -e '%s'", path);
    host_exec_result out = {.struct_size = sizeof out};
    if (call->services->exec(call, machine, command, 0, &out) != HOST_OK) return HOST_ERROR;
    call->services->set_exit_status(call, out.exit_status); /* host exits with it */
    return HOST_OK;
}

static const host_param p_path = {.struct_size = sizeof(host_param), .name = "path", .type = HOST_PARAM_STRING,
                                  .help = "a path in the machine"};
static const host_param *const check_params[] = {&p_path};

/* ---- tour_c.both: a step applying another, cached on its own ------------ */

static host_status both(host_call *call, host_machine *machine, host_machine **result) {
    const char *const argv[] = {"tour_c.params", "applied", "2"};
    host_machine *applied = NULL;
    if (call->services->apply(call, machine, 3, argv, &applied) != HOST_OK) return HOST_ERROR;
    *result = applied;
    return HOST_OK;
}

/* ---- the descriptor ------------------------------------------------------ */

#define STEP(step_name, step_summary, step_flags, list, function)                                   \
    {.struct_size = sizeof(host_step), .name = step_name, .summary = step_summary, .flags = step_flags, \
     .param_count = sizeof list / sizeof list[0], .params = list, .entry = (host_step_entry)function}

static const host_param *const no_params[1] = {NULL};

static const host_step s_params = STEP("tour_c.params", "Every parameter type, written to params.txt", 0, params_params, params);
static const host_step s_files = STEP("tour_c.files", "Upload a file, stream a command, download it back", 0, files_params, files);
static const host_step s_fetch = STEP("tour_c.fetch", "Download a URL through host and upload it", 0, fetch_params, fetch);
static const host_step s_console = {.struct_size = sizeof(host_step), .name = "tour_c.console",
                                    .summary = "Type on the console and read the answer", .flags = HOST_STEP_TRANSIENT,
                                    .param_count = 0, .params = no_params, .entry = (host_step_entry)console};
static const host_step s_check = STEP("tour_c.check", "Exit with whether a path exists in the machine", HOST_STEP_TRANSIENT,
                                      check_params, check);
static const host_step s_both = {.struct_size = sizeof(host_step), .name = "tour_c.both",
                                 .summary = "Apply tour_c.params to the machine", .param_count = 0, .params = no_params,
                                 .entry = (host_step_entry)both};
static const host_step *const steps[] = {&s_params, &s_files, &s_fetch, &s_console, &s_check, &s_both};

/* abi_minor 6: a PATH parameter and a double's range (host_plugin.h lists each minor's features). */
static const host_plugin plugin = {
    .struct_size = sizeof(host_plugin), .abi_major = HOST_ABI_MAJOR, .abi_minor = 6,
    .name = "tour_c", .version = "1.0.0", .step_count = sizeof steps / sizeof steps[0], .steps = steps,
};

const host_plugin *host_plugin_entry_v1(void) { return &plugin; }
