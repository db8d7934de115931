/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-crypto-luks2.c — LUKS2 volumes built here from the on-disk
 * format (binary headers, JSON, a PBKDF2 or Argon2 keyslot), opened and
 * unlocked; then one malformed header per case, each with its own error. */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "crypto/afsplit.h"
#include "crypto/cipher.h"
#include "crypto/hash.h"
#include "crypto/kdf-argon2.h"
#include "crypto/luks2.h"
#include "crypto/pbkdf.h"
#include "tests/lib/mem-read.h"

#define PASS ((const uint8_t *)"abc123")
#define PASSLEN 6
#define HDR 16384
#define AREA_OFF 32768
#define AREA_SIZE 258048
#define KS_SIZE 262144
#define DATA_OFF (2 * HDR + KS_SIZE)
#define DATA_LEN 65536

/* ---- building a volume ---- */

static uint8_t vk[64], slot_salt[32], digest_salt[32], digest[32];

typedef struct Vol {
    uint8_t *data;
    size_t len;
} Vol;

static int vol_read(void *opaque, uint64_t off, void *buf, size_t len)
{
    Vol *v = opaque;
    return hbt_mem_read(v->data, v->len, off, buf, len);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

/* One binary header with its checksum over [offset, offset + hdr_size). */
typedef struct Bin {
    uint64_t hdr_size;
    uint64_t seqid;
    const char *uuid;
    const char *csum_alg;
} Bin;

static void write_bin(Vol *v, uint64_t offset, bool secondary, const Bin *b)
{
    uint8_t *h = v->data + offset;
    HbHashAlg alg = HB_HASH_SHA256;

    memset(h, 0, 4096);
    memcpy(h, secondary ? "SKUL\xba\xbe" : "LUKS\xba\xbe", 6);
    h[7] = 2;
    put64(h + 8, b->hdr_size);
    put64(h + 16, b->seqid);
    strcpy((char *)h + 72, b->csum_alg);
    memset(h + 104, secondary ? 0x22 : 0x11, 64);   /* salt */
    strcpy((char *)h + 168, b->uuid);
    put64(h + 256, offset);
    if (hb_hash_lookup(b->csum_alg, &alg, NULL)) {
        hb_hash_bytes(alg, h, b->hdr_size, h + 448);
    }
}

static void write_json(Vol *v, uint64_t offset, uint64_t hdr_size, const char *json)
{
    memset(v->data + offset + 4096, 0, hdr_size - 4096);
    memcpy(v->data + offset + 4096, json, MIN(strlen(json), hdr_size - 4096));
}

static char *b64(const uint8_t *p, size_t n)
{
    return g_base64_encode(p, n);
}

/* The base JSON: one PBKDF2 keyslot, one 512-byte-sector segment. */
static char *base_json(void)
{
    g_autofree char *s1 = b64(slot_salt, 32), *s2 = b64(digest_salt, 32), *d = b64(digest, 32);

    return g_strdup_printf(
        "{\"keyslots\":{\"0\":{\"type\":\"luks2\",\"key_size\":64,"
        "\"af\":{\"type\":\"luks1\",\"stripes\":4000,\"hash\":\"sha256\"},"
        "\"area\":{\"type\":\"raw\",\"offset\":\"%d\",\"size\":\"%d\","
        "\"encryption\":\"aes-xts-plain64\",\"key_size\":64},"
        "\"kdf\":{\"type\":\"pbkdf2\",\"hash\":\"sha256\",\"iterations\":1000,\"salt\":\"%s\"}}},"
        "\"tokens\":{},"
        "\"segments\":{\"0\":{\"type\":\"crypt\",\"offset\":\"%d\",\"size\":\"dynamic\","
        "\"iv_tweak\":\"0\",\"encryption\":\"aes-xts-plain64\",\"sector_size\":512}},"
        "\"digests\":{\"0\":{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],\"segments\":[\"0\"],"
        "\"hash\":\"sha256\",\"iterations\":1000,\"salt\":\"%s\",\"digest\":\"%s\"}},"
        "\"config\":{\"json_size\":\"%d\",\"keyslots_size\":\"%d\"}}",
        AREA_OFF, AREA_SIZE, s1, DATA_OFF, s2, d, HDR - 4096, KS_SIZE);
}

/* @path "a/b/c" in @json set to the JSON @value, or removed when NULL. */
static char *json_edit(const char *json, const char *path, const char *value)
{
    g_autoptr(JsonNode) root = json_from_string(json, NULL);
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    guint n = g_strv_length(parts);
    JsonObject *o = json_node_get_object(root);

    for (guint i = 0; i + 1 < n; i++) {
        o = json_object_get_object_member(o, parts[i]);
        g_assert_nonnull(o);
    }
    if (value) {
        JsonNode *node = json_from_string(value, NULL);
        g_assert_nonnull(node);
        json_object_set_member(o, parts[n - 1], node);
    } else {
        json_object_remove_member(o, parts[n - 1]);
    }
    return json_to_string(root, FALSE);
}

/* Keyslot key material for @vk at AREA_OFF under @slotkey (aes-xts-plain64). */
static void write_keyslot(Vol *v, uint64_t area_off, const uint8_t *slotkey)
{
    size_t n = 64 * 4000;
    g_autofree uint8_t *split = g_malloc(n);
    g_autoptr(GError) err = NULL;

    g_assert_true(hb_afsplit_encode(HB_HASH_SHA256, 64, 4000, vk, split, &err));
    g_autoptr(HbSectorCipher) c = hb_sector_cipher_new(HB_CIPHER_AES_256, HB_CIPHER_MODE_XTS,
                                                       HB_IVGEN_PLAIN64, HB_HASH_SHA256,
                                                       slotkey, 64, &err);
    g_assert_nonnull(c);
    g_assert_cmpint(hb_sector_cipher_encrypt(c, 0, split, n), ==, 0);
    memcpy(v->data + area_off, split, n);
}

static Vol *vol_build(const char *json, const char *json2)
{
    Vol *v = g_new0(Vol, 1);
    Bin b = { HDR, 1, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };
    uint8_t key[64];
    g_autoptr(GError) err = NULL;

    v->len = DATA_OFF + DATA_LEN;
    v->data = g_malloc0(v->len);
    write_json(v, 0, HDR, json);
    write_json(v, HDR, HDR, json2 ? json2 : json);
    write_bin(v, 0, false, &b);
    write_bin(v, HDR, true, &b);
    g_assert_true(hb_pbkdf2(HB_HASH_SHA256, PASS, PASSLEN, slot_salt, 32, 1000, key, 64, &err));
    write_keyslot(v, AREA_OFF, key);
    return v;
}

static void vol_free(Vol *v)
{
    g_free(v->data);
    g_free(v);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Vol, vol_free)

static void setup_keys(void)
{
    g_autoptr(GError) err = NULL;

    for (int i = 0; i < 64; i++) {
        vk[i] = (uint8_t)(i * 7 + 1);
    }
    memset(slot_salt, 0x5a, sizeof(slot_salt));
    memset(digest_salt, 0xa5, sizeof(digest_salt));
    g_assert_true(hb_pbkdf2(HB_HASH_SHA256, vk, 64, digest_salt, 32, 1000, digest, 32, &err));
}

static HbLuks2 *open_vol(Vol *v, bool with_pass, GError **errp)
{
    return hb_luks2_open(vol_read, v, v->len, with_pass ? PASS : NULL, PASSLEN, errp);
}

/* ---- good volumes ---- */

static void test_unlock_pbkdf2(void)
{
    g_autofree char *json = base_json();
    g_autoptr(Vol) v = vol_build(json, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_vol(v, true, &err);
    HbLuks2Info info;

    g_assert_no_error(err);
    g_assert_true(hb_luks2_has_key(l));
    g_assert_cmpmem(hb_luks2_master_key(l)->data, 64, vk, 64);
    g_assert_cmpuint(hb_luks2_payload_offset(l), ==, DATA_OFF);
    g_assert_cmpuint(hb_luks2_sector_size(l), ==, 512);
    hb_luks2_get_info(l, &info);
    g_assert_cmpstr(info.cipher_alg, ==, "aes-256");
    g_assert_cmpstr(info.cipher_mode, ==, "xts");
    g_assert_cmpint(info.nslots, ==, 1);
    g_assert_cmpstr(info.slots[0].kdf, ==, "pbkdf2");

    /* Metadata only: no key. */
    g_autoptr(HbLuks2) m = open_vol(v, false, &err);
    g_assert_no_error(err);
    g_assert_false(hb_luks2_has_key(m));
    g_assert_cmpint(hb_luks2_decrypt(m, 0, v->data, 512), ==, -ENOKEY);

    /* A wrong passphrase. */
    g_assert_null(hb_luks2_open(vol_read, v, v->len, (const uint8_t *)"nope", 4, &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
}

static void test_unlock_argon2id(void)
{
    uint8_t salt[16], key[64];
    g_autoptr(GError) err = NULL;

    memset(salt, 0x33, sizeof(salt));
    g_autofree char *s = b64(salt, sizeof(salt));
    g_autofree char *kdf = g_strdup_printf("{\"type\":\"argon2id\",\"time\":2,\"memory\":256,"
                                           "\"cpus\":2,\"salt\":\"%s\"}", s);
    g_autofree char *base = base_json();
    g_autofree char *json = json_edit(base, "keyslots/0/kdf", kdf);
    g_autoptr(Vol) v = vol_build(json, NULL);
    g_assert_true(hb_argon2(HB_ARGON2ID, PASS, PASSLEN, salt, sizeof(salt), 2, 256, 2, key, 64,
                            &err));
    write_keyslot(v, AREA_OFF, key);

    g_autoptr(HbLuks2) l = open_vol(v, true, &err);
    g_assert_no_error(err);
    g_assert_cmpmem(hb_luks2_master_key(l)->data, 64, vk, 64);
    HbLuks2Info info;
    hb_luks2_get_info(l, &info);
    g_assert_cmpstr(info.slots[0].kdf, ==, "argon2id");
    g_assert_cmpuint(info.slots[0].memory_kib, ==, 256);

    /* Each keyslot within the limits, all of them together not. */
    hb_luks2_set_max_memory(256);
    g_autofree char *j5 = g_strdup(json);
    for (int i = 1; i < 5; i++) {
        g_autofree char *path = g_strdup_printf("keyslots/%d", i);
        g_autofree char *slot = g_strdup_printf(
            "{\"type\":\"luks2\",\"key_size\":64,\"af\":{\"type\":\"luks1\",\"stripes\":1,"
            "\"hash\":\"sha256\"},\"area\":{\"type\":\"raw\",\"offset\":\"%d\",\"size\":\"512\","
            "\"encryption\":\"aes-xts-plain64\",\"key_size\":64},\"kdf\":{\"type\":\"argon2id\","
            "\"time\":32,\"memory\":256,\"cpus\":1,\"salt\":\"%s\"}}",
            AREA_OFF + AREA_SIZE + (i - 1) * 512, s);
        g_autofree char *tmp = json_edit(j5, path, slot);
        g_free(j5);
        j5 = g_steal_pointer(&tmp);
    }
    g_autofree char *j6 = json_edit(j5, "digests/0/keyslots", "[\"0\",\"1\",\"2\",\"3\",\"4\"]");
    g_autoptr(Vol) w = vol_build(j6, NULL);
    g_assert_null(open_vol(w, true, &err));
    g_assert_cmpstr(err->message, ==, "LUKS2 keyslots need 33280 KiB-passes of Argon2 in all "
                    "(time x memory), more than 128 passes over the memory limit of 256 KiB "
                    "(--max-argon2-memory)");
    g_clear_error(&err);

    /* The memory limit is checked before deriving. */
    hb_luks2_set_max_memory(128);
    g_assert_null(open_vol(v, true, &err));
    g_assert_cmpstr(err->message, ==, "LUKS2 keyslot 0 needs 256 KiB of memory for argon2id, "
                    "more than the limit of 128 KiB (--max-argon2-memory)");
    hb_luks2_set_max_memory(HB_LUKS2_DEFAULT_MAX_MEMORY_KIB);
}

/* 4096-byte sectors: one XTS unit each, IV = 512-byte sector number + iv_tweak. */
static void test_sector_size_4096_iv_tweak(void)
{
    g_autofree char *base = base_json();
    g_autofree char *j1 = json_edit(base, "segments/0/sector_size", "4096");
    g_autofree char *json = json_edit(j1, "segments/0/iv_tweak", "\"800\"");
    g_autoptr(Vol) v = vol_build(json, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_vol(v, true, &err);
    uint8_t a[8192], b[8192];

    g_assert_no_error(err);
    g_assert_cmpuint(hb_luks2_sector_size(l), ==, 4096);
    for (size_t i = 0; i < sizeof(a); i++) {
        a[i] = (uint8_t)(i * 31);
    }
    memcpy(b, a, sizeof(a));
    g_assert_cmpint(hb_luks2_encrypt(l, 8, a, sizeof(a)), ==, 0);
    g_autoptr(HbSectorCipher) c = hb_sector_cipher_new(HB_CIPHER_AES_256, HB_CIPHER_MODE_XTS,
                                                       HB_IVGEN_PLAIN64, HB_HASH_SHA256, vk, 64,
                                                       &err);
    g_assert_true(hb_sector_cipher_set_sector_size(c, 4096));
    g_assert_cmpint(hb_sector_cipher_encrypt(c, 808, b, 4096), ==, 0);
    g_assert_cmpint(hb_sector_cipher_encrypt(c, 816, b + 4096, 4096), ==, 0);
    g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
    g_assert_cmpint(hb_luks2_decrypt(l, 8, a, sizeof(a)), ==, 0);
    g_assert_cmpint(a[100], ==, (uint8_t)(100 * 31));
    /* Misaligned sector numbers and lengths are refused. */
    g_assert_cmpint(hb_luks2_decrypt(l, 1, a, 4096), ==, -EINVAL);
    g_assert_cmpint(hb_luks2_decrypt(l, 0, a, 512), ==, -EINVAL);
}

/* A damaged primary: the secondary serves.  A newer secondary wins. */
static void test_secondary(void)
{
    g_autofree char *json = base_json();
    g_autoptr(GError) err = NULL;

    g_autoptr(Vol) v = vol_build(json, NULL);
    v->data[4096 + 10] ^= 1;    /* primary JSON: checksum now wrong */
    g_autoptr(HbLuks2) l = open_vol(v, true, &err);
    g_assert_no_error(err);
    g_assert_true(hb_luks2_has_key(l));

    /* Even without the primary's signature the volume is found to be LUKS2. */
    g_assert_cmpint(hb_luks_version(vol_read, v, v->len), ==, 2);
    memset(v->data, 0, 8);
    g_assert_cmpint(hb_luks_version(vol_read, v, v->len), ==, 2);
    g_autoptr(HbLuks2) l2 = open_vol(v, true, &err);
    g_assert_no_error(err);
    g_assert_true(hb_luks2_has_key(l2));
    memset(v->data + HDR, 0, 8);
    g_assert_cmpint(hb_luks_version(vol_read, v, v->len), ==, 0);

    /* The secondary has seqid 2 and says priority "prefer". */
    g_autofree char *json2 = json_edit(json, "keyslots/0/priority", "2");
    g_autoptr(Vol) w = vol_build(json, json2);
    Bin b2 = { HDR, 2, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };
    write_bin(w, HDR, true, &b2);
    g_autoptr(HbLuks2) m = open_vol(w, false, &err);
    g_assert_no_error(err);
    HbLuks2Info info;
    hb_luks2_get_info(m, &info);
    g_assert_cmpuint(info.seqid, ==, 2);
    g_assert_cmpint(info.slots[0].priority, ==, 2);
}

static void test_priority_ignore(void)
{
    g_autofree char *base = base_json();
    g_autofree char *json = json_edit(base, "keyslots/0/priority", "0");
    g_autoptr(Vol) v = vol_build(json, NULL);
    g_autoptr(GError) err = NULL;

    g_assert_null(open_vol(v, true, &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
}

/* ---- hostile headers ---- */

typedef struct Case {
    const char *name;
    const char *path;           /* JSON edit, both copies; NULL: @raw only */
    const char *value;          /* NULL: remove */
    void (*raw)(Vol *v);        /* after building */
    const char *want;           /* the exact error */
} Case;

static void rewrite_both(Vol *v, const char *json, uint64_t hdr_size)
{
    Bin b = { hdr_size, 1, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };

    write_json(v, 0, hdr_size, json);
    write_json(v, hdr_size, hdr_size, json);
    write_bin(v, 0, false, &b);
    write_bin(v, hdr_size, true, &b);
}

static void raw_no_nul(Vol *v)
{
    g_autofree char *pad = g_strnfill(HDR - 4096, ' ');
    Bin b = { HDR, 1, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };

    for (int c = 0; c < 2; c++) {
        memcpy(v->data + c * HDR + 4096, pad, HDR - 4096);
        v->data[c * HDR + 4096] = '{';
        write_bin(v, (uint64_t)c * HDR, c == 1, &b);
    }
}

static void raw_after_nul(Vol *v)
{
    Bin b = { HDR, 1, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };

    v->data[4096 + 12000] = 'x';
    v->data[HDR + 4096 + 12000] = 'x';
    write_bin(v, 0, false, &b);
    write_bin(v, HDR, true, &b);
}

static void raw_bad_json(Vol *v)
{
    rewrite_both(v, "{\"keyslots\":{", HDR);
}

static void raw_not_brace(Vol *v)
{
    rewrite_both(v, "[1,2]", HDR);
}

static void raw_csum(Vol *v)
{
    v->data[4096 + 3] ^= 1;
    v->data[HDR + 4096 + 3] ^= 1;
}

static void raw_hdr_size(Vol *v)
{
    put64(v->data + 8, 20000);
    put64(v->data + HDR + 8, 20000);
}

static void raw_csum_alg(Vol *v)
{
    Bin b = { HDR, 1, "9f1a1c4e-0000-4000-8000-000000000001", "md5" };
    write_bin(v, 0, false, &b);
    write_bin(v, HDR, true, &b);
}

static void raw_seqid_same(Vol *v)
{
    g_autofree char *base = base_json();
    g_autofree char *other = json_edit(base, "keyslots/0/priority", "2");
    Bin b = { HDR, 1, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };

    write_json(v, HDR, HDR, other);
    write_bin(v, HDR, true, &b);
}

static void raw_uuid(Vol *v)
{
    Bin b = { HDR, 7, "9f1a1c4e-0000-4000-8000-000000000002", "sha256" };
    write_bin(v, HDR, true, &b);
}

static void raw_offset(Vol *v)
{
    put64(v->data + 256, 512);
    put64(v->data + HDR + 256, 512);
    Bin b = { HDR, 1, "9f1a1c4e-0000-4000-8000-000000000001", "sha256" };
    (void)b;
}

static void raw_truncate(Vol *v)
{
    v->len = 3000;
}

static void raw_digest(Vol *v)
{
    g_autofree char *base = base_json();
    uint8_t bad[32];
    memcpy(bad, digest, 32);
    bad[0] ^= 1;
    g_autofree char *d = b64(bad, 32);
    g_autofree char *val = g_strdup_printf("\"%s\"", d);
    g_autofree char *json = json_edit(base, "digests/0/digest", val);
    rewrite_both(v, json, HDR);
}

#define UUID1 "9f1a1c4e-0000-4000-8000-000000000001"

static const Case cases[] = {
    { "stripes-zero", "keyslots/0/af/stripes", "0", NULL,
      "LUKS2 keyslot 0 af 'stripes' is 0, outside 1..65536" },
    { "stripes-overflow", "keyslots/0/af/stripes", "4294967296000", NULL,
      "LUKS2 keyslot 0 af 'stripes' is 4294967296000, outside 1..65536" },
    { "json-size", "config/json_size", "\"8192\"", NULL,
      "LUKS2 config json_size 8192 does not match the header's JSON area (12288 bytes)" },
    { "json-size-huge", "config/json_size", "\"18446744073709551615\"", NULL,
      "LUKS2 config json_size 18446744073709551615 does not match the header's JSON area "
      "(12288 bytes)" },
    { "keyslots-size-unaligned", "config/keyslots_size", "\"1000\"", NULL,
      "LUKS2 config keyslots_size 1000 is not a multiple of 4096" },
    { "keyslots-size-beyond", "config/keyslots_size", "\"17592186044416\"", NULL,
      "LUKS2 keyslots area (17592186044416 bytes from 32768) ends beyond the header volume "
      "(360448 bytes)" },
    { "area-outside", "keyslots/0/area/offset", "\"4096\"", NULL,
      "LUKS2 keyslot 0 area [4096, +258048) is outside the keyslots area [32768, 294912)" },
    { "area-past-end", "keyslots/0/area/size", "\"18446744073709547520\"", NULL,
      "LUKS2 keyslot 0 area [32768, +18446744073709547520) is outside the keyslots area "
      "[32768, 294912)" },
    { "area-too-small", "keyslots/0/area/size", "\"4096\"", NULL,
      "LUKS2 keyslot 0 key material (64 bytes x 4000 stripes) does not fit its area of 4096 "
      "bytes" },
    { "areas-overlap", "keyslots/1",
      "{\"type\":\"luks2\",\"key_size\":64,\"af\":{\"type\":\"luks1\",\"stripes\":4000,"
      "\"hash\":\"sha256\"},\"area\":{\"type\":\"raw\",\"offset\":\"36864\",\"size\":\"258048\","
      "\"encryption\":\"aes-xts-plain64\",\"key_size\":64},\"kdf\":{\"type\":\"pbkdf2\","
      "\"hash\":\"sha256\",\"iterations\":1000,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}", NULL,
      "LUKS2 keyslots 0 and 1 have overlapping areas" },
    { "offset-not-number", "segments/0/offset", "\"12abc\"", NULL,
      "LUKS2 segment 0 'offset' is not a 64-bit decimal number: '12abc'" },
    { "offset-overflow", "segments/0/offset", "\"99999999999999999999\"", NULL,
      "LUKS2 segment 0 'offset' is not a 64-bit decimal number: '99999999999999999999'" },
    { "offset-not-string", "segments/0/offset", "294912", NULL,
      "LUKS2 segment 0 'offset' is not a string" },
    { "sector-size-odd", "segments/0/sector_size", "1000", NULL,
      "LUKS2 segment 0 sector_size 1000 is not a power of two" },
    { "sector-size-big", "segments/0/sector_size", "8192", NULL,
      "LUKS2 segment 0 'sector_size' is 8192, outside 512..4096" },
    { "segment-unaligned", "segments/0/offset", "\"295424\"", NULL,
      "LUKS2 segment 0 offset 295424 or size 0 is not a multiple of its sector size 4096" },
    { "segment-size-zero", "segments/0/size", "\"0\"", NULL,
      "LUKS2 segment 0 size '0' is neither \"dynamic\" nor a positive number" },
    { "segment-past-2^63", "segments/0/size", "\"18446744073709551104\"", NULL,
      "LUKS2 segment 0 ends beyond 2^63 bytes" },
    { "integrity", "segments/0/integrity",
      "{\"type\":\"hmac(sha256)\",\"journal_encryption\":\"none\","
      "\"journal_integrity\":\"none\"}", NULL,
      "LUKS2 segment 0 uses authenticated encryption (integrity), which is not supported" },
    { "two-segments", "segments/1",
      "{\"type\":\"linear\",\"offset\":\"0\",\"size\":\"dynamic\"}", NULL,
      "LUKS2 header has 2 data segments: several segments (a reencryption in progress) are "
      "not supported" },
    { "no-segment", "segments", "{}", NULL, "LUKS2 header has no data segment" },
    { "segment-linear", "segments/0/type", "\"linear\"", NULL,
      "LUKS2 segment 0 type 'linear' not supported (only 'crypt')" },
    { "segment-flag", "segments/0/flags", "[\"in-reencryption\"]", NULL,
      "LUKS2 segment 0 has flag 'in-reencryption': reencryption in progress is not supported" },
    { "reencrypt-requirement", "config/requirements",
      "{\"mandatory\":[\"online-reencrypt-v2\"]}", NULL,
      "LUKS2 volume is being reencrypted (requirement 'online-reencrypt-v2'): reencryption in "
      "progress is not supported" },
    { "unknown-requirement", "config/requirements", "{\"mandatory\":[\"frobnicate\"]}", NULL,
      "LUKS2 header requires 'frobnicate', which is not supported" },
    { "keyslot-reencrypt", "keyslots/0/type", "\"reencrypt\"", NULL,
      "LUKS2 keyslot 0 is a reencryption keyslot: reencryption in progress is not supported" },
    { "keyslot-type", "keyslots/0/type", "\"luks3\"", NULL,
      "LUKS2 keyslot 0 type 'luks3' not supported" },
    { "af-type", "keyslots/0/af/type", "\"luks2\"", NULL,
      "LUKS2 keyslot 0 anti-forensic splitter 'luks2' not supported" },
    { "af-hash", "keyslots/0/af/hash", "\"whirlpool\"", NULL,
      "LUKS2 keyslot 0 af hash 'whirlpool' not supported" },
    { "kdf-type", "keyslots/0/kdf/type", "\"scrypt\"", NULL,
      "LUKS2 keyslot 0 kdf type 'scrypt' not supported (pbkdf2, argon2i, argon2id)" },
    { "kdf-salt", "keyslots/0/kdf/salt", "\"!!!!\"", NULL,
      "LUKS2 keyslot 0 kdf 'salt' is not valid base64" },
    { "kdf-salt-short", "keyslots/0/kdf/salt", "\"AAAA\"", NULL,
      "LUKS2 keyslot 0 kdf 'salt' has 3 bytes, not 8..64" },
    { "kdf-iterations", "keyslots/0/kdf/iterations", "0", NULL,
      "LUKS2 keyslot 0 kdf 'iterations' is 0, outside 1..4294967295" },
    { "argon2-memory-per-cpu", "keyslots/0/kdf",
      "{\"type\":\"argon2i\",\"time\":1,\"memory\":64,\"cpus\":16,\"salt\":\"AAAAAAAAAAA=\"}",
      NULL, "LUKS2 keyslot 0 kdf memory 64 KiB is less than 8 KiB for each of its 16 cpus" },
    { "argon2-memory-limit", "keyslots/0/kdf",
      "{\"type\":\"argon2id\",\"time\":4,\"memory\":4194304,\"cpus\":4,"
      "\"salt\":\"AAAAAAAAAAA=\"}", NULL,
      "LUKS2 keyslot 0 needs 4194304 KiB of memory for argon2id, more than the limit of "
      "1048576 KiB (--max-argon2-memory)" },
    { "argon2-time-limit", "keyslots/0/kdf",
      "{\"type\":\"argon2id\",\"time\":4000000,\"memory\":1048576,\"cpus\":4,"
      "\"salt\":\"AAAAAAAAAAA=\"}", NULL,
      "LUKS2 keyslot 0 argon2id cost (time 4000000 x 1048576 KiB) is more than 32 passes over "
      "the memory limit of 1048576 KiB (--max-argon2-memory)" },
    { "pbkdf2-limit", "keyslots/0/kdf/iterations", "4000000000", NULL,
      "LUKS2 header needs up to 4000001000 PBKDF2 iterations to try its keyslots, more than "
      "the limit of 50000000 (--max-pbkdf-iterations)" },
    { "area-cipher", "keyslots/0/area/encryption", "\"serpent-xts-plain64\"", NULL,
      "LUKS2 keyslot 0 area encryption 'serpent-xts-plain64' not supported (only aes-xts-*, "
      "aes-cbc-*)" },
    { "area-key-size", "keyslots/0/area/key_size", "33", NULL,
      "LUKS2 keyslot 0 area encryption 'aes-xts-plain64' with a 33-byte key not supported" },
    { "key-size-zero", "keyslots/0/key_size", "0", NULL,
      "LUKS2 keyslot 0 'key_size' is 0, outside 1..64" },
    { "priority", "keyslots/0/priority", "3", NULL,
      "LUKS2 keyslot 0 'priority' is 3, outside 0..2" },
    { "keyslot-id", "keyslots/abc", "{}", NULL,
      "LUKS2 keyslot id 'abc' is not a number below 32" },
    { "digest-keyslot", "digests/0/keyslots", "[\"0\",\"5\"]", NULL,
      "LUKS2 digest 0 names keyslot 5, which does not exist" },
    { "digest-two", "digests/1", NULL, NULL, NULL /* below */ },
    { "digest-type", "digests/0/type", "\"argon2\"", NULL,
      "LUKS2 digest 0 type 'argon2' not supported (only pbkdf2)" },
    { "digest-short", "digests/0/digest", "\"AAAAAAAAAAA=\"", NULL,
      "LUKS2 digest 0 'digest' has 8 bytes, not 20..64" },
    { "digest-no-segment", "digests/0/segments", "[]", NULL,
      "LUKS2 header has no digest for its data segment" },
    { "digest-bad-segment", "digests/0/segments", "[\"0\",\"3\"]", NULL,
      "LUKS2 digest 0 names a segment that does not exist" },
    { "no-config", "config", NULL, NULL, "LUKS2 metadata has no 'config'" },
    { "tokens-array", "tokens", "[]", NULL, "LUKS2 metadata 'tokens' is not an object" },
    { "json-no-nul", NULL, NULL, raw_no_nul,
      "LUKS2 header's JSON area has no terminating NUL" },
    { "json-after-nul", NULL, NULL, raw_after_nul,
      "LUKS2 header's JSON area has data after its terminating NUL (at byte 12000)" },
    { "json-invalid", NULL, NULL, raw_bad_json, NULL /* json-glib's text */ },
    { "json-not-object", NULL, NULL, raw_not_brace,
      "LUKS2 JSON metadata does not start with '{'" },
    { "checksum", NULL, NULL, raw_csum,
      "LUKS2 header checksum (sha256) does not match its contents" },
    { "hdr-size", NULL, NULL, raw_hdr_size,
      "LUKS2 primary header size 20000 is not a power of two from 16 KiB to 4 MiB; LUKS2 "
      "secondary header not found" },
    { "checksum-alg", NULL, NULL, raw_csum_alg,
      "LUKS2 header checksum algorithm 'md5' not supported" },
    { "seqid-same-metadata-differs", NULL, NULL, raw_seqid_same,
      "LUKS2 primary and secondary headers have the same seqid 1 but different metadata" },
    { "uuid-differs", NULL, NULL, raw_uuid,
      "LUKS2 primary and secondary headers have different UUIDs (" UUID1
      ", 9f1a1c4e-0000-4000-8000-000000000002)" },
    { "hdr-offset", NULL, NULL, raw_offset,
      "LUKS2 primary header at offset 0 says it is at 512 (header size 16384); LUKS2 secondary "
      "header not found" },
    { "truncated", NULL, NULL, raw_truncate,
      "LUKS2 primary header is truncated: the volume has 3000 bytes; LUKS2 secondary header "
      "not found" },
    { "digest-mismatch", NULL, NULL, raw_digest, "Invalid password, cannot unlock any keyslot" },
};

static void test_hostile(gconstpointer data)
{
    const Case *c = data;
    g_autofree char *base = base_json();
    g_autofree char *json = NULL;
    g_autoptr(GError) err = NULL;

    if (g_str_equal(c->name, "digest-two")) {
        /* keyslot 0 in two digests */
        g_autofree char *d = json_edit(base, "digests/0/segments", "[]");
        g_autofree char *s2 = b64(digest_salt, 32), *dg = b64(digest, 32);
        g_autofree char *val = g_strdup_printf(
            "{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],\"segments\":[\"0\"],\"hash\":\"sha256\","
            "\"iterations\":1000,\"salt\":\"%s\",\"digest\":\"%s\"}", s2, dg);
        json = json_edit(d, "digests/1", val);
    } else if (g_str_equal(c->name, "segment-unaligned")) {
        /* 512-byte sectors take any 512 multiple, so 4096-byte ones. */
        g_autofree char *j = json_edit(base, "segments/0/sector_size", "4096");
        json = json_edit(j, c->path, c->value);
    } else if (c->path) {
        json = json_edit(base, c->path, c->value);
    } else {
        json = g_strdup(base);
    }
    g_autoptr(Vol) v = vol_build(json, NULL);
    if (c->raw) {
        c->raw(v);
    }
    HbLuks2 *l = open_vol(v, true, &err);
    g_assert_null(l);
    g_assert_nonnull(err);
    if (g_str_equal(c->name, "digest-two")) {
        g_assert_cmpstr(err->message, ==, "LUKS2 keyslot 0 is in two digests (0 and 1)");
    } else if (g_str_equal(c->name, "json-invalid")) {
        g_assert_true(g_str_has_prefix(err->message, "LUKS2 JSON metadata is not valid JSON: "));
    } else {
        g_assert_cmpstr(err->message, ==, c->want);
    }
}

/* Every hostile case fails with its own message. */
static void test_messages_distinct(void)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        if (cases[i].want) {
            g_assert_false(g_hash_table_contains(seen, cases[i].want));
            g_hash_table_add(seen, (gpointer)cases[i].want);
        }
    }
    g_assert_cmpuint(G_N_ELEMENTS(cases), >=, 30);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    setup_keys();
    g_test_add_func("/luks2/unlock-pbkdf2", test_unlock_pbkdf2);
    g_test_add_func("/luks2/unlock-argon2id", test_unlock_argon2id);
    g_test_add_func("/luks2/sector-size-4096-iv-tweak", test_sector_size_4096_iv_tweak);
    g_test_add_func("/luks2/secondary", test_secondary);
    g_test_add_func("/luks2/priority-ignore", test_priority_ignore);
    g_test_add_func("/luks2/hostile/distinct", test_messages_distinct);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("/luks2/hostile/%s", cases[i].name);
        g_test_add_data_func(name, &cases[i], test_hostile);
    }
    return g_test_run();
}
