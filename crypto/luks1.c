/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks1.c — opening a LUKS1 header: read, check, unlock a keyslot, then
 * the payload sector cipher and the metadata view.
 *
 * Theory of operation (LUKS1 specification): a keyslot holds the master key
 * AF-split into 4000 stripes and encrypted with a key derived from the
 * passphrase by PBKDF2 (slot salt, slot iterations), using the volume's own
 * cipher and IV scheme with sectors numbered from the key material's start.
 * Unlocking derives that key, decrypts, merges the stripes, and accepts the
 * result only if PBKDF2(master key, header salt, header iterations) matches
 * the 20-byte digest in the header.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>

#include "crypto/afsplit.h"
#include "crypto/luks1-priv.h"
#include "crypto/pbkdf.h"
#include "util/error.h"

/*
 * PBKDF2 iteration counts come from the header, which may be hostile: 2^32-1
 * iterations would take about 18 minutes per keyslot here.  Headers whose
 * unlock could need more than the limit are refused before any work.
 */
static uint32_t max_iterations = HB_LUKS1_DEFAULT_MAX_ITERATIONS;

void hb_luks1_set_max_iterations(uint32_t n)
{
    max_iterations = n;
}

uint32_t hb_luks1_max_iterations(void)
{
    return max_iterations;
}

/*
 * The limit bounds the whole unlock, not one keyslot: a wrong passphrase
 * (or a hostile header with eight active slots) tries every slot, each with
 * its own PBKDF2 and then the master-key digest's.
 */
static bool iterations_allowed(const HbLuks1 *luks, GError **errp)
{
    uint64_t total = 0;
    int active = 0;

    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        const Luks1Slot *slot = &luks->hdr.slots[i];
        if (slot->active == LUKS1_KEY_SLOT_ENABLED) {
            total += (uint64_t)slot->iters + luks->hdr.mk_iters;
            active++;
        }
    }
    if (total > max_iterations) {
        hb_error_set(errp, "LUKS header needs up to %" G_GUINT64_FORMAT " PBKDF2 "
                     "iterations to try its %d keyslot(s), more than the limit of %u "
                     "(--max-pbkdf-iterations)", total, active, max_iterations);
        return false;
    }
    return true;
}

HbSectorCipher *luks1_slot_cipher(const HbLuks1 *luks, const uint8_t *key, GError **errp)
{
    return hb_sector_cipher_new(luks->alg, luks->mode, luks->ivgen, luks->ivhash, key,
                                luks->hdr.key_bytes, errp);
}

/* 1: @mk holds the master key; 0: wrong passphrase for this slot; -1: error. */
static int load_key(const HbLuks1 *luks, int idx, const uint8_t *pass, size_t passlen,
                    HbLuks1ReadFn read, void *opaque, uint8_t *mk, GError **errp)
{
    const Luks1Slot *slot = &luks->hdr.slots[idx];
    uint32_t kb = luks->hdr.key_bytes;
    size_t splitlen = (size_t)luks1_split_sectors_exact(kb, slot->stripes) * HB_LUKS1_SECTOR_SIZE;
    g_autoptr(HbSecretBuf) split = hb_secret_buf_new(splitlen);
    g_autoptr(HbSecretBuf) slotkey = hb_secret_buf_new(kb);
    g_autoptr(HbSectorCipher) cipher = NULL;
    uint8_t digest[LUKS1_DIGEST_LEN];
    int rc;

    if (!hb_pbkdf2(luks->hash, pass, passlen, slot->salt, LUKS1_SALT_LEN, slot->iters,
                   slotkey->data, kb, errp)) {
        return -1;
    }
    rc = read(opaque, (uint64_t)slot->key_offset * HB_LUKS1_SECTOR_SIZE, split->data, splitlen);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot read LUKS keyslot %d key material", idx);
        return -1;
    }
    cipher = luks1_slot_cipher(luks, slotkey->data, errp);
    if (!cipher) {
        return -1;
    }
    if (hb_sector_cipher_decrypt(cipher, 0, split->data, splitlen) < 0) {
        hb_error_set(errp, "Cannot decrypt LUKS keyslot %d key material", idx);
        return -1;
    }
    if (!hb_afsplit_decode(luks->hash, kb, slot->stripes, split->data, mk, errp)) {
        return -1;
    }
    if (!hb_pbkdf2(luks->hash, mk, kb, luks->hdr.mk_salt, LUKS1_SALT_LEN, luks->hdr.mk_iters,
                   digest, sizeof(digest), errp)) {
        return -1;
    }
    return hb_digest_equal(digest, luks->hdr.mk_digest, LUKS1_DIGEST_LEN) ? 1 : 0;
}

