/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2-json.c — the LUKS2 JSON metadata: parsed with json-glib, every
 * field checked, and what hotblock cannot do refused by name.
 *
 * The metadata is untrusted input (a header may come from anyone), so each
 * field is read with an explicit type and range, 64-bit values (which LUKS2
 * stores as decimal strings) are parsed strictly, and every area is checked
 * against the others before any byte of key material is read: keyslot areas
 * inside the keyslots area and apart from each other, key material inside
 * its area, digests pointing at keyslots that exist.  Tokens are not
 * interpreted (hotblock unlocks with a passphrase only).
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "crypto/luks2-priv.h"
#include "util/error.h"

/* ---- typed field access; @ctx names the object ("keyslot 0") ---- */

static JsonNode *member(JsonObject *o, const char *name, const char *ctx, GError **errp)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n) {
        hb_error_set(errp, "LUKS2 %s has no '%s'", ctx, name);
    }
    return n;
}

static JsonObject *get_object(JsonObject *o, const char *name, const char *ctx, GError **errp)
{
    JsonNode *n = member(o, name, ctx, errp);

    if (n && !JSON_NODE_HOLDS_OBJECT(n)) {
        hb_error_set(errp, "LUKS2 %s '%s' is not an object", ctx, name);
        return NULL;
    }
    return n ? json_node_get_object(n) : NULL;
}

static JsonArray *get_array(JsonObject *o, const char *name, const char *ctx, GError **errp)
{
    JsonNode *n = member(o, name, ctx, errp);

    if (n && !JSON_NODE_HOLDS_ARRAY(n)) {
        hb_error_set(errp, "LUKS2 %s '%s' is not an array", ctx, name);
        return NULL;
    }
    return n ? json_node_get_array(n) : NULL;
}

static bool is_string(JsonNode *n)
{
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

static const char *get_string(JsonObject *o, const char *name, const char *ctx, GError **errp)
{
    JsonNode *n = member(o, name, ctx, errp);

    if (n && !is_string(n)) {
        hb_error_set(errp, "LUKS2 %s '%s' is not a string", ctx, name);
        return NULL;
    }
    return n ? json_node_get_string(n) : NULL;
}

/* A decimal string of at most 64 bits: no sign, no spaces, no leading zeros. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s || (s[0] == '0' && s[1])) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static bool get_u64(JsonObject *o, const char *name, const char *ctx, uint64_t *out,
                    GError **errp)
{
    const char *s = get_string(o, name, ctx, errp);

    if (!s) {
        return false;
    }
    if (!parse_u64(s, out)) {
        hb_error_set(errp, "LUKS2 %s '%s' is not a 64-bit decimal number: '%.32s'", ctx, name, s);
        return false;
    }
    return true;
}

static bool get_int(JsonObject *o, const char *name, const char *ctx, int64_t min, int64_t max,
                    int64_t *out, GError **errp)
{
    JsonNode *n = member(o, name, ctx, errp);

    if (!n) {
        return false;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
        hb_error_set(errp, "LUKS2 %s '%s' is not an integer", ctx, name);
        return false;
    }
    *out = json_node_get_int(n);
    if (*out < min || *out > max) {
        hb_error_set(errp, "LUKS2 %s '%s' is %" G_GINT64_FORMAT ", outside %" G_GINT64_FORMAT
                     "..%" G_GINT64_FORMAT, ctx, name, *out, min, max);
        return false;
    }
    return true;
}

static bool get_u32(JsonObject *o, const char *name, const char *ctx, uint32_t min, uint32_t max,
                    uint32_t *out, GError **errp)
{
    int64_t v;

    if (!get_int(o, name, ctx, min, max, &v, errp)) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Base64 as cryptsetup writes it (standard alphabet, padded), @min..@max bytes. */
static bool get_b64(JsonObject *o, const char *name, const char *ctx, size_t min, size_t max,
                    uint8_t *out, size_t *len, GError **errp)
{
    const char *s = get_string(o, name, ctx, errp);
    size_t n, pad = 0;

    if (!s) {
        return false;
    }
    n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        bool alnum = g_ascii_isalnum(s[i]) || s[i] == '+' || s[i] == '/';
        if (s[i] == '=' && i + 2 >= n) {
            pad++;
        } else if (!alnum || pad) {
            n = 0;   /* invalid */
            break;
        }
    }
    if (n == 0 || n % 4) {
        hb_error_set(errp, "LUKS2 %s '%s' is not valid base64", ctx, name);
        return false;
    }
    size_t bytes = n / 4 * 3 - pad;
    if (bytes < min || bytes > max) {
        hb_error_set(errp, "LUKS2 %s '%s' has %zu bytes, not %zu..%zu", ctx, name, bytes, min,
                     max);
        return false;
    }
    gsize got = 0;
    g_autofree guchar *raw = g_base64_decode(s, &got);
    memcpy(out, raw, got);
    *len = got;
    return true;
}

