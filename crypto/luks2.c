/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2.c — opening a LUKS2 volume: the metadata (luks2-header.c,
 * luks2-json.c), unlocking a keyslot, the data segment's cipher.
 *
 * Theory of operation (LUKS2 on-disk format): a keyslot holds the volume
 * key AF-split into `stripes` copies and encrypted with the area's cipher
 * (512-byte sectors, IVs from 0 at the area start) under a key the KDF
 * derives from the passphrase: PBKDF2, Argon2i or Argon2id with the slot's
 * costs and salt.  A candidate volume key is right when PBKDF2 of it with
 * the digest's salt and iterations equals the digest linked to the
 * keyslot and the data segment.  Keyslots are tried by priority (high,
 * then normal; "ignore" never), each with its own KDF.
 *
 * Costs come from the header, which may be hostile, so before any
 * derivation every keyslot that would be tried is checked against the
 * limits: PBKDF2 iterations (summed, with the digest's, as for LUKS1) and
 * Argon2 memory (per slot, with its time cost bounded too).
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>

#include "crypto/afsplit.h"
#include "crypto/luks2-priv.h"
#include "crypto/pbkdf.h"
#include "util/error.h"

static uint32_t max_memory_kib = HB_LUKS2_DEFAULT_MAX_MEMORY_KIB;

void hb_luks2_set_max_memory(uint32_t kib)
{
    max_memory_kib = kib;
}

uint32_t luks2_max_memory(void)
{
    return max_memory_kib;
}

/*
 * Argon2's time cost multiplies its memory cost: 4 passes over 1 GiB is
 * what cryptsetup picks for about 2 s on a fast machine.  Allowing 32
 * passes of the memory limit bounds a hostile slot to tens of seconds.
 * A wrong passphrase tries every keyslot, so the sum over them is bounded
 * too: 128 passes, what 32 keyslots (LUKS2's most) of cryptsetup's
 * default cost take.
 */
#define ARGON2_MAX_PASSES_OF_LIMIT 32
#define ARGON2_MAX_TOTAL_PASSES_OF_LIMIT 128

static bool slot_usable(const HbLuks2 *l, int i)
{
    const Luks2Keyslot *s = &l->meta.slots[i];

    return s->present && s->priority > 0 && s->digest == l->meta.seg_digest;
}

static bool costs_allowed(const HbLuks2 *l, GError **errp)
{
    const Luks2Digest *d = &l->meta.digests[l->meta.seg_digest];
    uint64_t iters = 0, argon2 = 0;
    uint32_t max_iters = hb_luks1_max_iterations();

    for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
        const Luks2Keyslot *s = &l->meta.slots[i];
        if (!slot_usable(l, i)) {
            continue;
        }
        iters += d->iterations;
        if (s->kdf == LUKS2_KDF_PBKDF2) {
            iters += s->iterations;
            continue;
        }
        const char *name = s->kdf == LUKS2_KDF_ARGON2I ? "argon2i" : "argon2id";
        if (s->memory > max_memory_kib) {
            hb_error_set(errp, "LUKS2 keyslot %d needs %u KiB of memory for %s, more than the "
                         "limit of %u KiB (--max-argon2-memory)", i, s->memory, name,
                         max_memory_kib);
            return false;
        }
        if ((uint64_t)s->time * s->memory >
            (uint64_t)ARGON2_MAX_PASSES_OF_LIMIT * max_memory_kib) {
            hb_error_set(errp, "LUKS2 keyslot %d %s cost (time %u x %u KiB) is more than %d "
                         "passes over the memory limit of %u KiB (--max-argon2-memory)", i,
                         name, s->time, s->memory, ARGON2_MAX_PASSES_OF_LIMIT, max_memory_kib);
            return false;
        }
        argon2 += (uint64_t)s->time * s->memory;
    }
    if (argon2 > (uint64_t)ARGON2_MAX_TOTAL_PASSES_OF_LIMIT * max_memory_kib) {
        hb_error_set(errp, "LUKS2 keyslots need %" G_GUINT64_FORMAT " KiB-passes of Argon2 "
                     "in all (time x memory), more than %d passes over the memory limit of "
                     "%u KiB (--max-argon2-memory)", argon2, ARGON2_MAX_TOTAL_PASSES_OF_LIMIT,
                     max_memory_kib);
        return false;
    }
    if (iters > max_iters) {
        hb_error_set(errp, "LUKS2 header needs up to %" G_GUINT64_FORMAT " PBKDF2 iterations to "
                     "try its keyslots, more than the limit of %u (--max-pbkdf-iterations)",
                     iters, max_iters);
        return false;
    }
    return true;
}

