/*
 * host_ssh.h: the "host.ssh/1" backend extension, offered by backends whose
 * running machines are reached over SSH (backend.qemu when the guest runs
 * sshd). Steps such as `ssh` use it without knowing the backend. The rules
 * of host_plugin.h (threads, ownership, struct_size) hold here.
 */
#ifndef HOST_SSH_H
#define HOST_SSH_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_SSH_V1 "host.ssh/1"

typedef struct host_ssh_v1 {
    size_t struct_size;
    /* The ssh(1) arguments that reach the running machine: options (identity,
     * the machine's known_hosts with strict checking, port) then the
     * destination, NULL-terminated, without the program name or a command.
     * Owned by the backend, valid until the next call on this machine; NULL
     * with an error set when the machine has no SSH server or is not
     * running (call services->start first). */
    const char *const *(*arguments)(host_call *call, void *machine);
} host_ssh_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_SSH_H */