/* An object id ("0".."31"), as keyslots, digests and segments are keyed. */
static bool parse_id(const char *s, int max, const char *what, int *id, GError **errp)
{
    uint64_t v;

    if (!parse_u64(s, &v) || v >= (uint64_t)max) {
        hb_error_set(errp, "LUKS2 %s id '%.32s' is not a number below %d", what, s, max);
        return false;
    }
    *id = (int)v;
    return true;
}

static bool get_hash(JsonObject *o, const char *name, const char *ctx, HbHashAlg *alg,
                     GError **errp)
{
    const char *s = get_string(o, name, ctx, errp);

    if (!s) {
        return false;
    }
    if (!hb_hash_lookup(s, alg, NULL) || !hb_hash_available(*alg)) {
        hb_error_set(errp, "LUKS2 %s hash '%.32s' not supported", ctx, s);
        return false;
    }
    return true;
}

/* ---- cipher specs ---- */

bool luks2_cipher_parse(const char *spec, uint32_t key_size, Luks2Cipher *c, const char *what,
                        GError **errp)
{
    g_auto(GStrv) parts = NULL;
    g_autoptr(GError) err = NULL;

    memset(c, 0, sizeof(*c));
    if (strlen(spec) >= sizeof(c->spec)) {
        hb_error_set(errp, "LUKS2 %s encryption '%.32s...' is too long", what, spec);
        return false;
    }
    g_strlcpy(c->spec, spec, sizeof(c->spec));
    c->key_size = key_size;
    parts = g_strsplit(spec, "-", 3);
    if (g_strv_length(parts) != 3 || !g_str_equal(parts[0], "aes")) {
        hb_error_set(errp, "LUKS2 %s encryption '%s' not supported (only aes-xts-*, "
                     "aes-cbc-*)", what, spec);
        return false;
    }
    char *ivhash = strchr(parts[2], ':');
    if (ivhash) {
        *ivhash++ = '\0';
        c->has_ivhash = true;
        if (!hb_hash_lookup(ivhash, &c->ivhash, &err)) {
            hb_error_set(errp, "LUKS2 %s encryption '%s': %s", what, spec, err->message);
            return false;
        }
    }
    if (!hb_cipher_mode_lookup(parts[1], &c->mode, &err) ||
        !hb_ivgen_lookup(parts[2], &c->ivgen, &err)) {
        hb_error_set(errp, "LUKS2 %s encryption '%s': %s", what, spec, err->message);
        return false;
    }
    uint32_t aes = c->mode == HB_CIPHER_MODE_XTS ? key_size / 2 : key_size;
    if ((c->mode == HB_CIPHER_MODE_XTS && key_size % 2) ||
        (aes != 16 && aes != 24 && aes != 32)) {
        hb_error_set(errp, "LUKS2 %s encryption '%s' with a %u-byte key not supported", what,
                     spec, key_size);
        return false;
    }
    c->alg = (HbCipherAlg)((aes - 16) / 8);
    if (c->ivgen == HB_IVGEN_ESSIV) {
        HbCipherAlg ealg;
        if (!c->has_ivhash) {
            hb_error_set(errp, "LUKS2 %s encryption '%s' has no ESSIV hash", what, spec);
            return false;
        }
        if (!hb_essiv_cipher(c->ivhash, &ealg, &err)) {
            hb_error_set(errp, "LUKS2 %s encryption '%s': %s", what, spec, err->message);
            return false;
        }
    }
    return true;
}

