/*
 * host_portable.h: the "host.portable/1" backend extension, offered by
 * backends whose saved machines are files in host's cache and nothing else
 * (backend.qemu), so that a machine can be pushed to an OCI registry and
 * pulled into another cache on another computer. A backend without it keeps
 * something elsewhere (podman's image store, a hypervisor's volumes), and
 * host refuses to push its machines. The rules of host_plugin.h (threads,
 * ownership, struct_size) hold here.
 */
#ifndef HOST_PORTABLE_H
#define HOST_PORTABLE_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_PORTABLE_V1 "host.portable/1"

typedef struct host_portable_v1 {
    size_t struct_size;
    /* The saved machine in `dir` (a backend's own directory, as `check`
     * gets) was saved in another cache and pulled into this one. Its files
     * are as they were saved; every absolute path in them that starts with
     * old_prefixes[i] must start with new_prefixes[i] instead (the machine
     * directories of the entries it was built on, there and here). Rewrite
     * them, then fail with an error that names the difference when this
     * computer cannot resume the machine (another emulator version, machine
     * type, CPU model or accelerator): host then publishes nothing. Called
     * before the entries are published, so the new paths do not exist yet. */
    host_status (*adopt)(host_call *call, const char *dir, const char *const *old_prefixes,
                         const char *const *new_prefixes, size_t count);
} host_portable_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_PORTABLE_H */
