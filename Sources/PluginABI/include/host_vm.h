/*
 * host_vm.h: the "host.vm/1" capability (ABI 1.3), offered by backends whose
 * machines are virtual machines: backend.qemu, and any third party's VM
 * backend. An operating-system plugin written against it runs on all of
 * them: it gets the table with services->extension(call, machine,
 * HOST_VM_V1) and calls its functions with services->backend_machine(call,
 * machine). The rules of host_plugin.h (threads, ownership, struct_size)
 * hold here.
 */
#ifndef HOST_VM_H
#define HOST_VM_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_VM_V1 "host.vm/1"

typedef struct host_vm_v1 {
    size_t struct_size;
    /* Makes the machine boot this kernel and initrd (host files; the backend
     * copies them into the machine) with this kernel command line, appended
     * to the backend's own console settings. With kernel NULL the machine
     * boots its disk's own boot loader through the firmware instead (cloud
     * images). Only before the first boot. */
    host_status (*set_boot)(host_call *call, void *machine, const char *kernel, const char *initrd,
                            const char *append);
    /* Tells the backend the guest's shell prompt on the serial console, so
     * that exec and file transfer can drive the console when the guest has
     * no SSH server. Only before the first boot. */
    host_status (*set_console_prompt)(host_call *call, void *machine, const char *prompt);
    /* The 127.0.0.1 port forwarded to the guest's port 22 while the machine
     * runs; 0 when it is not running or its SSH is not forwarded. */
    int32_t (*ssh_port)(void *machine);
    /* Makes `image` (a host file in `format`, "raw" or "qcow2") the machine's
     * disk, copied, and grown to the disk size the backend was asked for
     * when it is smaller; only before the first boot. */
    host_status (*set_disk)(host_call *call, void *machine, const char *image, const char *format);
    /* The guest runs sshd: from now on exec and file transfer use SSH as
     * `user`, with the per-user identity, and accept only this host key (a
     * public key line such as "ssh-ed25519 AAAA..."), recorded in the
     * machine's own known_hosts. */
    host_status (*set_ssh)(host_call *call, void *machine, const char *user, const char *host_key);
    /* Attaches `image` (a host file, copied) as a read-only raw drive after
     * the disk, such as a cloud-init NoCloud seed; only before the first boot. */
    host_status (*attach_cdrom)(host_call *call, void *machine, const char *image);

    /* Since ABI 1.4 (check struct_size): the guest runs QEMU's guest agent
     * (qemu-guest-agent) on the virtio-serial port org.qemu.guest_agent.0,
     * and /dev/virtio-ports/ names ports: from now on exec and the clock
     * after a restore go through the agent (no key exchange), SSH staying
     * for sessions and file transfer. Only before the first boot. */
    host_status (*set_guest_agent)(host_call *call, void *machine);

    /* Since ABI 1.5 (check struct_size): reboots the running guest from
     * inside (systemd's reboot where systemd runs, else `reboot -f` after a
     * sync) and waits up to timeout_ms until host reaches it in its new
     * boot (a new /proc/sys/kernel/random/boot_id), through the guest agent
     * or SSH, or through the console shell once its prompt is back. */
    host_status (*reboot)(host_call *call, void *machine, int64_t timeout_ms);
} host_vm_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_VM_H */
