/*
 * host_podman.h: the "host.podman/1" backend extension, offered by
 * backend.podman-criu. OS plugins use it to give a container machine its
 * root filesystem; steps such as ansible use it to reach the container.
 * The rules of host_plugin.h (threads, ownership, struct_size) hold here.
 */
#ifndef HOST_PODMAN_H
#define HOST_PODMAN_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_PODMAN_V1 "host.podman/1"

typedef struct host_podman_v1 {
    size_t struct_size;
    /* Makes a root filesystem tarball (a host file, copied into the machine
     * and imported into podman's image store) the machine's image; only
     * before the machine first starts. Its /bin/sh is the console shell. */
    host_status (*set_root_filesystem)(host_call *call, void *machine, const char *tarball);
    /* The running container's name, for `podman exec` or ansible's podman
     * connection; NULL when it is not running (call services->start).
     * Owned by the backend, valid until the next call on this machine. */
    const char *(*container)(void *machine);
} host_podman_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_PODMAN_H */