bool luks2_derive(const Luks2Keyslot *s, const uint8_t *pass, size_t passlen, uint8_t *out,
                   size_t outlen, GError **errp)
{
    if (s->kdf == LUKS2_KDF_PBKDF2) {
        return hb_pbkdf2(s->kdf_hash, pass, passlen, s->salt, s->salt_len, s->iterations, out,
                         outlen, errp);
    }
    return hb_argon2(s->kdf == LUKS2_KDF_ARGON2I ? HB_ARGON2I : HB_ARGON2ID, pass, passlen,
                     s->salt, s->salt_len, s->time, s->memory, s->cpus, out, outlen, errp);
}

/* 1: @vk holds the volume key; 0: wrong passphrase for slot @i; -1: error. */
static int try_slot(const HbLuks2 *l, int i, const uint8_t *pass, size_t passlen,
                    HbLuks1ReadFn read, void *opaque, uint8_t *vk, GError **errp)
{
    const Luks2Keyslot *s = &l->meta.slots[i];
    const Luks2Digest *d = &l->meta.digests[s->digest];
    const Luks2Cipher *ac = &s->area_cipher;
    size_t splitlen = ((size_t)s->key_size * s->stripes + 511) / 512 * 512;
    g_autoptr(HbSecretBuf) split = hb_secret_buf_new(splitlen);
    g_autoptr(HbSecretBuf) slotkey = hb_secret_buf_new(ac->key_size);
    g_autoptr(HbSectorCipher) cipher = NULL;
    uint8_t digest[LUKS2_MAX_DIGEST_LEN];
    int rc;

    if (!luks2_derive(s, pass, passlen, slotkey->data, ac->key_size, errp)) {
        return -1;
    }
    rc = read(opaque, s->area_offset, split->data, splitlen);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot read LUKS2 keyslot %d key material", i);
        return -1;
    }
    cipher = hb_sector_cipher_new(ac->alg, ac->mode, ac->ivgen, ac->ivhash, slotkey->data,
                                  ac->key_size, errp);
    if (!cipher) {
        return -1;
    }
    if (hb_sector_cipher_decrypt(cipher, 0, split->data, splitlen) < 0) {
        hb_error_set(errp, "Cannot decrypt LUKS2 keyslot %d key material", i);
        return -1;
    }
    if (!hb_afsplit_decode(s->af_hash, s->key_size, s->stripes, split->data, vk, errp) ||
        !hb_pbkdf2(d->hash, vk, s->key_size, d->salt, d->salt_len, d->iterations, digest,
                   d->digest_len, errp)) {
        return -1;
    }
    rc = hb_digest_equal(digest, d->digest, d->digest_len);
    gnutls_memset(digest, 0, sizeof(digest));
    return rc;
}

int hb_luks2_keyslot_matches(HbLuks2 *luks, HbLuks1ReadFn read, void *opaque, int slot,
                             const uint8_t *pass, size_t len, GError **errp)
{
    if (slot < 0 || slot >= HB_LUKS2_MAX_KEYSLOTS || !slot_usable(luks, slot)) {
        return 0;
    }
    if (!costs_allowed(luks, errp)) {
        return -1;
    }
    g_autoptr(HbSecretBuf) vk = hb_secret_buf_new(luks->meta.slots[slot].key_size);
    return try_slot(luks, slot, pass, len, read, opaque, vk->data, errp);
}

