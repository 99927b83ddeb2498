/*
 * host_container.h: the "host.container/1" capability (ABI 1.3), offered by
 * backends whose machines are containers: backend.podman-criu, and any
 * third party's container backend. Operating-system plugins give such a
 * machine its root filesystem through it; tools such as ansible learn from
 * it how to reach the running container. The rules of host_plugin.h
 * (threads, ownership, struct_size) hold here.
 */
#ifndef HOST_CONTAINER_H
#define HOST_CONTAINER_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_CONTAINER_V1 "host.container/1"

typedef struct host_container_v1 {
    size_t struct_size;
    /* Makes a root filesystem tarball (a host file, copied into the machine)
     * the container's image; only before the machine first starts. Its
     * /bin/sh is the console shell. */
    host_status (*set_root_filesystem)(host_call *call, void *machine, const char *tarball);
    /* The running container's name for the container tool; NULL when it is
     * not running (call services->start). Owned by the backend, valid until
     * the next call on this machine. */
    const char *(*container)(void *machine);
    /* How tools reach the container: the name of ansible's connection
     * plugin for it (its ansible_connection), the container being
     * ansible_host. Owned by the backend, valid for the process lifetime. */
    const char *(*connection)(void *machine);
} host_container_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_CONTAINER_H */
