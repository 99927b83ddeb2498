#ifndef HOST_CQCOW_SHIM_H
#define HOST_CQCOW_SHIM_H
#include <libqcow.h>
#endif
