/* SwiftPM builds a C target only from sources; this one also proves at build
 * time that the header stands alone as C. */
#include "host_plugin.h"

_Static_assert(HOST_STEP_V1_SIZE == sizeof(host_step), "host_step v1 layout");
_Static_assert(HOST_PLUGIN_V1_SIZE == sizeof(host_plugin), "host_plugin v1 layout");
