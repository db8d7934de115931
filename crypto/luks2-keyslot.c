/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2-keyslot.c — writing LUKS2 keyslots: KDF costs from a short
 * benchmark, key material stored in a free part of the keyslots area,
 * adding and erasing keyslots on an unlocked volume.
 *
 * Changes edit the JSON text the volume was opened with (json-glib tree),
 * so tokens, unknown members and other keyslots stay as they were; only
 * the keyslot's object, the digest's "keyslots" list (and tokens' lists on
 * erase) change.  Errors use the texts of hb_luks1_add_keyslot() and
 * hb_luks1_erase_keyslot(), which are QEMU's.
 */
#include <gnutls/crypto.h>
#include <string.h>
#include <unistd.h>

#include "crypto/afsplit.h"
#include "crypto/luks-slots.h"
#include "crypto/luks2-priv.h"
#include "crypto/pbkdf.h"
#include "util/error.h"

#define DEFAULT_ITER_TIME_MS 2000
#define STRIPES 4000
#define SALT_LEN 32
#define PBKDF2_MIN_ITERS 1000
#define ARGON2_MIN_TIME 4          /* cryptsetup's floor for the time cost */
#define ARGON2_MIN_MEMORY_KIB 64
#define ARGON2_PROBE_KIB 1024
#define AREA_ALIGN 4096

static uint32_t default_parallel(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4 ? 4 : (uint32_t)n;
}

/* cryptsetup's ceiling for Argon2 memory: 1 GiB, at most half the RAM;
 * here also the daemon's --max-argon2-memory, so the volume can be opened. */
static uint32_t memory_ceiling(void)
{
    uint64_t cap = MIN(HB_LUKS2_DEFAULT_MAX_MEMORY_KIB, luks2_max_memory());
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

    if (pages > 0 && psize > 0) {
        cap = MIN(cap, (uint64_t)pages * (uint64_t)psize / 2048);
    }
    return (uint32_t)cap;
}

/**
 * luks2_kdf_check() - whether @o's fixed costs are allowed (before any write)
 */
bool luks2_kdf_check(const Luks2KdfOpts *o, GError **errp)
{
    uint32_t ceiling = memory_ceiling();

    if (o->type == LUKS2_KDF_PBKDF2) {
        if (o->memory_kib || o->parallel) {
            hb_error_set(errp, "LUKS2 PBKDF pbkdf2 takes no memory or parallel cost");
            return false;
        }
        return true;
    }
    if (o->parallel > 16) {
        hb_error_set(errp, "Argon2 parallel cost %u is more than 16", o->parallel);
        return false;
    }
    if (o->memory_kib > ceiling) {
        hb_error_set(errp, "Argon2 memory %u KiB is more than the limit of %u KiB "
                     "(1 GiB, half the RAM, --max-argon2-memory)", o->memory_kib, ceiling);
        return false;
    }
    return true;
}

/* Microseconds of one Argon2 run at (@time, @kib) with @s's type and lanes. */
static bool argon2_probe(const Luks2Keyslot *s, uint32_t time, uint32_t kib, uint32_t key_size,
                         double *us, GError **errp)
{
    uint8_t out[LUKS2_MAX_KEY];
    int64_t t0 = g_get_monotonic_time();

    if (!hb_argon2(s->kdf == LUKS2_KDF_ARGON2I ? HB_ARGON2I : HB_ARGON2ID,
                   (const uint8_t *)"benchmark", 9, s->salt, SALT_LEN, time, kib, s->cpus, out,
                   key_size, errp)) {
        return false;
    }
    *us = MAX(1.0, (double)(g_get_monotonic_time() - t0));
    return true;
}

/*
 * Argon2 costs for about @o->iter_time_ms.  Small runs do not scale to
 * large ones (a few MiB stay in the CPU caches, a GiB does not), so the
 * probe runs with 4 passes at doubling memory until one takes an eighth of
 * the time (or the memory is at its ceiling, or fixed by the caller), and
 * only that last run is scaled: at most a quarter of the time is spent.
 * As cryptsetup does, memory grows to the ceiling with the minimum of 4
 * passes, then passes grow; a short time shrinks the memory.
 */