/* ---- sections ---- */

typedef struct Ctx {
    Luks2Meta *meta;
    uint64_t hdr_size;
    uint64_t volume_size;
    uint64_t ks_start, ks_end;   /* the keyslots area */
} Ctx;

static bool parse_config(Ctx *c, JsonObject *cfg, GError **errp)
{
    Luks2Meta *m = c->meta;

    if (!get_u64(cfg, "json_size", "config", &m->json_size, errp) ||
        !get_u64(cfg, "keyslots_size", "config", &m->keyslots_size, errp)) {
        return false;
    }
    if (m->json_size != c->hdr_size - LUKS2_BIN_LEN) {
        hb_error_set(errp, "LUKS2 config json_size %" G_GUINT64_FORMAT " does not match the "
                     "header's JSON area (%" G_GUINT64_FORMAT " bytes)", m->json_size,
                     c->hdr_size - LUKS2_BIN_LEN);
        return false;
    }
    if (m->keyslots_size % 4096) {
        hb_error_set(errp, "LUKS2 config keyslots_size %" G_GUINT64_FORMAT " is not a multiple "
                     "of 4096", m->keyslots_size);
        return false;
    }
    c->ks_start = 2 * c->hdr_size;
    if (m->keyslots_size > c->volume_size || c->ks_start > c->volume_size - m->keyslots_size) {
        hb_error_set(errp, "LUKS2 keyslots area (%" G_GUINT64_FORMAT " bytes from %"
                     G_GUINT64_FORMAT ") ends beyond the header volume (%" G_GUINT64_FORMAT
                     " bytes)", m->keyslots_size, c->ks_start, c->volume_size);
        return false;
    }
    c->ks_end = c->ks_start + m->keyslots_size;

    /* flags are activation hints (allow-discards, ...): nothing to refuse. */
    JsonNode *req = json_object_get_member(cfg, "requirements");
    if (!req) {
        return true;
    }
    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        hb_error_set(errp, "LUKS2 config 'requirements' is not an object");
        return false;
    }
    JsonNode *mand = json_object_get_member(json_node_get_object(req), "mandatory");
    if (!mand) {
        return true;
    }
    if (!JSON_NODE_HOLDS_ARRAY(mand)) {
        hb_error_set(errp, "LUKS2 config requirements 'mandatory' is not an array");
        return false;
    }
    JsonArray *a = json_node_get_array(mand);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        const char *r = is_string(n) ? json_node_get_string(n) : "(not a string)";
        if (g_str_has_prefix(r, "online-reencrypt")) {
            hb_error_set(errp, "LUKS2 volume is being reencrypted (requirement '%.40s'): "
                         "reencryption in progress is not supported", r);
        } else {
            hb_error_set(errp, "LUKS2 header requires '%.40s', which is not supported", r);
        }
        return false;
    }
    return true;
}

static bool parse_kdf(Luks2Keyslot *s, JsonObject *kdf, const char *ctx, GError **errp)
{
    const char *type = get_string(kdf, "type", ctx, errp);

    if (!type) {
        return false;
    }
    if (g_str_equal(type, "pbkdf2")) {
        s->kdf = LUKS2_KDF_PBKDF2;
        if (!get_hash(kdf, "hash", ctx, &s->kdf_hash, errp) ||
            !get_u32(kdf, "iterations", ctx, 1, UINT32_MAX, &s->iterations, errp)) {
            return false;
        }
    } else if (g_str_equal(type, "argon2i") || g_str_equal(type, "argon2id")) {
        s->kdf = g_str_equal(type, "argon2id") ? LUKS2_KDF_ARGON2ID : LUKS2_KDF_ARGON2I;
        /* Argon2's own bounds: lanes < 2^24, memory at least 8 KiB a lane. */
        if (!get_u32(kdf, "time", ctx, 1, UINT32_MAX, &s->time, errp) ||
            !get_u32(kdf, "cpus", ctx, 1, 0xffffff, &s->cpus, errp) ||
            !get_u32(kdf, "memory", ctx, 8, UINT32_MAX, &s->memory, errp)) {
            return false;
        }
        if (s->memory < 8 * s->cpus) {
            hb_error_set(errp, "LUKS2 %s memory %u KiB is less than 8 KiB for each of its %u "
                         "cpus", ctx, s->memory, s->cpus);
            return false;
        }
    } else {
        hb_error_set(errp, "LUKS2 %s type '%.32s' not supported (pbkdf2, argon2i, argon2id)",
                     ctx, type);
        return false;
    }
    return get_b64(kdf, "salt", ctx, 8, LUKS2_MAX_SALT, s->salt, &s->salt_len, errp);
}

