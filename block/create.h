/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/create.h — typed image creation: the file protocol and qcow2 on a node (blockdev-create). */
#ifndef HB_BLOCK_CREATE_H
#define HB_BLOCK_CREATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/node.h"
#include "qapi-types.h"

/**
 * hb_file_create() - make (or empty) a host file of @size bytes, as
 * QEMU's file driver creates one
 * @filename: created if missing (mode 0644); an existing file is
 *            truncated to 0 first
 * @size: its length
 * @prealloc: off (sparse), falloc (posix_fallocate) or full (zeroes
 *            written); "Unsupported preallocation mode: metadata"
 * @nocow: set the btrfs no-copy-on-write flag (ignored where the file
 *         system has none, as QEMU does)
 * @errp: "Could not create file: ...", QEMU's lock texts when another
 *        process uses the file, "Could not resize file: ..."
 *
 * The QEMU lock bytes for write and resize are held while it works, so a
 * file another QEMU or hotblockd is using is not touched.
 */
bool hb_file_create(const char *filename, uint64_t size, QapiPreallocMode prealloc,
                    bool nocow, GError **errp);

/**
 * hb_file_preallocate() - allocate [@from, @to) of @fd
 * @prealloc: falloc or full (off: nothing to do)
 * Return: 0 or -errno, with @errp set to QEMU's text.
 */
int hb_file_preallocate(int fd, uint64_t from, uint64_t to, QapiPreallocMode prealloc,
                        GError **errp);

#endif
