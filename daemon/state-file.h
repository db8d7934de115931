/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/state-file.h — --state-file: the graph recorded, and rebuilt after a restart. */
#ifndef HB_DAEMON_STATE_FILE_H
#define HB_DAEMON_STATE_FILE_H

#include <glib.h>
#include <stdbool.h>

/*
 * Theory of operation
 *
 * The state file lists, in creation order, the commands that made what
 * exists now: object-add, blockdev-add, block-export-add and device_add,
 * each with the arguments it was given.  Every successful graph change
 * (those, their -del counterparts, blockdev-set-active) rewrites the
 * whole list: a new file is written and fsynced, then renamed over the
 * old one and the directory fsynced, so the file on disk is always one
 * whole list, the one before the change or the one after it.
 *
 * When the daemon starts and the file exists, it runs the list through the
 * same commands QMP clients use, and starts only if every one succeeds:
 * otherwise it stops with an error naming the item, having closed what
 * it opened.  VMs configured to reconnect then find their disks again,
 * and hand their inflight buffers back (INFLIGHT_SHMFD).
 *
 * No plaintext secret is written: a secret object given as plain "data"
 * is refused while a state file is kept (its "file" is recorded by
 * reference; "data" encrypted with "keyid" and "iv" is recorded as the
 * ciphertext it is).
 */

/**
 * hb_state_file_open() - keep the graph in @path from now on.
 * @have_graph_options: the command line has --object/--blockdev/--export
 *
 * Return: 1 if @path exists (call hb_state_file_replay() to rebuild the
 * graph), 0 if it does not (the command line builds it, and the file is
 * written when startup ends), -1 with @errp set: the file exists and the
 * command line also names a graph (which is the real one is not clear).
 */
int hb_state_file_open(const char *path, bool have_graph_options, GError **errp);

/**
 * hb_state_file_replay() - run the recorded commands in order.
 * Return: false with @errp naming the item that failed (or what is wrong
 * with the file); the caller then closes whatever was opened.
 */
bool hb_state_file_replay(GError **errp);

/**
 * hb_state_file_commit() - end of startup: write the file (it now exists)
 * and record each graph change from here on.
 */
bool hb_state_file_commit(GError **errp);

#endif