static bool argon2_costs(const Luks2KdfOpts *o, uint32_t key_size, Luks2Keyslot *s,
                         GError **errp)
{
    uint32_t ceiling = memory_ceiling();
    double target = (double)(o->iter_time_ms > 0 ? o->iter_time_ms : DEFAULT_ITER_TIME_MS) *
                    1000.0;
    double us;

    if (!luks2_kdf_check(o, errp)) {
        return false;
    }
    s->cpus = o->parallel ? o->parallel : default_parallel();
    uint32_t m = o->memory_kib ? o->memory_kib : MIN(ARGON2_PROBE_KIB, ceiling);
    m = MAX(m, 8 * s->cpus);
    for (;;) {
        if (!argon2_probe(s, ARGON2_MIN_TIME, m, key_size, &us, errp)) {
            return false;
        }
        if (us >= target / 8 || o->memory_kib || m >= ceiling) {
            break;
        }
        m = (uint32_t)MIN((uint64_t)m * 2, ceiling);
    }
    double scale = target / us;      /* how many such runs fit the time */
    double mem = o->memory_kib ? m : MAX(m * scale, ARGON2_MIN_MEMORY_KIB);
    s->memory = mem >= ceiling ? ceiling : MAX((uint32_t)mem, 8 * s->cpus);
    double t = ARGON2_MIN_TIME * scale * m / s->memory;
    s->time = t >= 1000 ? 1000 : (uint32_t)MAX(t, ARGON2_MIN_TIME);
    return true;
}

/**
 * luks2_kdf_costs() - a fresh salt and the KDF costs for a new keyslot
 * @o: KDF type and wanted time / memory / lanes
 * @key_size: bytes the KDF will derive
 * @s: kdf, kdf_hash, iterations or time/memory/cpus, salt are set
 * @errp: error
 */
bool luks2_kdf_costs(const Luks2KdfOpts *o, uint32_t key_size, Luks2Keyslot *s, GError **errp)
{
    s->kdf = o->type;
    s->salt_len = SALT_LEN;
    if (gnutls_rnd(GNUTLS_RND_KEY, s->salt, SALT_LEN) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        return false;
    }
    if (o->type != LUKS2_KDF_PBKDF2) {
        return argon2_costs(o, key_size, s, errp);
    }
    uint64_t iters;
    if (!hb_pbkdf2_count_iters(o->hash, key_size,
                               (uint64_t)(o->iter_time_ms > 0 ? o->iter_time_ms
                                                              : DEFAULT_ITER_TIME_MS),
                               &iters, errp)) {
        return false;
    }
    s->kdf_hash = o->hash;
    s->iterations = (uint32_t)MAX(iters, PBKDF2_MIN_ITERS);
    return true;
}

/* The lowest 4 KiB-aligned gap of @size bytes in the keyslots area. */
static bool alloc_area(const HbLuks2 *l, uint64_t size, uint64_t *offset, GError **errp)
{
    uint64_t start = 2 * l->bin.hdr_size, end = start + l->meta.keyslots_size;
    uint64_t at = start;
    bool moved = true;

    while (moved && at + size <= end) {
        moved = false;
        for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
            const Luks2Keyslot *s = &l->meta.slots[i];
            if (s->present && at < s->area_offset + s->area_size && s->area_offset < at + size) {
                at = (s->area_offset + s->area_size + AREA_ALIGN - 1) / AREA_ALIGN * AREA_ALIGN;
                moved = true;
            }
        }
    }
    if (at + size > end) {
        hb_error_set(errp, "Can't add a keyslot - no room left in the LUKS2 keyslots area");
        return false;
    }
    *offset = at;
    return true;
}

/* LUKS2 keeps 64-bit numbers as decimal strings. */
void luks2_json_set_u64(JsonObject *o, const char *name, uint64_t v)
{
    g_autofree char *s = g_strdup_printf("%" G_GUINT64_FORMAT, v);
    json_object_set_string_member(o, name, s);
}

