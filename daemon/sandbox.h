/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/sandbox.h — the seccomp allow-list hotblockd applies once startup is done. */
#ifndef HB_DAEMON_SANDBOX_H
#define HB_DAEMON_SANDBOX_H

#include <stdbool.h>
#include <glib.h>

/**
 * hb_sandbox_apply() - restrict the process to the system calls it needs
 * @errp: error
 *
 * Loads a seccomp filter into every thread of the process (TSYNC) and sets
 * no_new_privs.  A system call outside the allow-list fails with ENOSYS
 * instead of killing the daemon: glibc and GLib fall back gracefully on
 * ENOSYS (clone3 → clone, statx → newfstatat), and a forgotten entry shows
 * up as an error reply rather than a dead daemon with guests attached.
 * Nothing is logged.
 *
 * What stays possible: file and UNIX-socket I/O, memory management
 * (including mlock and memfd), threads and their synchronisation, poll/epoll,
 * eventfd/timerfd, signals, a fixed set of ioctls (block device geometry,
 * discard, FIONREAD/FIONBIO, TCGETS).  What goes: exec, fork of a new
 * program, ptrace (except under sanitizers, whose leak checker needs it),
 * mount, module loading, non-UNIX sockets, personality, reboot, ...
 *
 * Call it once, after every startup file and socket is open; the filter
 * cannot be removed.
 *
 * Return: true on success; false with @errp set (the process is unchanged).
 */
bool hb_sandbox_apply(GError **errp);

#endif
