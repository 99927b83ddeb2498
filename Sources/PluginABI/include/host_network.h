/*
 * host_network.h: the "host.network/1" backend extension, offered by
 * backends that can change what a machine's network reaches (backend.qemu).
 * The `seal` and `unseal` steps use it. A machine's network is chosen when
 * its emulator starts, like its forwarded ports: it is recorded with the
 * machine, never part of its disk or RAM. The rules of host_plugin.h
 * (threads, ownership, struct_size) hold here.
 */
#ifndef HOST_NETWORK_H
#define HOST_NETWORK_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_NETWORK_V1 "host.network/1"

typedef struct host_network_v1 {
    size_t struct_size;
    /* Gives the machine, from now on, the network `mode` names: "user" (the
     * guest reaches the outside as a program on this computer would),
     * "restricted" (no traffic out of the guest, to this computer or
     * beyond; ports forwarded into it, SSH's among them, still work) or
     * "none" (no network card). Kept when the machine is saved, so every
     * machine made from it has it until it is changed again. A running
     * machine is saved and restored into it (its processes go on). */
    host_status (*set_network)(host_call *call, void *machine, const char *mode);
} host_network_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_NETWORK_H */