/* Bytes of the AF-split key material, whole 512-byte sectors as stored. */
static uint64_t af_bytes(uint32_t key_size, uint32_t stripes)
{
    return ((uint64_t)key_size * stripes + 511) / 512 * 512;
}

static bool parse_keyslot(Ctx *c, int id, JsonObject *o, GError **errp)
{
    Luks2Keyslot *s = &c->meta->slots[id];
    g_autofree char *ctx = g_strdup_printf("keyslot %d", id);
    g_autofree char *af_ctx = g_strdup_printf("keyslot %d af", id);
    g_autofree char *area_ctx = g_strdup_printf("keyslot %d area", id);
    g_autofree char *kdf_ctx = g_strdup_printf("keyslot %d kdf", id);
    const char *type = get_string(o, "type", ctx, errp);
    JsonObject *af, *area, *kdf;
    uint32_t area_key;
    int64_t prio = 1;

    if (!type) {
        return false;
    }
    if (g_str_equal(type, "reencrypt")) {
        hb_error_set(errp, "LUKS2 keyslot %d is a reencryption keyslot: reencryption in "
                     "progress is not supported", id);
        return false;
    }
    if (!g_str_equal(type, "luks2")) {
        hb_error_set(errp, "LUKS2 keyslot %d type '%.32s' not supported", id, type);
        return false;
    }
    s->digest = -1;
    if (!get_u32(o, "key_size", ctx, 1, LUKS2_MAX_KEY, &s->key_size, errp) ||
        (json_object_has_member(o, "priority") &&
         !get_int(o, "priority", ctx, 0, 2, &prio, errp))) {
        return false;
    }
    s->priority = (int)prio;

    if (!(af = get_object(o, "af", ctx, errp)) || !(type = get_string(af, "type", af_ctx, errp))) {
        return false;
    }
    if (!g_str_equal(type, "luks1")) {
        hb_error_set(errp, "LUKS2 keyslot %d anti-forensic splitter '%.32s' not supported",
                     id, type);
        return false;
    }
    if (!get_u32(af, "stripes", af_ctx, 1, LUKS2_MAX_STRIPES, &s->stripes, errp) ||
        !get_hash(af, "hash", af_ctx, &s->af_hash, errp)) {
        return false;
    }

    if (!(area = get_object(o, "area", ctx, errp)) ||
        !(type = get_string(area, "type", area_ctx, errp))) {
        return false;
    }
    if (!g_str_equal(type, "raw")) {
        hb_error_set(errp, "LUKS2 keyslot %d area type '%.32s' not supported", id, type);
        return false;
    }
    const char *enc = get_string(area, "encryption", area_ctx, errp);
    if (!enc || !get_u32(area, "key_size", area_ctx, 1, LUKS2_MAX_KEY, &area_key, errp) ||
        !get_u64(area, "offset", area_ctx, &s->area_offset, errp) ||
        !get_u64(area, "size", area_ctx, &s->area_size, errp) ||
        !luks2_cipher_parse(enc, area_key, &s->area_cipher, area_ctx, errp)) {
        return false;
    }
    if (s->area_offset < c->ks_start || s->area_offset > c->ks_end ||
        s->area_size > c->ks_end - s->area_offset) {
        hb_error_set(errp, "LUKS2 keyslot %d area [%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT
                     ") is outside the keyslots area [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                     ")", id, s->area_offset, s->area_size, c->ks_start, c->ks_end);
        return false;
    }
    if (af_bytes(s->key_size, s->stripes) > s->area_size) {
        hb_error_set(errp, "LUKS2 keyslot %d key material (%u bytes x %u stripes) does not fit "
                     "its area of %" G_GUINT64_FORMAT " bytes", id, s->key_size, s->stripes,
                     s->area_size);
        return false;
    }

    if (!(kdf = get_object(o, "kdf", ctx, errp)) || !parse_kdf(s, kdf, kdf_ctx, errp)) {
        return false;
    }
    s->present = true;
    return true;
}

