/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2-create.c — a new LUKS2 volume laid out as cryptsetup 2.6's
 * `luksFormat --type luks2` lays it out: 16 KiB header copies (4 KiB binary
 * header + 12 KiB JSON) at 0 and 16 KiB, the keyslots area from 32 KiB to
 * 16 MiB, the data segment at 16 MiB (or at 0 on another volume for a
 * detached header); one pbkdf2 digest of the volume key and keyslot 0. */
#include <gnutls/crypto.h>
#include <string.h>

#include "crypto/luks2-priv.h"
#include "crypto/pbkdf.h"
#include "util/error.h"

#define HDR_SIZE (16 * 1024)
#define HEADER_VOLUME (16 * 1024 * 1024)
#define DIGEST_SALT_LEN 32
#define DIGEST_MIN_ITERS 1000
#define ZERO_CHUNK (64 * 1024)

static bool parse_kdf_name(const char *name, Luks2KdfType *t, GError **errp)
{
    if (!name || g_str_equal(name, "argon2id")) {
        *t = LUKS2_KDF_ARGON2ID;
    } else if (g_str_equal(name, "argon2i")) {
        *t = LUKS2_KDF_ARGON2I;
    } else if (g_str_equal(name, "pbkdf2")) {
        *t = LUKS2_KDF_PBKDF2;
    } else {
        hb_error_set(errp, "Unknown LUKS2 PBKDF '%s' (pbkdf2, argon2i, argon2id)", name);
        return false;
    }
    return true;
}

/* Everything but the keyslot: luks2_store_key() adds that. */
static JsonNode *initial_tree(const HbLuks2 *l, uint64_t data_offset)
{
    const Luks2Segment *seg = &l->meta.seg;
    const Luks2Digest *d = &l->meta.digests[0];
    JsonObject *top = json_object_new(), *segs = json_object_new(), *s0 = json_object_new();
    JsonObject *digs = json_object_new(), *d0 = json_object_new(), *cfg = json_object_new();
    JsonArray *slots = json_array_new(), *segl = json_array_new();
    g_autofree char *salt = g_base64_encode(d->salt, d->salt_len);
    g_autofree char *digest = g_base64_encode(d->digest, d->digest_len);

    json_object_set_object_member(top, "keyslots", json_object_new());
    json_object_set_object_member(top, "tokens", json_object_new());
    json_object_set_string_member(s0, "type", "crypt");
    luks2_json_set_u64(s0, "offset", data_offset);
    json_object_set_string_member(s0, "size", "dynamic");
    json_object_set_string_member(s0, "iv_tweak", "0");
    json_object_set_string_member(s0, "encryption", seg->cipher.spec);
    json_object_set_int_member(s0, "sector_size", seg->sector_size);
    json_object_set_object_member(segs, "0", s0);
    json_object_set_object_member(top, "segments", segs);
    json_object_set_string_member(d0, "type", "pbkdf2");
    json_object_set_array_member(d0, "keyslots", slots);
    json_array_add_string_element(segl, "0");
    json_object_set_array_member(d0, "segments", segl);
    json_object_set_string_member(d0, "hash", hb_hash_name(d->hash));
    json_object_set_int_member(d0, "iterations", d->iterations);
    json_object_set_string_member(d0, "salt", salt);
    json_object_set_string_member(d0, "digest", digest);
    json_object_set_object_member(digs, "0", d0);
    json_object_set_object_member(top, "digests", digs);
    luks2_json_set_u64(cfg, "json_size", l->bin.hdr_size - LUKS2_BIN_LEN);
    luks2_json_set_u64(cfg, "keyslots_size", l->meta.keyslots_size);
    json_object_set_object_member(top, "config", cfg);

    JsonNode *root = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(root, top);
    return root;
}