/* The keyslot's JSON object, as cryptsetup writes one. */
static JsonObject *slot_object(const Luks2Keyslot *s, const Luks2Cipher *area)
{
    JsonObject *o = json_object_new(), *af = json_object_new();
    JsonObject *ar = json_object_new(), *kdf = json_object_new();
    g_autofree char *salt = g_base64_encode(s->salt, s->salt_len);

    json_object_set_string_member(o, "type", "luks2");
    json_object_set_int_member(o, "key_size", s->key_size);
    json_object_set_string_member(af, "type", "luks1");
    json_object_set_int_member(af, "stripes", s->stripes);
    json_object_set_string_member(af, "hash", hb_hash_name(s->af_hash));
    json_object_set_object_member(o, "af", af);
    json_object_set_string_member(ar, "type", "raw");
    luks2_json_set_u64(ar, "offset", s->area_offset);
    luks2_json_set_u64(ar, "size", s->area_size);
    json_object_set_string_member(ar, "encryption", area->spec);
    json_object_set_int_member(ar, "key_size", area->key_size);
    json_object_set_object_member(o, "area", ar);
    if (s->kdf == LUKS2_KDF_PBKDF2) {
        json_object_set_string_member(kdf, "type", "pbkdf2");
        json_object_set_string_member(kdf, "hash", hb_hash_name(s->kdf_hash));
        json_object_set_int_member(kdf, "iterations", s->iterations);
    } else {
        json_object_set_string_member(kdf, "type",
                                      s->kdf == LUKS2_KDF_ARGON2I ? "argon2i" : "argon2id");
        json_object_set_int_member(kdf, "time", s->time);
        json_object_set_int_member(kdf, "memory", s->memory);
        json_object_set_int_member(kdf, "cpus", s->cpus);
    }
    json_object_set_string_member(kdf, "salt", salt);
    json_object_set_object_member(o, "kdf", kdf);
    return o;
}

/**
 * luks2_store_key() - put @l's volume key in keyslot @id under @pass
 * @l: unlocked; its metadata gives the cipher, the digest and the free space
 * @root: the JSON tree to add the keyslot to (and to the digest's list)
 * @id: a free keyslot id
 * @kdf: the KDF to use
 * @pass: passphrase
 * @passlen: its length
 * @write: writes the key material (the metadata is the caller's to write)
 * @opaque: for @write
 * @errp: error
 *
 * The key material goes to an area no keyslot uses, so nothing is lost if
 * the metadata is never written.
 */
bool luks2_store_key(HbLuks2 *l, JsonNode *root, int id, const Luks2KdfOpts *kdf,
                     const uint8_t *pass, size_t passlen, HbLuks1WriteFn write, void *opaque,
                     GError **errp)
{
    const Luks2Cipher *c = &l->meta.seg.cipher;
    const Luks2Digest *d = &l->meta.digests[l->meta.seg_digest];
    Luks2Keyslot s = { .key_size = c->key_size, .stripes = STRIPES, .af_hash = d->hash };
    size_t splitlen = ((size_t)s.key_size * STRIPES + 511) / 512 * 512;
    g_autoptr(HbSecretBuf) split = hb_secret_buf_new(splitlen);
    g_autoptr(HbSecretBuf) slotkey = hb_secret_buf_new(c->key_size);
    g_autoptr(HbSectorCipher) cipher = NULL;
    int rc;

    s.area_size = (splitlen + AREA_ALIGN - 1) / AREA_ALIGN * AREA_ALIGN;
    if (!alloc_area(l, s.area_size, &s.area_offset, errp) ||
        !luks2_kdf_costs(kdf, c->key_size, &s, errp) ||
        !luks2_derive(&s, pass, passlen, slotkey->data, c->key_size, errp) ||
        !hb_afsplit_encode(s.af_hash, s.key_size, STRIPES, l->master_key->data, split->data,
                           errp)) {
        return false;
    }
    cipher = hb_sector_cipher_new(c->alg, c->mode, c->ivgen, c->ivhash, slotkey->data,
                                  c->key_size, errp);
    if (!cipher) {
        return false;
    }
    if (hb_sector_cipher_encrypt(cipher, 0, split->data, splitlen) < 0) {
        hb_error_set(errp, "Cannot encrypt LUKS2 keyslot %d key material", id);
        return false;
    }
    rc = write(opaque, s.area_offset, split->data, splitlen);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot write LUKS2 keyslot %d key material", id);
        return false;
    }

    JsonObject *top = json_node_get_object(root);
    g_autofree char *name = g_strdup_printf("%d", id);
    g_autofree char *dname = g_strdup_printf("%d", l->meta.seg_digest);
    json_object_set_object_member(json_object_get_object_member(top, "keyslots"), name,
                                  slot_object(&s, c));
    JsonObject *dig = json_object_get_object_member(json_object_get_object_member(top, "digests"),
                                                    dname);
    json_array_add_string_element(json_object_get_array_member(dig, "keyslots"), name);
    return true;
}

