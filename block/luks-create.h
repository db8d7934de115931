/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-create.h — `hotblock-img create -f luks`: LUKS1 (the default, as
 * qemu-img) or LUKS2 (-o format=luks2). */
#ifndef HB_BLOCK_LUKS_CREATE_H
#define HB_BLOCK_LUKS_CREATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/**
 * hb_luks_create() - create a LUKS image file
 * @filename: the file (created or truncated; removed again on failure)
 * @size: payload bytes, or -1 (only with detached-header=on)
 * @opts: the -o options; those this driver takes are removed, the rest
 *        are left for the caller to refuse
 * @errp: qemu-img's texts where qemu-img has the option
 */
bool hb_luks_create(const char *filename, int64_t size, GHashTable *opts, GError **errp);

#endif
