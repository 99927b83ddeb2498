/* TEST FIXTURE: one plugin, valid as written, that the tests compile with
 * -D switches to break in exactly one way each (see PluginLoadingTests). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "host_plugin.h"

#ifdef MARKER
/* Proves when host runs this file's code: at load time, before any entry. */
__attribute__((constructor)) static void mark(void) {
    FILE *marker = fopen(MARKER, "a");
    if (marker) { fputs("loaded\n", marker); fclose(marker); }
}
#endif

#ifdef CONSTRUCTOR_EXITS
/* Ends the process while it loads, as a careless library might. */
__attribute__((constructor)) static void leave(void) { exit(0); }
#endif

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "bad"
#endif
#ifndef STEP_NAME
#define STEP_NAME "bad.step"
#endif
#ifndef STEP_FLAGS
#define STEP_FLAGS 0
#endif
#ifndef PARAM_TYPE
#define PARAM_TYPE HOST_PARAM_STRING
#endif
#ifndef PARAM_NAME
#define PARAM_NAME "text"
#endif
#ifndef PARAM_DEFAULT
#define PARAM_DEFAULT "text"
#endif
#ifndef ABI_MAJOR
#define ABI_MAJOR HOST_ABI_MAJOR
#endif
#ifndef ABI_MINOR
#define ABI_MINOR HOST_ABI_MINOR
#endif
#ifndef PLUGIN_SIZE
#define PLUGIN_SIZE sizeof(host_plugin)
#endif

static host_status run(host_call *call, host_machine *machine, host_machine **result, const char *text) {
    (void)text;
#ifdef STEP_SEGFAULTS
    call->services->start(call, machine); /* a VM is running when it crashes */
    *(volatile int *)0 = 1;
#endif
    *result = machine;
    return HOST_OK;
}

static const host_param text_param = {sizeof(host_param), PARAM_NAME, PARAM_TYPE, PARAM_DEFAULT, "a parameter"};
#ifdef DUPLICATE_PARAM
static const host_param again_param = {sizeof(host_param), "text", HOST_PARAM_STRING, "", "the same name again"};
static const host_param *const params[] = {&text_param, &again_param};
#else
static const host_param *const params[] = {&text_param};
#endif

#ifdef BACKEND_SIZE
/* A backend table that only has to load: none of its functions is called. */
static void never_called(void) {}
#define STUB(field) .field = (__typeof__(((host_backend *)0)->field))never_called
static const host_backend backend = {
    .struct_size = BACKEND_SIZE, STUB(create), STUB(clone), STUB(up), STUB(down), STUB(drop), STUB(exec),
    STUB(upload), STUB(download), STUB(console_send), STUB(console_read),
};
#define STEP_BACKEND &backend
#undef STEP_FLAGS
#define STEP_FLAGS HOST_STEP_BACKEND
#else
#define STEP_BACKEND NULL
#endif

static const host_step step = {
    sizeof(host_step), STEP_NAME, "a fixture step", STEP_FLAGS, 0,
    sizeof params / sizeof *params, params, (host_step_entry)run, STEP_BACKEND,
};
#ifdef DUPLICATE_STEP
static const host_step *const steps[] = {&step, &step};
#else
static const host_step *const steps[] = {&step};
#endif

static const host_plugin plugin = {
    PLUGIN_SIZE, ABI_MAJOR, ABI_MINOR, PLUGIN_NAME, "1.0", sizeof steps / sizeof *steps, steps,
};

#ifdef NO_ENTRY
const host_plugin *not_the_entry(void) { return &plugin; }
#else
const host_plugin *host_plugin_entry_v1(void) {
#ifdef ENTRY_ABORTS
    abort();
#endif
#ifdef ENTRY_HANGS
    for (;;) sleep(1);
#endif
    return &plugin;
}
#endif