static bool parse_keyslots(Ctx *c, JsonObject *ks, GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(ks);

    for (GList *l = names; l; l = l->next) {
        JsonNode *n = json_object_get_member(ks, l->data);
        int id;
        if (!parse_id(l->data, HB_LUKS2_MAX_KEYSLOTS, "keyslot", &id, errp)) {
            return false;
        }
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            hb_error_set(errp, "LUKS2 keyslot %d is not an object", id);
            return false;
        }
        if (!parse_keyslot(c, id, json_node_get_object(n), errp)) {
            return false;
        }
    }
    for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
        const Luks2Keyslot *a = &c->meta->slots[i];
        for (int j = i + 1; a->present && j < HB_LUKS2_MAX_KEYSLOTS; j++) {
            const Luks2Keyslot *b = &c->meta->slots[j];
            if (b->present && a->area_offset < b->area_offset + b->area_size &&
                b->area_offset < a->area_offset + a->area_size) {
                hb_error_set(errp, "LUKS2 keyslots %d and %d have overlapping areas", i, j);
                return false;
            }
        }
    }
    return true;
}

static bool parse_segments(Ctx *c, JsonObject *segs, int *seg_id, const char **enc,
                           GError **errp)
{
    Luks2Segment *s = &c->meta->seg;
    guint n = json_object_get_size(segs);
    g_autoptr(GList) names = json_object_get_members(segs);
    const char *type, *size;
    int64_t ss;

    if (n == 0) {
        hb_error_set(errp, "LUKS2 header has no data segment");
        return false;
    }
    if (n > 1) {
        hb_error_set(errp, "LUKS2 header has %u data segments: several segments (a "
                     "reencryption in progress) are not supported", n);
        return false;
    }
    if (!parse_id(names->data, 64, "segment", seg_id, errp)) {
        return false;
    }
    JsonNode *node = json_object_get_member(segs, names->data);
    g_autofree char *ctx = g_strdup_printf("segment %d", *seg_id);
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        hb_error_set(errp, "LUKS2 %s is not an object", ctx);
        return false;
    }
    JsonObject *o = json_node_get_object(node);
    if (!(type = get_string(o, "type", ctx, errp))) {
        return false;
    }
    if (!g_str_equal(type, "crypt")) {
        hb_error_set(errp, "LUKS2 %s type '%.32s' not supported (only 'crypt')", ctx, type);
        return false;
    }
    if (json_object_has_member(o, "integrity")) {
        hb_error_set(errp, "LUKS2 %s uses authenticated encryption (integrity), which is not "
                     "supported", ctx);
        return false;
    }
    if (json_object_has_member(o, "flags")) {
        JsonArray *fl = get_array(o, "flags", ctx, errp);
        if (!fl) {
            return false;
        }
        if (json_array_get_length(fl) > 0) {
            JsonNode *f = json_array_get_element(fl, 0);
            hb_error_set(errp, "LUKS2 %s has flag '%.40s': reencryption in progress is not "
                         "supported", ctx, is_string(f) ? json_node_get_string(f) : "?");
            return false;
        }
    }
    if (!get_u64(o, "offset", ctx, &s->offset, errp) ||
        !get_u64(o, "iv_tweak", ctx, &s->iv_tweak, errp) ||
        !get_int(o, "sector_size", ctx, 512, 4096, &ss, errp) ||
        !(size = get_string(o, "size", ctx, errp)) ||
        !(*enc = get_string(o, "encryption", ctx, errp))) {
        return false;
    }
    if (ss & (ss - 1)) {
        hb_error_set(errp, "LUKS2 %s sector_size %" G_GINT64_FORMAT " is not a power of two",
                     ctx, ss);
        return false;
    }
    s->sector_size = (uint32_t)ss;
    if (g_str_equal(size, "dynamic")) {
        s->size = 0;
    } else if (!parse_u64(size, &s->size) || s->size == 0) {
        hb_error_set(errp, "LUKS2 %s size '%.32s' is neither \"dynamic\" nor a positive "
                     "number", ctx, size);
        return false;
    }
    if (s->offset % s->sector_size || s->size % s->sector_size) {
        hb_error_set(errp, "LUKS2 %s offset %" G_GUINT64_FORMAT " or size %" G_GUINT64_FORMAT
                     " is not a multiple of its sector size %u", ctx, s->offset, s->size,
                     s->sector_size);
        return false;
    }
    if (s->size > UINT64_MAX - s->offset || s->offset + s->size > (uint64_t)INT64_MAX) {
        hb_error_set(errp, "LUKS2 %s ends beyond 2^63 bytes", ctx);
        return false;
    }
    if (s->iv_tweak > UINT64_MAX / 2) {
        hb_error_set(errp, "LUKS2 %s iv_tweak %" G_GUINT64_FORMAT " is too large", ctx,
                     s->iv_tweak);
        return false;
    }
    return true;
}

