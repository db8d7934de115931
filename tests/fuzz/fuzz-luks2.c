/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-luks2.c — libFuzzer target: LUKS2 binary headers, the JSON
 * metadata parser, unlocking, and re-keying what unlocks. */

/*
 * The input is a LUKS2 header volume (both header copies, then the keyslots
 * area).  It is opened for metadata only, and on inputs whose last byte has
 * its low bit clear (the seeds end with a zero byte past the keyslots area,
 * which the format ignores), also with the passphrase "fuzz", which walks the KDF,
 * the area cipher, the AF merge and the digest check, and on success one
 * sector is encrypted and decrypted back, and (rekey()) a keyslot is added
 * and erased on a writable copy: the JSON editing and both header writes
 * run on whatever metadata the fuzzer made that still unlocks.  The seeds
 * (gen-luks2-seeds.sh) unlock with that passphrase.
 *
 * Both copies carry a checksum, which nearly every mutation breaks; so on
 * inputs whose last byte has bit 1 clear the harness first recomputes the
 * sha256 checksums of the copies at 0 and at the primary's hdr_size (when
 * those fit in the input), and the mutations reach the JSON parser.  With
 * the bit set, the checksums are left as the fuzzer made them.
 *
 * KDF costs come from the JSON, where the harness cannot clamp them
 * without breaking checksums, so the limits themselves are set low: 20000
 * PBKDF2 iterations in all and 256 KiB of Argon2 memory (and so 32 x 256
 * KiB of time x memory).  The seeds' costs are below both, and what the
 * fuzzer makes above them is refused before any derivation, which is
 * itself under test.  Reads past the end of the input fail with -EIO.
 */

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/luks2.h"
#include "tests/lib/mem-read.h"

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

static void check_info(const HbLuks2 *luks)
{
    g_autofree HbLuks2Info *info = g_new0(HbLuks2Info, 1);

    hb_luks2_get_info(luks, info);
    if (!memchr(info->cipher_alg, 0, sizeof(info->cipher_alg)) ||
        !memchr(info->uuid, 0, sizeof(info->uuid)) ||
        !memchr(info->label, 0, sizeof(info->label)) ||
        info->nslots < 0 || info->nslots > HB_LUKS2_MAX_KEYSLOTS) {
        abort();
    }
    uint32_t ss = hb_luks2_sector_size(luks);
    if (ss < 512 || ss > 4096 || (ss & (ss - 1)) || hb_luks2_payload_offset(luks) % ss) {
        abort();
    }
    (void)hb_luks2_header_size(luks);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Redo the sha256 checksum of the header copy at @off of @len bytes. */
static void fix_checksum(uint8_t *d, size_t size, uint64_t off, uint64_t len)
{
    if (len < 4096 || len > size || off > size - len) {
        return;
    }
    memset(d + off + 448, 0, 64);
    hb_hash_bytes(HB_HASH_SHA256, d + off, len, d + off + 448);
}

static int buf_read(void *opaque, uint64_t offset, void *buf, size_t len)
{
    GByteArray *b = opaque;

    return hbt_mem_read(b->data, b->len, offset, buf, len);
}

static int buf_write(void *opaque, uint64_t offset, const void *buf, size_t len)
{
    return hbt_mem_write(opaque, offset, buf, len);
}

/*
 * Add a keyslot under "new" to an unlocked copy, then erase it.  Every step
 * may be refused (no free id or room, metadata too big for the JSON area,
 * costs over the limits), but what is written must open again, the new
 * slot must never reject its passphrase, and an erase of it must succeed.
 */
static void rekey(const uint8_t *data, size_t size)
{
    static const uint8_t pass[] = "fuzz", npass[] = "new";
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GError) err = NULL;

    g_byte_array_append(b, data, (guint)size);
    g_autoptr(HbLuks2) luks = hb_luks2_open(buf_read, b, b->len, pass, sizeof(pass) - 1, &err);
    if (!luks) {
        abort();    /* it unlocked from the same bytes a moment ago */
    }
    /* The id -1 picks: the lowest one not in use. */
    g_autofree HbLuks2Info *info = g_new0(HbLuks2Info, 1);
    uint32_t used = 0;
    int slot = 0;
    hb_luks2_get_info(luks, info);
    for (int j = 0; j < info->nslots; j++) {
        used |= UINT32_C(1) << info->slots[j].id;
    }
    while (slot < HB_LUKS2_MAX_KEYSLOTS && (used >> slot & 1)) {
        slot++;
    }
    if (!hb_luks2_add_keyslot(luks, buf_read, buf_write, b, -1, npass, sizeof(npass) - 1, 1,
                              &err)) {
        if (getenv("FUZZ_VERBOSE")) {
            fprintf(stderr, "rekey: %s\n", err->message);
        }
        return;
    }
    if (getenv("FUZZ_VERBOSE")) {
        fprintf(stderr, "rekey: keyslot %d added\n", slot);
    }
    g_autoptr(HbLuks2) again = hb_luks2_open(buf_read, b, b->len, NULL, 0, &err);
    if (!again || hb_luks2_keyslot_matches(again, buf_read, b, slot, npass, sizeof(npass) - 1,
                                           &err) == 0) {
        abort();
    }
    g_clear_error(&err);
    if (!hb_luks2_erase_keyslot(luks, buf_write, b, slot, &err)) {
        abort();
    }
    g_autoptr(HbLuks2) after = hb_luks2_open(buf_read, b, b->len, NULL, 0, &err);
    if (!after) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pass[] = "fuzz";
    static bool limited;
    GError *err = NULL;
    HbLuks2 *luks;
    g_autofree uint8_t *copy = NULL;
    Vol vol = { .data = data, .len = size };

    if (!limited) {
        hb_luks1_set_max_iterations(20000);
        hb_luks2_set_max_memory(256);
        limited = true;
    }
    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    if (size >= 4096 && !(data[size - 1] & 2)) {
        uint64_t hdr_size = get64(data + 8);
        copy = g_memdup2(data, size);
        fix_checksum(copy, size, 0, hdr_size);
        fix_checksum(copy, size, hdr_size, hdr_size);
        vol.data = data = copy;
    }
    luks = hb_luks2_open(vol_read, &vol, size, NULL, 0, &err);
    if (!luks) {
        g_assert(err != NULL);
        g_clear_error(&err);
        return 0;
    }
    g_assert(!hb_luks2_has_key(luks));
    check_info(luks);
    hb_luks2_free(luks);

    if (size && (data[size - 1] & 1)) {
        return 0;
    }
    luks = hb_luks2_open(vol_read, &vol, size, pass, sizeof(pass) - 1, &err);
    if (!luks) {
        g_assert(err != NULL);
        /* FUZZ_VERBOSE=1 with -runs=0 shows why a seed does not unlock. */
        if (getenv("FUZZ_VERBOSE")) {
            fprintf(stderr, "unlock: %s\n", err->message);
        }
        g_clear_error(&err);
        return 0;
    }
    g_assert(hb_luks2_has_key(luks));
    check_info(luks);

    uint8_t sector[4096] = { 0 }, orig[4096];
    size_t ss = hb_luks2_sector_size(luks);
    memcpy(sector, data, MIN(sizeof(sector), size));
    memcpy(orig, sector, sizeof(sector));
    if (hb_luks2_encrypt(luks, 8, sector, ss) != 0 ||
        hb_luks2_decrypt(luks, 8, sector, ss) != 0 || memcmp(sector, orig, ss) != 0) {
        abort();
    }
    hb_luks2_free(luks);
    rekey(data, size);
    return 0;
}