/* Cipher, sector size, hash and KDF from @o, checked before any write. */
static bool setup(HbLuks2 *l, const HbLuks2CreateOpts *o, Luks2KdfOpts *kdf, GError **errp)
{
    uint32_t bits = o->key_size_bits ? o->key_size_bits : 512;
    uint32_t ss = o->sector_size ? o->sector_size : 512;
    Luks2Digest *d = &l->meta.digests[0];

    if (bits % 8 || bits / 8 > LUKS2_MAX_KEY) {
        hb_error_set(errp, "LUKS2 key size %u bits is not supported", bits);
        return false;
    }
    if (ss != 512 && ss != 1024 && ss != 2048 && ss != 4096) {
        hb_error_set(errp, "LUKS2 sector size %u is not one of 512, 1024, 2048, 4096", ss);
        return false;
    }
    if (!luks2_cipher_parse(o->cipher ? o->cipher : "aes-xts-plain64", bits / 8,
                            &l->meta.seg.cipher, "segment", errp) ||
        !hb_hash_lookup(o->hash_alg ? o->hash_alg : "sha256", &d->hash, errp) ||
        !parse_kdf_name(o->pbkdf, &kdf->type, errp)) {
        return false;
    }
    if (!hb_hash_available(d->hash)) {
        hb_error_set(errp, "Hash algorithm '%s' is not available", hb_hash_name(d->hash));
        return false;
    }
    l->meta.seg.sector_size = ss;
    kdf->hash = d->hash;
    kdf->iter_time_ms = o->iter_time_ms;
    kdf->memory_kib = o->memory_kib;
    kdf->parallel = o->parallel;
    return luks2_kdf_check(kdf, errp);
}

/* A random volume key and its digest, PBKDF2 for a sixteenth of the
 * keyslot's time (cryptsetup's 125 ms next to its 2000). */
static bool make_key(HbLuks2 *l, int64_t iter_time_ms, GError **errp)
{
    Luks2Digest *d = &l->meta.digests[0];
    uint32_t kb = l->meta.seg.cipher.key_size;
    uint64_t iters;

    l->master_key = hb_secret_buf_new(kb);
    d->salt_len = DIGEST_SALT_LEN;
    d->digest_len = hb_hash_digest_len(d->hash);
    if (gnutls_rnd(GNUTLS_RND_KEY, l->master_key->data, kb) < 0 ||
        gnutls_rnd(GNUTLS_RND_NONCE, d->salt, d->salt_len) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        return false;
    }
    if (!hb_pbkdf2_count_iters(d->hash, d->digest_len,
                               (uint64_t)MAX((iter_time_ms > 0 ? iter_time_ms : 2000) / 16, 1),
                               &iters, errp)) {
        return false;
    }
    d->iterations = (uint32_t)MAX(iters, DIGEST_MIN_ITERS);
    return hb_pbkdf2(d->hash, l->master_key->data, kb, d->salt, d->salt_len, d->iterations,
                     d->digest, d->digest_len, errp);
}

bool hb_luks2_create(HbLuks1WriteFn write, void *opaque, const HbLuks2CreateOpts *opts,
                     const uint8_t *passphrase, size_t passphrase_len, uint64_t *header_size,
                     GError **errp)
{
    static const HbLuks2CreateOpts defaults = { 0 };
    const HbLuks2CreateOpts *o = opts ? opts : &defaults;
    g_autoptr(HbLuks2) l = g_new0(HbLuks2, 1);
    Luks2KdfOpts kdf = { 0 };

    if (!setup(l, o, &kdf, errp) || !make_key(l, o->iter_time_ms, errp)) {
        return false;
    }
    g_autofree char *uuid = g_uuid_string_random();
    l->bin.version = 2;
    l->bin.hdr_size = HDR_SIZE;
    l->bin.seqid = 0;                 /* the first write makes it 1 */
    g_strlcpy(l->bin.checksum_alg, "sha256", sizeof(l->bin.checksum_alg));
    g_strlcpy(l->bin.uuid, uuid, sizeof(l->bin.uuid));
    l->volume_size = HEADER_VOLUME;
    l->meta.keyslots_size = HEADER_VOLUME - 2 * HDR_SIZE;
    l->meta.seg_digest = 0;

    /* Zeros over the whole header volume first: cryptsetup wants it all
     * there for a detached header, and old bytes must not look like keys. */
    g_autofree uint8_t *zeros = g_malloc0(ZERO_CHUNK);
    for (uint64_t off = 0; off < HEADER_VOLUME; off += ZERO_CHUNK) {
        int rc = write(opaque, off, zeros, ZERO_CHUNK);
        if (rc < 0) {
            hb_error_set_errno(errp, rc, "Cannot write LUKS header");
            return false;
        }
    }
    g_autoptr(JsonNode) root = initial_tree(l, o->detached_header ? 0 : HEADER_VOLUME);
    if (!luks2_store_key(l, root, 0, &kdf, passphrase, passphrase_len, write, opaque, errp) ||
        !luks2_write_metadata(l, root, write, opaque, errp)) {
        return false;
    }
    *header_size = HEADER_VOLUME;
    return true;
}
