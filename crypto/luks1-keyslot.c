/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks1-keyslot.c — writing LUKS1: a new header (random master key,
 * calibrated PBKDF2), adding a keyslot, erasing one.  Layout and limits as
 * QEMU creates them, so headers pass cryptsetup and qemu-img alike. */
#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>

#include "crypto/afsplit.h"
#include "crypto/luks-slots.h"
#include "crypto/luks1-priv.h"
#include "crypto/pbkdf.h"
#include "util/error.h"

#define DEFAULT_ITER_TIME_MS 2000

static bool random_bytes(void *buf, size_t len, GError **errp)
{
    if (gnutls_rnd(GNUTLS_RND_KEY, buf, len) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        return false;
    }
    return true;
}

static bool write_at(HbLuks1WriteFn write, void *opaque, uint64_t off, const void *buf,
                     size_t len, const char *what, GError **errp)
{
    int rc = write(opaque, off, buf, len);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot write %s", what);
        return false;
    }
    return true;
}

bool luks1_store_key(HbLuks1 *luks, int idx, const uint8_t *pass, size_t passlen,
                     int64_t iter_time_ms, HbLuks1WriteFn write, void *opaque, GError **errp)
{
    Luks1Slot *slot = &luks->hdr.slots[idx];
    uint32_t kb = luks->hdr.key_bytes;
    size_t splitlen = (size_t)luks1_split_sectors_exact(kb, slot->stripes) * HB_LUKS1_SECTOR_SIZE;
    g_autoptr(HbSecretBuf) split = hb_secret_buf_new(splitlen);
    g_autoptr(HbSecretBuf) slotkey = hb_secret_buf_new(kb);
    g_autoptr(HbSectorCipher) cipher = NULL;
    uint64_t iters;

    if (iter_time_ms <= 0) {
        iter_time_ms = DEFAULT_ITER_TIME_MS;
    }
    if (!random_bytes(slot->salt, LUKS1_SALT_LEN, errp) ||
        !hb_pbkdf2_count_iters(luks->hash, kb, (uint64_t)iter_time_ms, &iters, errp)) {
        return false;
    }
    slot->iters = (uint32_t)MAX(iters, LUKS1_MIN_ITERS);
    if (!hb_pbkdf2(luks->hash, pass, passlen, slot->salt, LUKS1_SALT_LEN, slot->iters,
                   slotkey->data, kb, errp)) {
        return false;
    }
    /* The stripes fill kb * 4000 bytes; the rest of the last sector stays zero. */
    if (!hb_afsplit_encode(luks->hash, kb, slot->stripes, luks->master_key->data, split->data,
                           errp)) {
        return false;
    }
    cipher = luks1_slot_cipher(luks, slotkey->data, errp);
    if (!cipher) {
        return false;
    }
    if (hb_sector_cipher_encrypt(cipher, 0, split->data, splitlen) < 0) {
        hb_error_set(errp, "Cannot encrypt LUKS keyslot %d key material", idx);
        return false;
    }
    if (!write_at(write, opaque, (uint64_t)slot->key_offset * HB_LUKS1_SECTOR_SIZE, split->data,
                  splitlen, "LUKS keyslot key material", errp)) {
        return false;
    }
    slot->active = LUKS1_KEY_SLOT_ENABLED;
    return luks1_write_header(luks, write, opaque, errp);
}

