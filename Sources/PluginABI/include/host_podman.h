/*
 * host_podman.h: "host.podman/1", the name host.container/1
 * (host_container.h) had before ABI 1.3: its table is the first two
 * functions of host_container_v1. backend.podman-criu still answers to it,
 * so plugins built against it keep working; it goes away in ABI 1.4. Use
 * host_container.h.
 */
#ifndef HOST_PODMAN_H
#define HOST_PODMAN_H

#include "host_container.h"

#define HOST_PODMAN_V1 "host.podman/1"
typedef host_container_v1 host_podman_v1;

#endif /* HOST_PODMAN_H */
