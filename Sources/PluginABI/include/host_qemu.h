/*
 * host_qemu.h: "host.qemu/1", the name host.vm/1 (host_vm.h) had before ABI
 * 1.3. backend.qemu still answers to it, with the same table, so plugins
 * built against it keep working; it goes away in ABI 1.4. Use host_vm.h.
 */
#ifndef HOST_QEMU_H
#define HOST_QEMU_H

#include "host_vm.h"

#define HOST_QEMU_V1 "host.qemu/1"
typedef host_vm_v1 host_qemu_v1;

#endif /* HOST_QEMU_H */