static bool fill_names(HbLuks1 *luks, const HbLuks1CreateOpts *o, GError **errp)
{
    Luks1Header *h = &luks->hdr;
    const char *ivhash = o->ivgen_hash_alg;
    g_autofree char *mode_spec = NULL;

    if (!hb_cipher_alg_lookup(o->cipher_alg ? o->cipher_alg : "aes-256", &luks->alg, errp) ||
        !hb_cipher_mode_lookup(o->cipher_mode ? o->cipher_mode : "xts", &luks->mode, errp) ||
        !hb_ivgen_lookup(o->ivgen_alg ? o->ivgen_alg : "plain64", &luks->ivgen, errp) ||
        !hb_hash_lookup(o->hash_alg ? o->hash_alg : "sha256", &luks->hash, errp)) {
        return false;
    }
    if (luks->ivgen == HB_IVGEN_ESSIV && !ivhash) {
        ivhash = "sha256";
    }
    /* Like QEMU and dm-crypt, a hash given with plain/plain64 is kept and ignored. */
    luks->has_ivhash = ivhash != NULL;
    if (ivhash) {
        if (!hb_hash_lookup(ivhash, &luks->ivhash, errp)) {
            return false;
        }
        mode_spec = g_strdup_printf("%s-%s:%s", hb_cipher_mode_name(luks->mode),
                                    hb_ivgen_name(luks->ivgen), ivhash);
    } else {
        mode_spec = g_strdup_printf("%s-%s", hb_cipher_mode_name(luks->mode),
                                    hb_ivgen_name(luks->ivgen));
    }
    if (luks->ivgen == HB_IVGEN_ESSIV) {
        HbCipherAlg ealg;
        if (!hb_essiv_cipher(luks->ivhash, &ealg, errp)) {
            return false;
        }
    }
    g_strlcpy(h->cipher_name, "aes", sizeof(h->cipher_name));
    g_strlcpy(h->cipher_mode, mode_spec, sizeof(h->cipher_mode));
    g_strlcpy(h->hash_spec, hb_hash_name(luks->hash), sizeof(h->hash_spec));
    h->key_bytes = (uint32_t)hb_cipher_key_len(luks->alg, luks->mode);
    return true;
}

bool hb_luks1_create(HbLuks1WriteFn write, void *opaque, const HbLuks1CreateOpts *opts,
                     const uint8_t *passphrase, size_t passphrase_len, uint64_t *header_size,
                     GError **errp)
{
    static const HbLuks1CreateOpts defaults = { 0 };
    const HbLuks1CreateOpts *o = opts ? opts : &defaults;
    g_autoptr(HbLuks1) luks = g_new0(HbLuks1, 1);
    Luks1Header *h = &luks->hdr;
    int64_t iter_time = o->iter_time_ms > 0 ? o->iter_time_ms : DEFAULT_ITER_TIME_MS;
    uint64_t iters;

    memcpy(h->magic, luks1_magic, sizeof(h->magic));
    h->version = 1;
    if (!fill_names(luks, o, errp)) {
        return false;
    }
    g_autofree char *uuid = g_uuid_string_random();
    g_strlcpy(h->uuid, uuid, sizeof(h->uuid));

    luks->master_key = hb_secret_buf_new(h->key_bytes);
    if (!random_bytes(luks->master_key->data, h->key_bytes, errp) ||
        !random_bytes(h->mk_salt, LUKS1_SALT_LEN, errp)) {
        return false;
    }
    /* The digest gets an eighth of the slot's time, as QEMU and cryptsetup do. */
    if (!hb_pbkdf2_count_iters(luks->hash, LUKS1_DIGEST_LEN, (uint64_t)iter_time, &iters, errp)) {
        return false;
    }
    h->mk_iters = (uint32_t)MAX(iters / 8, LUKS1_MIN_ITERS);
    if (!hb_pbkdf2(luks->hash, luks->master_key->data, h->key_bytes, h->mk_salt, LUKS1_SALT_LEN,
                   h->mk_iters, h->mk_digest, LUKS1_DIGEST_LEN, errp)) {
        return false;
    }

    uint32_t split = luks1_split_sectors(h->key_bytes, LUKS1_STRIPES);
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        h->slots[i].active = LUKS1_KEY_SLOT_DISABLED;
        h->slots[i].key_offset = LUKS1_HEADER_SECTORS + (uint32_t)i * split;
        h->slots[i].stripes = LUKS1_STRIPES;
    }
    uint32_t header_sectors = LUKS1_HEADER_SECTORS + HB_LUKS1_NUM_KEYSLOTS * split;
    h->payload_offset = o->detached_header ? 0 : header_sectors;
    *header_size = (uint64_t)header_sectors * HB_LUKS1_SECTOR_SIZE;

    /* Write the whole area first: cryptsetup wants a detached header volume
     * to hold every keyslot, and stale bytes must not look like key material. */
    g_autofree uint8_t *zeros = g_malloc0(64 * 1024);
    for (uint64_t off = 0; off < *header_size; off += 64 * 1024) {
        size_t n = (size_t)MIN(64 * 1024, *header_size - off);
        if (!write_at(write, opaque, off, zeros, n, "LUKS header", errp)) {
            return false;
        }
    }
    luks->cipher = luks1_slot_cipher(luks, luks->master_key->data, errp);
    if (!luks->cipher) {
        return false;
    }
    return luks1_store_key(luks, 0, passphrase, passphrase_len, iter_time, write, opaque, errp);
}

