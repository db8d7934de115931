/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/mem-guard.h — survive a front-end truncating memory it shared with us. */
#ifndef HB_EXPORT_MEM_GUARD_H
#define HB_EXPORT_MEM_GUARD_H

#include <stddef.h>

/*
 * Theory of operation
 *
 * Guest RAM and the inflight buffer are files the front-end passed us and
 * can still truncate.  Touching a mapped page past the new end of such a
 * file raises SIGBUS, which would take the whole daemon down with one
 * hostile client.  The kernel's own copies (preadv into guest memory) just
 * fail with EFAULT; our loads and stores (ring indexes, descriptors,
 * headers, status bytes, LUKS bounce copies) are what need guarding.
 *
 * Every such mapping is registered here.  A SIGBUS inside a registered
 * range replaces the faulting page with a private zero page, so the access
 * completes, and raises that mapping's fault flag; the connection's owner
 * sees the flag once the request at hand is done and drops the connection.
 * Nothing the front-end sees changes: its file is already broken.  A SIGBUS
 * anywhere else keeps its default action (core dump).
 *
 * The table is read by the signal handler without locks: each slot has a
 * sequence count, odd while the slot is written.
 */

/**
 * hb_mem_guard_add() - guard [@start, @start + @len); a fault there sets
 * *@fault_flag to 1 (with __atomic builtins).  Any thread.
 * Return: 0, or -ENOSPC if the table is full (refuse the mapping then).
 */
int hb_mem_guard_add(void *start, size_t len, int *fault_flag);

/* Stop guarding the range that starts at @start (before unmapping it). */
void hb_mem_guard_remove(void *start);

#endif
