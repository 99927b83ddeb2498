/* A complete host plugin in C: cc -shared -fPIC -I PATH/TO/PluginABI/include */
#include <stdio.h>
#include <string.h>
#include "host_plugin.h"

/* The entry's parameters after the first three are the declared ones, in order. */
static host_status greet(host_call *call, host_machine *machine, host_machine **result,
                         const char *name, int64_t times) {
    if (strchr(name, '\'')) {
        call->services->set_error(call, "--name must not contain a single quote");
        return HOST_ERROR;
    }
    char command[512];
    snprintf(command, sizeof command, "for i in $(seq %lld); do echo 'Hello from C, %s!'; done > hello_c.txt",
             (long long)times, name);
    host_exec_result out = {.struct_size = sizeof out};
    if (call->services->exec(call, machine, command, 0, &out) != HOST_OK) return HOST_ERROR;
    if (out.exit_status != 0) {
        call->services->set_error(call, "could not write hello_c.txt");
        return HOST_ERROR;
    }
    *result = machine; /* keep the change: host caches the result */
    return HOST_OK;
}

static const host_param name_param = {.struct_size = sizeof(host_param), .name = "name", .type = HOST_PARAM_STRING,
                                      .default_value = "world", .help = "who to greet"};
static const host_param times_param = {.struct_size = sizeof(host_param), .name = "times", .type = HOST_PARAM_INT,
                                       .default_value = "1", .help = "how many lines"};
static const host_param *const greet_params[] = {&name_param, &times_param};

static const host_step greet_step = {
    .struct_size = sizeof(host_step),
    .name = "hello_c.greet",
    .summary = "Write a greeting from C into hello_c.txt in the machine",
    .param_count = 2,
    .params = greet_params,
    .entry = (host_step_entry)greet,
};
static const host_step *const steps[] = {&greet_step};

/* abi_minor 0: it uses nothing a later minor added, so every 1.x host loads it. */
static const host_plugin plugin = {
    .struct_size = sizeof(host_plugin), .abi_major = HOST_ABI_MAJOR, .abi_minor = 0,
    .name = "hello_c", .version = "1.0.0", .step_count = 1, .steps = steps,
};

const host_plugin *host_plugin_entry_v1(void) { return &plugin; }
