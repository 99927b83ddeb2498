/* SwiftPM builds a C target only from sources; this one also proves at build
 * time that every header stands alone as C. */
#include "host_plugin.h"
#include "host_container.h"
#include "host_podman.h"
#include "host_network.h"
#include "host_portable.h"
#include "host_qemu.h"
#include "host_ssh.h"
#include "host_vm.h"

_Static_assert(HOST_PLUGIN_V1_SIZE == sizeof(host_plugin), "host_plugin has not grown since v1");
_Static_assert(HOST_STEP_V1_SIZE + sizeof(void *) == sizeof(host_step), "host_step grew by `needs` in 1.3");
_Static_assert(offsetof(host_container_v1, connection) == sizeof(void *) * 3, "host.podman/1's table is a prefix of host.container/1's");