static bool unlock(HbLuks2 *l, const uint8_t *pass, size_t passlen, HbLuks1ReadFn read,
                   void *opaque, GError **errp)
{
    const Luks2Segment *seg = &l->meta.seg;
    g_autoptr(HbSecretBuf) vk = hb_secret_buf_new(seg->cipher.key_size);

    for (int prio = 2; prio >= 1; prio--) {
        for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
            if (!slot_usable(l, i) || l->meta.slots[i].priority != prio) {
                continue;
            }
            int rv = try_slot(l, i, pass, passlen, read, opaque, vk->data, errp);
            if (rv < 0) {
                return false;
            }
            if (rv == 0) {
                continue;
            }
            l->cipher = hb_sector_cipher_new(seg->cipher.alg, seg->cipher.mode,
                                             seg->cipher.ivgen, seg->cipher.ivhash, vk->data,
                                             seg->cipher.key_size, errp);
            if (!l->cipher) {
                return false;
            }
            hb_sector_cipher_set_sector_size(l->cipher, seg->sector_size);
            l->master_key = g_steal_pointer(&vk);
            return true;
        }
    }
    hb_error_set(errp, "Invalid password, cannot unlock any keyslot");
    return false;
}

HbLuks2 *hb_luks2_open(HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                       const uint8_t *passphrase, size_t passphrase_len, GError **errp)
{
    g_autoptr(HbLuks2) l = g_new0(HbLuks2, 1);

    l->volume_size = volume_size;
    if (!luks2_read_headers(read, opaque, volume_size, &l->bin, &l->meta, &l->json, errp)) {
        return NULL;
    }
    if (passphrase && (!costs_allowed(l, errp) ||
                       !unlock(l, passphrase, passphrase_len, read, opaque, errp))) {
        return NULL;
    }
    return g_steal_pointer(&l);
}

/* What a reread header must keep for the volume key to still fit it. */
static const char *header_change(const HbLuks2 *a, const HbLuks2 *b)
{
    const Luks2Segment *x = &a->meta.seg, *y = &b->meta.seg;
    const Luks2Digest *dx = &a->meta.digests[a->meta.seg_digest];
    const Luks2Digest *dy = &b->meta.digests[b->meta.seg_digest];

    if (strcmp(x->cipher.spec, y->cipher.spec) || x->cipher.key_size != y->cipher.key_size ||
        x->sector_size != y->sector_size || x->iv_tweak != y->iv_tweak) {
        return "cipher";
    }
    if (x->offset != y->offset || x->size != y->size) {
        return "data segment";
    }
    if (strcmp(a->bin.uuid, b->bin.uuid)) {
        return "UUID";
    }
    if (dx->digest_len != dy->digest_len || memcmp(dx->digest, dy->digest, dx->digest_len) ||
        dx->salt_len != dy->salt_len || memcmp(dx->salt, dy->salt, dx->salt_len) ||
        dx->iterations != dy->iterations || dx->hash != dy->hash) {
        return "volume key digest";
    }
    return NULL;
}

bool hb_luks2_reload(HbLuks2 *luks, HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                     GError **errp)
{
    g_autoptr(HbLuks2) fresh = hb_luks2_open(read, opaque, volume_size, NULL, 0, errp);

    if (!fresh) {
        return false;
    }
    const char *what = header_change(luks, fresh);
    if (what) {
        hb_error_set(errp, "LUKS header changed (%s): the volume is no longer the one "
                     "that was unlocked", what);
        return false;
    }
    luks->bin = fresh->bin;
    luks->meta = fresh->meta;
    g_free(luks->json);
    luks->json = g_steal_pointer(&fresh->json);
    luks->volume_size = volume_size;
    return true;
}

void hb_luks2_free(HbLuks2 *luks)
{
    if (!luks) {
        return;
    }
    hb_sector_cipher_free(luks->cipher);
    hb_secret_buf_free(luks->master_key);
    g_free(luks->json);
    gnutls_memset(luks, 0, sizeof(*luks));
    g_free(luks);
}