int hb_luks1_slot_matches(const HbLuks1 *luks, HbLuks1ReadFn read, void *opaque, int slot,
                          const uint8_t *pass, size_t len, GError **errp)
{
    if (slot < 0 || slot >= HB_LUKS1_NUM_KEYSLOTS ||
        luks->hdr.slots[slot].active != LUKS1_KEY_SLOT_ENABLED) {
        return 0;
    }
    g_autoptr(HbSecretBuf) mk = hb_secret_buf_new(luks->hdr.key_bytes);
    return load_key(luks, slot, pass, len, read, opaque, mk->data, errp);
}

static bool unlock(HbLuks1 *luks, const uint8_t *pass, size_t passlen, HbLuks1ReadFn read,
                   void *opaque, GError **errp)
{
    g_autoptr(HbSecretBuf) mk = hb_secret_buf_new(luks->hdr.key_bytes);

    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        if (luks->hdr.slots[i].active != LUKS1_KEY_SLOT_ENABLED) {
            continue;
        }
        int rv = load_key(luks, i, pass, passlen, read, opaque, mk->data, errp);
        if (rv < 0) {
            return false;
        }
        if (rv == 1) {
            luks->cipher = luks1_slot_cipher(luks, mk->data, errp);
            if (!luks->cipher) {
                return false;
            }
            luks->master_key = g_steal_pointer(&mk);
            return true;
        }
    }
    hb_error_set(errp, "Invalid password, cannot unlock any keyslot");
    return false;
}

HbLuks1 *hb_luks1_open(HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                       const uint8_t *passphrase, size_t passphrase_len, GError **errp)
{
    g_autoptr(HbLuks1) luks = g_new0(HbLuks1, 1);
    uint8_t raw[HB_LUKS1_HEADER_LEN];
    int rc;

    if (volume_size < HB_LUKS1_HEADER_LEN) {
        hb_error_set(errp, "LUKS header is truncated: the volume has %" G_GUINT64_FORMAT
                     " bytes, a header needs %d", volume_size, HB_LUKS1_HEADER_LEN);
        return NULL;
    }
    rc = read(opaque, 0, raw, sizeof(raw));
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot read LUKS header");
        return NULL;
    }
    luks->volume_size = volume_size;
    if (!luks1_header_decode(raw, &luks->hdr, errp) || !luks1_header_check(luks, errp)) {
        return NULL;
    }
    if (passphrase) {
        if (!iterations_allowed(luks, errp)) {
            return NULL;
        }
        /* Each PBKDF2 runs as a slow job (crypto/pbkdf.c): seconds of it
         * must not stall the daemon's other clients. */
        if (!unlock(luks, passphrase, passphrase_len, read, opaque, errp)) {
            return NULL;
        }
    }
    return g_steal_pointer(&luks);
}

/* What a reread header must keep for the master key to still fit it. */
static const char *header_change(const Luks1Header *a, const Luks1Header *b)
{
    if (strcmp(a->cipher_name, b->cipher_name) || strcmp(a->cipher_mode, b->cipher_mode) ||
        strcmp(a->hash_spec, b->hash_spec) || a->key_bytes != b->key_bytes) {
        return "cipher";
    }
    if (a->payload_offset != b->payload_offset) {
        return "payload offset";
    }
    if (strcmp(a->uuid, b->uuid)) {
        return "UUID";
    }
    if (memcmp(a->mk_digest, b->mk_digest, LUKS1_DIGEST_LEN) ||
        memcmp(a->mk_salt, b->mk_salt, LUKS1_SALT_LEN) || a->mk_iters != b->mk_iters) {
        return "master key digest";
    }
    return NULL;
}

