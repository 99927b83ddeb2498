/*
 * host_sweep.h: the "host.sweep/1" backend extension, offered by backends
 * that keep things for machines outside host's cache (backend.podman-criu:
 * images and containers in podman's store; backend.libvirt: volumes in a
 * hypervisor's pool). host_backend.forget releases what one machine keeps
 * as it leaves the cache; but a machine whose backend could not be told
 * (its daemon was down, its record was unreadable) or that something was
 * made for after host died (a podman client that went on importing after
 * a SIGKILL) leaves things that nothing names any more. `host cleanup`
 * (`machines all|expired`, `everything`, `periodic`) asks every installed
 * backend that offers this extension to sweep them, after it removed the
 * machines it was asked to. An older host never asks: offering it needs
 * no higher host_plugin.abi_minor. The rules of host_plugin.h (threads,
 * ownership, struct_size) hold here.
 *
 * What a sweep must be able to tell, a backend marks on everything it
 * makes, when it makes it:
 *
 * - The cache it was made for. A backend's daemon (podman's store, a
 *   hypervisor) is shared by every cache of every user on the computer,
 *   and a remote hypervisor by other computers: a sweep removes only what
 *   was made for its own cache, on this computer. While a pipeline runs,
 *   the cache's directory is what host derives from the environment it
 *   shares with its plugins ($HOST_CACHE_DIR, else $XDG_CACHE_HOME/host,
 *   else ~/.cache/host), the same path the sweep gets as cache_directory.
 * - The host process that made it (its pid and start time on this
 *   computer). Runs go on while a cleanup sweeps: one may make something
 *   for a machine directory the sweep was never told of (it appeared
 *   after host listed them). What a process that is still running made,
 *   a sweep leaves alone.
 *
 * A backend that needs to know where to look (the hypervisors a cache
 * used) keeps that itself, in files of its own named after its plugin
 * under cache_directory; with none there it has nothing to sweep and
 * returns at once: host asks on every cleanup, of every installed backend.
 */
#ifndef HOST_SWEEP_H
#define HOST_SWEEP_H

#include "host_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOST_SWEEP_V1 "host.sweep/1"

/* host_sweep_scope.flags: `host cleanup everything` is sweeping. Remove,
 * besides, what the backend keeps for all its machines rather than for
 * one (a probe's test image or kernel, made again when needed), unless a
 * running process uses it. */
#define HOST_SWEEP_EVERYTHING 0x1u

/* What a sweep may remove and what it must leave. Allocated by host, which
 * sets struct_size; valid for the call. */
typedef struct host_sweep_scope {
    size_t struct_size;
    /* The cache's directory (absolute), as runs of host derive it. */
    const char *cache_directory;
    /* The machine directories that stay: every cached machine's (its
     * entry's `machine` directory) and those that runs of host are building
     * or using now, listed after the machines were removed. Keep everything
     * these name (in the backend's records in them) or that belongs to their
     * files (an image made of one), whichever process made it. */
    const char *const *live_directories;
    size_t live_count;
    /* HOST_SWEEP_* flags. */
    uint32_t flags;
} host_sweep_scope;

typedef struct host_sweep_v1 {
    size_t struct_size;
    /* Removes what the backend made for machines of scope->cache_directory
     * on this computer that no live directory names and no running host
     * process made; with HOST_SWEEP_EVERYTHING, also what it keeps for all
     * its machines. Never what another cache, computer or user made for
     * its machines, nor anything a running machine or container uses. A daemon that cannot
     * be reached keeps what it holds until a later sweep: remember where to
     * look until then. Failures are the backend's to report with
     * services->log (at WARNING, which the user sees; what was removed at
     * INFO or DEBUG); host goes on with the next backend. Called with no
     * lock of host's held; no
     * machine exists for the call (there is no host_machine to pass to the
     * services). */
    void (*sweep)(host_call *call, const host_sweep_scope *scope);
} host_sweep_v1;

#ifdef __cplusplus
}
#endif

#endif /* HOST_SWEEP_H */