static bool id_list(JsonObject *o, const char *name, const char *ctx, int max, uint64_t *mask,
                    GError **errp)
{
    JsonArray *a = get_array(o, name, ctx, errp);

    *mask = 0;
    if (!a) {
        return false;
    }
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        int id;
        if (!is_string(n)) {
            hb_error_set(errp, "LUKS2 %s '%s' holds a non-string", ctx, name);
            return false;
        }
        if (!parse_id(json_node_get_string(n), max, name, &id, errp)) {
            return false;
        }
        *mask |= UINT64_C(1) << id;
    }
    return true;
}

static bool parse_digest(Ctx *c, int id, JsonObject *o, int seg_id, GError **errp)
{
    Luks2Digest *d = &c->meta->digests[id];
    g_autofree char *ctx = g_strdup_printf("digest %d", id);
    const char *type = get_string(o, "type", ctx, errp);
    uint64_t slots, segs;

    if (!type) {
        return false;
    }
    if (!g_str_equal(type, "pbkdf2")) {
        hb_error_set(errp, "LUKS2 %s type '%.32s' not supported (only pbkdf2)", ctx, type);
        return false;
    }
    if (!id_list(o, "keyslots", ctx, HB_LUKS2_MAX_KEYSLOTS, &slots, errp) ||
        !id_list(o, "segments", ctx, 64, &segs, errp) ||
        !get_hash(o, "hash", ctx, &d->hash, errp) ||
        !get_u32(o, "iterations", ctx, 1, UINT32_MAX, &d->iterations, errp) ||
        !get_b64(o, "salt", ctx, 8, LUKS2_MAX_SALT, d->salt, &d->salt_len, errp) ||
        !get_b64(o, "digest", ctx, 20, LUKS2_MAX_DIGEST_LEN, d->digest, &d->digest_len, errp)) {
        return false;
    }
    if (segs & ~(UINT64_C(1) << seg_id)) {
        hb_error_set(errp, "LUKS2 %s names a segment that does not exist", ctx);
        return false;
    }
    d->segment0 = segs != 0;
    d->keyslots = (uint32_t)slots;
    for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
        Luks2Keyslot *s = &c->meta->slots[i];
        if (!(slots & (UINT64_C(1) << i))) {
            continue;
        }
        if (!s->present) {
            hb_error_set(errp, "LUKS2 %s names keyslot %d, which does not exist", ctx, i);
            return false;
        }
        if (s->digest >= 0) {
            hb_error_set(errp, "LUKS2 keyslot %d is in two digests (%d and %d)", i, s->digest,
                         id);
            return false;
        }
        s->digest = id;
    }
    d->present = true;
    return true;
}

