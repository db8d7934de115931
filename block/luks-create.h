/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-create.h — `hotblock-img create -f luks`: LUKS1 (the default, as
 * qemu-img) or LUKS2 (-o format=luks2). */
#ifndef HB_BLOCK_LUKS_CREATE_H
#define HB_BLOCK_LUKS_CREATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/luks1.h"
#include "crypto/secret.h"

/*
 * What a new LUKS header looks like, typed: hotblock-img's -o options and
 * blockdev-create's luks members both come to this.  NULL and 0 mean the
 * default; the LUKS2-only members need @luks2.
 */
typedef struct HbLuksFormatOpts {
    bool luks2;                     /* format=luks2; else LUKS1, as qemu-img */
    const char *cipher_alg, *cipher_mode, *ivgen_alg, *ivgen_hash_alg, *hash_alg;
    int64_t iter_time_ms;
    const char *pbkdf;              /* LUKS2: pbkdf2, argon2i, argon2id */
    int64_t pbkdf_memory_kib;       /* LUKS2: Argon2 memory */
    int64_t pbkdf_parallel;         /* LUKS2: Argon2 lanes */
    int64_t sector_size;            /* LUKS2: 512 .. 4096 */
    bool detached;                  /* the payload on its own volume, from 0 */
} HbLuksFormatOpts;

/* Upper bounds of the LUKS2 knobs, for both front-ends (the lower bound is 1). */
#define HB_LUKS_PBKDF_MEMORY_MAX UINT32_MAX     /* KiB */
#define HB_LUKS_PBKDF_PARALLEL_MAX 16
#define HB_LUKS_SECTOR_SIZE_MAX 65536           /* crypto/luks2 narrows it to 512..4096 */

/**
 * hb_luks_format_check() - the rules between @o's members: "Parameter
 * 'pbkdf' needs format=luks2" and the like.
 */
bool hb_luks_format_check(const HbLuksFormatOpts *o, GError **errp);

/**
 * hb_luks_format() - write a new LUKS1 or LUKS2 header, keyslot 0 set to @pass
 * @write: writes the header volume
 * @opaque: for @write
 * @o: the header's options (checked with hb_luks_format_check() first)
 * @pass: keyslot 0's passphrase
 * @header_size: set to the bytes the header takes
 * @errp: the crypto layer's texts
 */
bool hb_luks_format(HbLuks1WriteFn write, void *opaque, const HbLuksFormatOpts *o,
                    const HbSecretBuf *pass, uint64_t *header_size, GError **errp);

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