static uint32_t active_mask(const HbLuks1 *luks)
{
    uint32_t m = 0;
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        m |= (uint32_t)(luks->hdr.slots[i].active == LUKS1_KEY_SLOT_ENABLED) << i;
    }
    return m;
}

bool hb_luks1_add_keyslot(HbLuks1 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                          int slot, const uint8_t *pass, size_t len, int64_t iter_time_ms,
                          GError **errp)
{
    uint8_t ondisk[HB_LUKS1_HEADER_LEN], mine[HB_LUKS1_HEADER_LEN];
    int rc;

    if (!luks->master_key) {
        hb_error_set(errp, "Cannot add a keyslot: the LUKS volume is not unlocked");
        return false;
    }
    if (!luks_slot_for_add(&slot, HB_LUKS1_NUM_KEYSLOTS, active_mask(luks), errp)) {
        return false;
    }
    /* Another process (or node) may have changed the header since we read it;
     * writing our stale copy back would destroy its keyslots. */
    rc = read(opaque, 0, ondisk, sizeof(ondisk));
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot read LUKS header");
        return false;
    }
    luks1_header_encode(&luks->hdr, mine);
    if (memcmp(ondisk, mine, sizeof(mine)) != 0) {
        hb_error_set(errp, "LUKS header changed on disk since it was opened");
        return false;
    }
    Luks1Slot saved = luks->hdr.slots[slot];
    if (!luks1_store_key(luks, slot, pass, len, iter_time_ms, write, opaque, errp)) {
        luks->hdr.slots[slot] = saved;
        return false;
    }
    return true;
}

bool hb_luks1_erase_keyslot(HbLuks1 *luks, HbLuks1WriteFn write, void *opaque, int slot,
                            GError **errp)
{
    if (!luks_slot_for_erase(slot, HB_LUKS1_NUM_KEYSLOTS, active_mask(luks), errp)) {
        return false;
    }
    Luks1Slot *s = &luks->hdr.slots[slot];
    /* Random bytes over the stripes: with any of them gone the key is gone. */
    size_t len = (size_t)luks1_split_sectors_exact(luks->hdr.key_bytes, s->stripes) *
                 HB_LUKS1_SECTOR_SIZE;
    g_autofree uint8_t *garbage = g_malloc(len);
    if (gnutls_rnd(GNUTLS_RND_NONCE, garbage, len) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        return false;
    }
    if (!write_at(write, opaque, (uint64_t)s->key_offset * HB_LUKS1_SECTOR_SIZE, garbage, len,
                  "LUKS keyslot key material", errp)) {
        return false;
    }
    s->active = LUKS1_KEY_SLOT_DISABLED;
    s->iters = 0;
    memset(s->salt, 0, sizeof(s->salt));
    return luks1_write_header(luks, write, opaque, errp);
}