static bool parse_digests(Ctx *c, JsonObject *ds, int seg_id, GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(ds);

    c->meta->seg_digest = -1;
    for (GList *l = names; l; l = l->next) {
        JsonNode *n = json_object_get_member(ds, l->data);
        int id;
        if (!parse_id(l->data, LUKS2_MAX_DIGESTS, "digest", &id, errp)) {
            return false;
        }
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            hb_error_set(errp, "LUKS2 digest %d is not an object", id);
            return false;
        }
        if (!parse_digest(c, id, json_node_get_object(n), seg_id, errp)) {
            return false;
        }
        if (c->meta->digests[id].segment0) {
            if (c->meta->seg_digest >= 0) {
                hb_error_set(errp, "LUKS2 data segment has two digests (%d and %d)",
                             c->meta->seg_digest, id);
                return false;
            }
            c->meta->seg_digest = id;
        }
    }
    if (c->meta->seg_digest < 0) {
        hb_error_set(errp, "LUKS2 header has no digest for its data segment");
        return false;
    }
    return true;
}

/* The segment's cipher takes its key size from the keyslots that unlock it. */
static bool segment_cipher(Ctx *c, const char *enc, GError **errp)
{
    const Luks2Digest *d = &c->meta->digests[c->meta->seg_digest];
    uint32_t key_size = 0;

    for (int i = 0; i < HB_LUKS2_MAX_KEYSLOTS; i++) {
        const Luks2Keyslot *s = &c->meta->slots[i];
        if (!(d->keyslots & (1u << i))) {
            continue;
        }
        if (key_size && s->key_size != key_size) {
            hb_error_set(errp, "LUKS2 keyslots of the data segment disagree on the key size "
                         "(%u and %u bytes)", key_size, s->key_size);
            return false;
        }
        key_size = s->key_size;
    }
    if (!key_size) {
        hb_error_set(errp, "LUKS2 header has no keyslot for its data segment");
        return false;
    }
    return luks2_cipher_parse(enc, key_size, &c->meta->seg.cipher, "segment", errp);
}

bool luks2_parse_json(const char *json, uint64_t hdr_size, uint64_t volume_size,
                      Luks2Meta *meta, GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    Ctx c = { .meta = meta, .hdr_size = hdr_size, .volume_size = volume_size };
    JsonObject *root, *cfg, *ks, *segs, *ds;
    const char *enc = NULL;
    int seg_id;

    memset(meta, 0, sizeof(*meta));
    if (json[0] != '{') {
        hb_error_set(errp, "LUKS2 JSON metadata does not start with '{'");
        return false;
    }
    if (!json_parser_load_from_data(parser, json, -1, &err)) {
        hb_error_set(errp, "LUKS2 JSON metadata is not valid JSON: %s", err->message);
        return false;
    }
    JsonNode *r = json_parser_get_root(parser);
    if (!r || !JSON_NODE_HOLDS_OBJECT(r)) {
        hb_error_set(errp, "LUKS2 JSON metadata is not an object");
        return false;
    }
    root = json_node_get_object(r);
    /* Tokens are not used, but must be well-formed where they are. */
    return (cfg = get_object(root, "config", "metadata", errp)) &&
           get_object(root, "tokens", "metadata", errp) &&
           (ks = get_object(root, "keyslots", "metadata", errp)) &&
           (segs = get_object(root, "segments", "metadata", errp)) &&
           (ds = get_object(root, "digests", "metadata", errp)) &&
           parse_config(&c, cfg, errp) &&
           parse_keyslots(&c, ks, errp) &&
           parse_segments(&c, segs, &seg_id, &enc, errp) &&
           parse_digests(&c, ds, seg_id, errp) &&
           segment_cipher(&c, enc, errp);
}