bool hb_luks2_has_key(const HbLuks2 *luks)
{
    return luks->cipher != NULL;
}

uint64_t hb_luks2_payload_offset(const HbLuks2 *luks)
{
    return luks->meta.seg.offset;
}

uint64_t hb_luks2_payload_size(const HbLuks2 *luks)
{
    return luks->meta.seg.size;
}

uint32_t hb_luks2_sector_size(const HbLuks2 *luks)
{
    return luks->meta.seg.sector_size;
}

uint64_t hb_luks2_header_size(const HbLuks2 *luks)
{
    return 2 * luks->bin.hdr_size + luks->meta.keyslots_size;
}

const HbSecretBuf *hb_luks2_master_key(const HbLuks2 *luks)
{
    return luks->master_key;
}

int hb_luks2_decrypt(HbLuks2 *luks, uint64_t sector, void *buf, size_t len)
{
    if (!luks->cipher) {
        return -ENOKEY;
    }
    return hb_sector_cipher_decrypt(luks->cipher, sector + luks->meta.seg.iv_tweak, buf, len);
}

int hb_luks2_encrypt(HbLuks2 *luks, uint64_t sector, void *buf, size_t len)
{
    if (!luks->cipher) {
        return -ENOKEY;
    }
    return hb_sector_cipher_encrypt(luks->cipher, sector + luks->meta.seg.iv_tweak, buf, len);
}

static const char *kdf_name(Luks2KdfType t)
{
    return t == LUKS2_KDF_PBKDF2 ? "pbkdf2" : t == LUKS2_KDF_ARGON2I ? "argon2i" : "argon2id";
}

void hb_luks2_get_info(const HbLuks2 *luks, HbLuks2Info *info)
{
    const Luks2Segment *seg = &luks->meta.seg;
    const Luks2Digest *d = &luks->meta.digests[luks->meta.seg_digest];

    memset(info, 0, sizeof(*info));
    g_strlcpy(info->cipher_alg, hb_cipher_alg_name(seg->cipher.alg), sizeof(info->cipher_alg));
    g_strlcpy(info->cipher_mode, hb_cipher_mode_name(seg->cipher.mode), sizeof(info->cipher_mode));
    g_strlcpy(info->ivgen_alg, hb_ivgen_name(seg->cipher.ivgen), sizeof(info->ivgen_alg));
    if (seg->cipher.has_ivhash) {
        g_strlcpy(info->ivgen_hash_alg, hb_hash_name(seg->cipher.ivhash),
                  sizeof(info->ivgen_hash_alg));
    }
    g_strlcpy(info->hash_alg, hb_hash_name(d->hash), sizeof(info->hash_alg));
    info->payload_offset = seg->offset;
    info->payload_size = seg->size;
    info->sector_size = seg->sector_size;
    info->iv_tweak = seg->iv_tweak;
    info->digest_iters = d->iterations;
    info->seqid = luks->bin.seqid;
    g_strlcpy(info->uuid, luks->bin.uuid, sizeof(info->uuid));
    g_strlcpy(info->label, luks->bin.label, sizeof(info->label));
    for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
        const Luks2Keyslot *s = &luks->meta.slots[i];
        if (!s->present) {
            continue;
        }
        HbLuks2SlotInfo *o = &info->slots[info->nslots++];
        o->id = i;
        g_strlcpy(o->kdf, kdf_name(s->kdf), sizeof(o->kdf));
        if (s->kdf == LUKS2_KDF_PBKDF2) {
            g_strlcpy(o->kdf_hash, hb_hash_name(s->kdf_hash), sizeof(o->kdf_hash));
            o->iterations = s->iterations;
        } else {
            o->iterations = s->time;
            o->memory_kib = s->memory;
            o->cpus = s->cpus;
        }
        o->stripes = s->stripes;
        o->key_size = s->key_size;
        o->priority = s->priority;
        o->area_offset = s->area_offset;
        o->area_size = s->area_size;
    }
}