static uint32_t active_mask(const HbLuks2 *l)
{
    uint32_t m = 0;
    for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
        m |= (uint32_t)l->meta.slots[i].present << i;
    }
    return m;
}

static JsonNode *parse_tree(const char *json, GError **errp)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;

    if (!json_parser_load_from_data(p, json, -1, &err)) {
        hb_error_set(errp, "LUKS2 JSON metadata is not valid JSON: %s", err->message);
        return NULL;
    }
    return json_node_copy(json_parser_get_root(p));
}

bool hb_luks2_add_keyslot(HbLuks2 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                          int slot, const uint8_t *pass, size_t len, int64_t iter_time_ms,
                          GError **errp)
{
    const Luks2KdfOpts kdf = { .type = LUKS2_KDF_ARGON2ID, .iter_time_ms = iter_time_ms };
    g_autofree Luks2Meta *meta = g_new0(Luks2Meta, 1);
    g_autofree char *json = NULL;
    Luks2Bin bin;

    if (!luks->master_key) {
        hb_error_set(errp, "Cannot add a keyslot: the LUKS volume is not unlocked");
        return false;
    }
    if (!luks_slot_for_add(&slot, HB_LUKS2_MAX_KEYSLOTS, active_mask(luks), errp)) {
        return false;
    }
    /* Another process may have changed the metadata since it was read;
     * writing the stale copy back would destroy its keyslots. */
    if (!luks2_read_headers(read, opaque, luks->volume_size, &bin, meta, &json, errp)) {
        return false;
    }
    if (bin.seqid != luks->bin.seqid || strcmp(json, luks->json) != 0) {
        hb_error_set(errp, "LUKS header changed on disk since it was opened");
        return false;
    }
    g_autoptr(JsonNode) root = parse_tree(luks->json, errp);
    return root && luks2_store_key(luks, root, slot, &kdf, pass, len, write, opaque, errp) &&
           luks2_write_metadata(luks, root, write, opaque, errp);
}

/* Drop the string @name from the array member "keyslots" of @o, if any. */
static void unlist(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, "keyslots");

    if (!n || !JSON_NODE_HOLDS_ARRAY(n)) {
        return;
    }
    JsonArray *a = json_node_get_array(n);
    for (guint i = json_array_get_length(a); i-- > 0;) {
        JsonNode *e = json_array_get_element(a, i);
        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING &&
            g_str_equal(json_node_get_string(e), name)) {
            json_array_remove_element(a, i);
        }
    }
}

static void unlist_all(JsonObject *section, const char *name)
{
    g_autoptr(GList) members = json_object_get_members(section);

    for (GList *m = members; m; m = m->next) {
        JsonNode *n = json_object_get_member(section, m->data);
        if (JSON_NODE_HOLDS_OBJECT(n)) {
            unlist(json_node_get_object(n), name);
        }
    }
}

/*
 * Order: the key material is wiped before the metadata drops the slot.  A
 * crash between the two leaves a keyslot that no passphrase opens (the one
 * being erased, so nothing is lost) and the erase can simply be repeated;
 * the other order would leave key material that no metadata points at any
 * more, which nothing would ever wipe.
 */
bool hb_luks2_erase_keyslot(HbLuks2 *luks, HbLuks1WriteFn write, void *opaque, int slot,
                            GError **errp)
{
    if (!luks_slot_for_erase(slot, HB_LUKS2_MAX_KEYSLOTS, active_mask(luks), errp)) {
        return false;
    }
    const Luks2Keyslot *s = &luks->meta.slots[slot];
    g_autoptr(JsonNode) root = parse_tree(luks->json, errp);
    if (!root) {
        return false;
    }
    /* The whole area: any of the stripes gone and the key is gone. */
    g_autofree uint8_t *garbage = g_malloc(s->area_size);
    if (gnutls_rnd(GNUTLS_RND_NONCE, garbage, s->area_size) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        return false;
    }
    int rc = write(opaque, s->area_offset, garbage, s->area_size);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot write LUKS2 keyslot %d key material", slot);
        return false;
    }
    JsonObject *top = json_node_get_object(root);
    g_autofree char *name = g_strdup_printf("%d", slot);
    json_object_remove_member(json_object_get_object_member(top, "keyslots"), name);
    unlist_all(json_object_get_object_member(top, "digests"), name);
    unlist_all(json_object_get_object_member(top, "tokens"), name);
    return luks2_write_metadata(luks, root, write, opaque, errp);
}
