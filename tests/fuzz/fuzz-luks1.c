/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-luks1.c — libFuzzer target: LUKS1 header and keyslot parsing, and unlocking. */

/*
 * The input is a LUKS1 header volume (header, then keyslot key material).
 * It is opened for metadata only, and on inputs whose byte 592 (the first
 * after the 592-byte header, zero in real headers) has its low bit clear,
 * also with the passphrase "fuzz", which walks PBKDF2, the keyslot
 * ciphers, the AF merge and the digest check, and on success one sector is
 * encrypted and decrypted back.  The seeds (gen-luks1-seeds.sh) unlock
 * with that passphrase.
 *
 * PBKDF2 iteration counts come from the input, so the harness clamps them
 * in its copy to at most 2000 (values above become 1 + v % 2000): a real
 * header's 1000 stays as is, and no input can make one run take seconds.
 * Reads past the end of the input fail with -EIO, as a short volume would.
 */

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/luks1.h"
#include "tests/lib/mem-read.h"

#define OFF_MK_ITERS 164
#define OFF_SLOTS 208
#define SLOT_LEN 48
#define SLOT_ITERS 4
#define MAX_ITERS 2000u
#define FUZZ_MAX_INPUT (512u * 1024)

typedef struct Vol {
    const uint8_t *data;
    size_t len;
} Vol;

static int vol_read(void *opaque, uint64_t offset, void *buf, size_t len)
{
    Vol *v = opaque;

    return hbt_mem_read(v->data, v->len, offset, buf, len);
}

static void clamp_iters(uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];

    if (v > MAX_ITERS) {
        v = 1 + v % MAX_ITERS;
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
    }
}

static void check_info(const HbLuks1 *luks)
{
    HbLuks1Info info;

    hb_luks1_get_info(luks, &info);
    /* The strings must be terminated within their fields. */
    if (!memchr(info.cipher_alg, 0, sizeof(info.cipher_alg)) ||
        !memchr(info.cipher_mode, 0, sizeof(info.cipher_mode)) ||
        !memchr(info.ivgen_alg, 0, sizeof(info.ivgen_alg)) ||
        !memchr(info.ivgen_hash_alg, 0, sizeof(info.ivgen_hash_alg)) ||
        !memchr(info.hash_alg, 0, sizeof(info.hash_alg)) ||
        !memchr(info.uuid, 0, sizeof(info.uuid))) {
        abort();
    }
    (void)hb_luks1_payload_offset(luks);
    (void)hb_luks1_header_size(luks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pass[] = "fuzz";
    g_autofree uint8_t *copy = NULL;
    GError *err = NULL;
    HbLuks1 *luks;
    Vol vol;

    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    copy = g_memdup2(data, size);
    if (size >= HB_LUKS1_HEADER_LEN) {
        clamp_iters(copy + OFF_MK_ITERS);
        for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
            clamp_iters(copy + OFF_SLOTS + i * SLOT_LEN + SLOT_ITERS);
        }
    }
    vol = (Vol){ .data = copy, .len = size };

    luks = hb_luks1_open(vol_read, &vol, size, NULL, 0, &err);
    if (!luks) {
        g_assert(err != NULL);
        g_clear_error(&err);
        return 0;
    }
    g_assert(!hb_luks1_has_key(luks));
    check_info(luks);
    hb_luks1_free(luks);

    if (size > HB_LUKS1_HEADER_LEN && (copy[HB_LUKS1_HEADER_LEN] & 1)) {
        return 0;
    }
    luks = hb_luks1_open(vol_read, &vol, size, pass, sizeof(pass) - 1, &err);
    if (!luks) {
        g_assert(err != NULL);
        /* FUZZ_VERBOSE=1 with -runs=0 shows why a seed does not unlock. */
        if (getenv("FUZZ_VERBOSE")) {
            fprintf(stderr, "unlock: %s\n", err->message);
        }
        g_clear_error(&err);
        return 0;
    }
    g_assert(hb_luks1_has_key(luks));
    check_info(luks);

    uint8_t sector[HB_LUKS1_SECTOR_SIZE] = { 0 }, orig[HB_LUKS1_SECTOR_SIZE];
    memcpy(sector, copy, MIN(sizeof(sector), size));
    memcpy(orig, sector, sizeof(sector));
    if (hb_luks1_encrypt(luks, 7, sector, sizeof(sector)) != 0 ||
        hb_luks1_decrypt(luks, 7, sector, sizeof(sector)) != 0 ||
        memcmp(sector, orig, sizeof(sector)) != 0) {
        abort();
    }
    hb_luks1_free(luks);
    return 0;
}