bool hb_luks1_reload(HbLuks1 *luks, HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                     GError **errp)
{
    g_autoptr(HbLuks1) fresh = hb_luks1_open(read, opaque, volume_size, NULL, 0, errp);

    if (!fresh) {
        return false;
    }
    const char *what = header_change(&luks->hdr, &fresh->hdr);
    if (what) {
        hb_error_set(errp, "LUKS header changed (%s): the volume is no longer the one "
                     "that was unlocked", what);
        return false;
    }
    /* Keyslots may have changed (a passphrase added elsewhere): take them. */
    luks->hdr = fresh->hdr;
    luks->volume_size = volume_size;
    return true;
}

void hb_luks1_free(HbLuks1 *luks)
{
    if (!luks) {
        return;
    }
    hb_sector_cipher_free(luks->cipher);
    hb_secret_buf_free(luks->master_key);
    gnutls_memset(luks, 0, sizeof(*luks));
    g_free(luks);
}

bool hb_luks1_has_key(const HbLuks1 *luks)
{
    return luks->cipher != NULL;
}

uint64_t hb_luks1_payload_offset(const HbLuks1 *luks)
{
    return (uint64_t)luks->hdr.payload_offset * HB_LUKS1_SECTOR_SIZE;
}

uint64_t hb_luks1_header_size(const HbLuks1 *luks)
{
    uint64_t end = LUKS1_KEY_SLOT_OFFSET;
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        const Luks1Slot *s = &luks->hdr.slots[i];
        uint64_t e = ((uint64_t)s->key_offset + luks1_split_sectors(luks->hdr.key_bytes, s->stripes)) *
                     HB_LUKS1_SECTOR_SIZE;
        end = MAX(end, e);
    }
    return end;
}

const HbSecretBuf *hb_luks1_master_key(const HbLuks1 *luks)
{
    return luks->master_key;
}

int hb_luks1_decrypt(HbLuks1 *luks, uint64_t sector, void *buf, size_t len)
{
    if (!luks->cipher) {
        return -ENOKEY;
    }
    return hb_sector_cipher_decrypt(luks->cipher, sector, buf, len);
}

int hb_luks1_encrypt(HbLuks1 *luks, uint64_t sector, void *buf, size_t len)
{
    if (!luks->cipher) {
        return -ENOKEY;
    }
    return hb_sector_cipher_encrypt(luks->cipher, sector, buf, len);
}

void hb_luks1_get_info(const HbLuks1 *luks, HbLuks1Info *info)
{
    memset(info, 0, sizeof(*info));
    g_strlcpy(info->cipher_alg, hb_cipher_alg_name(luks->alg), sizeof(info->cipher_alg));
    g_strlcpy(info->cipher_mode, hb_cipher_mode_name(luks->mode), sizeof(info->cipher_mode));
    g_strlcpy(info->ivgen_alg, hb_ivgen_name(luks->ivgen), sizeof(info->ivgen_alg));
    if (luks->has_ivhash) {
        g_strlcpy(info->ivgen_hash_alg, hb_hash_name(luks->ivhash), sizeof(info->ivgen_hash_alg));
    }
    g_strlcpy(info->hash_alg, hb_hash_name(luks->hash), sizeof(info->hash_alg));
    info->payload_offset = hb_luks1_payload_offset(luks);
    info->master_key_iters = luks->hdr.mk_iters;
    g_strlcpy(info->uuid, luks->hdr.uuid, sizeof(info->uuid));
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        const Luks1Slot *s = &luks->hdr.slots[i];
        info->slots[i].active = s->active == LUKS1_KEY_SLOT_ENABLED;
        info->slots[i].iters = s->iters;
        info->slots[i].stripes = s->stripes;
        info->slots[i].key_offset = (uint64_t)s->key_offset * HB_LUKS1_SECTOR_SIZE;
    }
}
