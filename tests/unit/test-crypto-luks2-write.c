/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-crypto-luks2-write.c — LUKS2 volumes created here, opened
 * again, encrypting and decrypting; keyslots added and erased; a damaged
 * primary header after those writes falls back to the secondary. */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/luks2.h"
#include "tests/lib/mem-read.h"

#define PASS ((const uint8_t *)"abc123")
#define PASSLEN 6
#define MIB (1024 * 1024)

static int vol_read(void *opaque, uint64_t off, void *buf, size_t len)
{
    GByteArray *b = opaque;
    return hbt_mem_read(b->data, b->len, off, buf, len);
}

static int vol_write(void *opaque, uint64_t off, const void *buf, size_t len)
{
    return hbt_mem_write(opaque, off, buf, len);
}

/* Fails the write of the primary header copy (offset 0), as a bad sector would. */
static int primary_fails(void *opaque, uint64_t off, const void *buf, size_t len)
{
    return off == 0 ? -EIO : hbt_mem_write(opaque, off, buf, len);
}

/* Tiny KDF costs: the layout and the code paths are what is tested. */
static const HbLuks2CreateOpts fast = { .iter_time_ms = 5, .memory_kib = 256, .parallel = 1 };

static GByteArray *make(const HbLuks2CreateOpts *o)
{
    GByteArray *b = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    uint64_t size = 0;

    g_assert_true(hb_luks2_create(vol_write, b, o, PASS, PASSLEN, &size, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(size, ==, 16 * MIB);
    g_assert_cmpuint(b->len, ==, size);
    return b;
}

static HbLuks2 *open_v(GByteArray *b, const char *pass, GError **errp)
{
    return hb_luks2_open(vol_read, b, b->len, (const uint8_t *)pass, pass ? strlen(pass) : 0,
                         errp);
}

static void test_create_roundtrip(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);
    HbLuks2Info info;
    uint8_t plain[4096], buf[4096];

    g_assert_no_error(err);
    g_assert_nonnull(l);
    hb_luks2_get_info(l, &info);
    g_assert_cmpstr(info.cipher_alg, ==, "aes-256");
    g_assert_cmpstr(info.cipher_mode, ==, "xts");
    g_assert_cmpstr(info.ivgen_alg, ==, "plain64");
    g_assert_cmpuint(info.payload_offset, ==, 16 * MIB);
    g_assert_cmpuint(info.sector_size, ==, 512);
    g_assert_cmpuint(info.seqid, ==, 1);
    g_assert_cmpint(info.nslots, ==, 1);
    g_assert_cmpstr(info.slots[0].kdf, ==, "argon2id");
    g_assert_cmpuint(info.slots[0].memory_kib, ==, 256);
    g_assert_cmpuint(info.slots[0].cpus, ==, 1);
    g_assert_cmpuint(info.slots[0].key_size, ==, 64);
    g_assert_cmpuint(info.slots[0].stripes, ==, 4000);
    g_assert_cmpuint(info.slots[0].area_offset, ==, 32768);
    g_assert_cmpuint(info.slots[0].area_size, ==, 258048);

    for (size_t i = 0; i < sizeof(plain); i++) {
        plain[i] = (uint8_t)(i * 7);
    }
    memcpy(buf, plain, sizeof(buf));
    g_assert_cmpint(hb_luks2_encrypt(l, 8, buf, sizeof(buf)), ==, 0);
    g_assert_true(memcmp(buf, plain, sizeof(buf)) != 0);

    /* A second open derives the same volume key from the passphrase. */
    g_autoptr(HbLuks2) l2 = open_v(b, "abc123", &err);
    g_assert_no_error(err);
    g_assert_cmpint(hb_luks2_decrypt(l2, 8, buf, sizeof(buf)), ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), plain, sizeof(plain));

    g_autoptr(HbLuks2) bad = open_v(b, "wrong", &err);
    g_assert_null(bad);
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
}

static void test_create_options(void)
{
    HbLuks2CreateOpts o = fast;
    o.sector_size = 4096;
    o.detached_header = true;
    o.pbkdf = "pbkdf2";
    o.memory_kib = 0;
    o.parallel = 0;
    o.key_size_bits = 256;
    g_autoptr(GByteArray) b = make(&o);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);
    HbLuks2Info info;

    g_assert_no_error(err);
    hb_luks2_get_info(l, &info);
    g_assert_cmpuint(info.payload_offset, ==, 0);
    g_assert_cmpuint(info.sector_size, ==, 4096);
    g_assert_cmpstr(info.cipher_alg, ==, "aes-128");
    g_assert_cmpstr(info.slots[0].kdf, ==, "pbkdf2");
    g_assert_cmpstr(info.slots[0].kdf_hash, ==, "sha256");
    g_assert_cmpuint(info.slots[0].iterations, >=, 1000);
}

static void test_create_errors(void)
{
    static const struct {
        HbLuks2CreateOpts o;
        const char *msg;
    } cases[] = {
        { { .pbkdf = "scrypt" }, "Unknown LUKS2 PBKDF 'scrypt' (pbkdf2, argon2i, argon2id)" },
        { { .sector_size = 8192 }, "LUKS2 sector size 8192 is not one of 512, 1024, 2048, 4096" },
        { { .key_size_bits = 1000 }, "LUKS2 key size 1000 bits is not supported" },
        { { .pbkdf = "pbkdf2", .memory_kib = 1024 },
          "LUKS2 PBKDF pbkdf2 takes no memory or parallel cost" },
        { { .memory_kib = 4u * 1024 * 1024 }, NULL },
    };
    for (size_t n = 0; n < G_N_ELEMENTS(cases); n++) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autoptr(GError) err = NULL;
        uint64_t size = 0;
        g_assert_false(hb_luks2_create(vol_write, b, &cases[n].o, PASS, PASSLEN, &size, &err));
        g_assert_nonnull(err);
        if (cases[n].msg) {
            g_assert_cmpstr(err->message, ==, cases[n].msg);
        } else {
            g_assert_nonnull(strstr(err->message, "--max-argon2-memory"));
        }
        /* Options are checked before anything is written. */
        g_assert_cmpuint(b->len, ==, 0);
    }
}

static void add(HbLuks2 *l, GByteArray *b, int slot, const char *pass)
{
    g_autoptr(GError) err = NULL;
    g_assert_true(hb_luks2_add_keyslot(l, vol_read, vol_write, b, slot, (const uint8_t *)pass,
                                       strlen(pass), 5, &err));
    g_assert_no_error(err);
}

static void expect_opens(GByteArray *b, const char *pass, bool ok)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, pass, &err);
    g_assert_true((l != NULL) == ok);
}

static void test_keyslots(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);
    HbLuks2Info info;

    add(l, b, -1, "second");
    add(l, b, 5, "sixth");
    hb_luks2_get_info(l, &info);
    g_assert_cmpuint(info.seqid, ==, 3);
    g_assert_cmpint(info.nslots, ==, 3);
    g_assert_cmpint(info.slots[1].id, ==, 1);
    g_assert_cmpint(info.slots[2].id, ==, 5);
    /* Areas follow each other, 4 KiB aligned, in the keyslots area. */
    g_assert_cmpuint(info.slots[1].area_offset, ==, 32768 + 258048);
    g_assert_cmpuint(info.slots[2].area_offset, ==, 32768 + 2 * 258048);
    expect_opens(b, "second", true);
    expect_opens(b, "sixth", true);

    g_assert_false(hb_luks2_add_keyslot(l, vol_read, vol_write, b, 5, (const uint8_t *)"x", 1, 5,
                                        &err));
    g_assert_cmpstr(err->message, ==,
                    "Refusing to overwrite active keyslot 5 - please erase it first");
    g_clear_error(&err);
    g_assert_false(hb_luks2_add_keyslot(l, vol_read, vol_write, b, 32, (const uint8_t *)"x", 1, 5,
                                        &err));
    g_assert_cmpstr(err->message, ==, "Invalid keyslot 32 specified, must be between 0 and 31");
    g_clear_error(&err);

    /* Erase: the material is overwritten, the passphrase refused. */
    uint8_t before[512];
    memcpy(before, b->data + info.slots[1].area_offset, sizeof(before));
    g_assert_true(hb_luks2_erase_keyslot(l, vol_write, b, 1, &err));
    g_assert_no_error(err);
    g_assert_true(memcmp(before, b->data + info.slots[1].area_offset, sizeof(before)) != 0);
    expect_opens(b, "second", false);
    expect_opens(b, "abc123", true);
    g_assert_false(hb_luks2_erase_keyslot(l, vol_write, b, 1, &err));
    g_assert_cmpstr(err->message, ==, "Given keyslot 1 is already erased (inactive) ");
    g_clear_error(&err);

    /* The freed area is reused by the next keyslot. */
    add(l, b, -1, "again");
    hb_luks2_get_info(l, &info);
    g_assert_cmpint(info.slots[1].id, ==, 1);
    g_assert_cmpuint(info.slots[1].area_offset, ==, 32768 + 258048);

    g_assert_true(hb_luks2_erase_keyslot(l, vol_write, b, 0, &err));
    g_assert_true(hb_luks2_erase_keyslot(l, vol_write, b, 1, &err));
    g_assert_no_error(err);
    g_assert_false(hb_luks2_erase_keyslot(l, vol_write, b, 5, &err));
    g_assert_cmpstr(err->message, ==,
                    "Attempt to erase the only active keyslot 5 which will erase all the data "
                    "in the image irreversibly - refusing operation");
    expect_opens(b, "sixth", true);
    expect_opens(b, "abc123", false);
}

/* All 32 ids in use (the 16 MiB area holds 64 such keyslots): refused. */
static void test_all_slots_used(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);

    for (int i = 1; i < 32; i++) {
        add(l, b, -1, "more");
    }
    g_assert_false(hb_luks2_add_keyslot(l, vol_read, vol_write, b, -1, (const uint8_t *)"x", 1,
                                        5, &err));
    g_assert_cmpstr(err->message, ==, "Can't add a keyslot - all keyslots are in use");
    HbLuks2Info info;
    hb_luks2_get_info(l, &info);
    g_assert_cmpint(info.nslots, ==, 32);
    g_assert_cmpuint(info.slots[31].area_offset, ==, 32768 + 31 * 258048);
    expect_opens(b, "abc123", true);
}

/* Another writer changed the header since open: nothing is written. */
static void test_add_stale(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l1 = open_v(b, "abc123", &err);
    g_autoptr(HbLuks2) l2 = open_v(b, "abc123", &err);

    add(l1, b, 1, "one");
    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, b->data, b->len);
    g_assert_false(hb_luks2_add_keyslot(l2, vol_read, vol_write, b, 2, (const uint8_t *)"two", 3,
                                        5, &err));
    g_assert_cmpstr(err->message, ==, "LUKS header changed on disk since it was opened");
    g_assert_cmpmem(b->data, b->len, copy->data, copy->len);
}

/* Both copies' JSON replaced by @json, checksums recomputed (another tool's edit). */
static void put_json(GByteArray *b, const char *json)
{
    for (uint64_t off = 0; off <= 16384; off += 16384) {
        memset(b->data + off + 4096, 0, 12288);
        memcpy(b->data + off + 4096, json, strlen(json));
        memset(b->data + off + 448, 0, 64);
        hb_hash_bytes(HB_HASH_SHA256, b->data + off, 16384, b->data + off + 448);
    }
}

/* Unknown members and tokens survive a rewrite; a token loses an erased slot. */
static void test_preserves_json(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);

    add(l, b, 1, "one");
    g_autoptr(GString) json = g_string_new((const char *)b->data + 4096);
    const char *tok = "\"tokens\":{}";
    const char *at = strstr(json->str, tok);
    g_assert_nonnull(at);
    gssize pos = at - json->str;
    g_string_erase(json, pos, (gssize)strlen(tok));
    g_string_insert(json, pos, "\"tokens\":{\"0\":{\"type\":\"x-test\",\"keyslots\":[\"0\","
                               "\"1\"],\"extra\":42}},\"x-unknown\":[1,2]");
    put_json(b, json->str);

    g_autoptr(HbLuks2) l2 = open_v(b, "abc123", &err);
    g_assert_no_error(err);
    g_assert_true(hb_luks2_erase_keyslot(l2, vol_write, b, 1, &err));
    g_assert_no_error(err);
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, (const char *)b->data + 4096, -1, NULL));
    JsonObject *top = json_node_get_object(json_parser_get_root(p));
    JsonObject *t0 = json_object_get_object_member(json_object_get_object_member(top, "tokens"),
                                                   "0");
    g_assert_cmpstr(json_object_get_string_member(t0, "type"), ==, "x-test");
    g_assert_cmpint(json_object_get_int_member(t0, "extra"), ==, 42);
    JsonArray *ks = json_object_get_array_member(t0, "keyslots");
    g_assert_cmpuint(json_array_get_length(ks), ==, 1);
    g_assert_cmpstr(json_array_get_string_element(ks, 0), ==, "0");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(top, "x-unknown")), ==, 2);
    JsonObject *d0 = json_object_get_object_member(json_object_get_object_member(top, "digests"),
                                                   "0");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(d0, "keyslots")), ==, 1);
    /* The secondary is the same metadata. */
    g_assert_cmpstr((const char *)b->data + 4096, ==, (const char *)b->data + 16384 + 4096);
}

static void test_primary_damaged(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);

    add(l, b, 1, "one");
    /* Damage the primary JSON area: the secondary, also rewritten, is used. */
    b->data[4096 + 10] ^= 0xff;
    g_autoptr(HbLuks2) l2 = open_v(b, "one", &err);
    g_assert_no_error(err);
    HbLuks2Info info;
    hb_luks2_get_info(l2, &info);
    g_assert_cmpuint(info.seqid, ==, 2);
    g_assert_cmpint(info.nslots, ==, 2);
    /* Wipe the primary's binary header altogether: still found. */
    memset(b->data, 0, 4096);
    g_assert_cmpint(hb_luks_version(vol_read, b, b->len), ==, 2);
    g_autoptr(HbLuks2) l3 = open_v(b, "abc123", &err);
    g_assert_no_error(err);
    g_assert_true(hb_luks2_has_key(l3));
}

/* The primary cannot be written: the secondary holds the new keyslot, the
 * volume opens with it, and the open handle agrees with the disk. */
static void test_primary_write_fails(void)
{
    g_autoptr(GByteArray) b = make(&fast);
    g_autoptr(GError) err = NULL;
    g_autoptr(HbLuks2) l = open_v(b, "abc123", &err);
    HbLuks2Info info;

    g_assert_false(hb_luks2_add_keyslot(l, vol_read, primary_fails, b, 1,
                                        (const uint8_t *)"one", 3, 5, &err));
    g_assert_cmpstr(err->message, ==, "Cannot write the LUKS2 primary header: Input/output error");
    g_clear_error(&err);
    hb_luks2_get_info(l, &info);
    g_assert_cmpint(info.nslots, ==, 2);
    g_autoptr(HbLuks2) l2 = open_v(b, "one", &err);
    g_assert_no_error(err);
    hb_luks2_get_info(l2, &info);
    g_assert_cmpuint(info.seqid, ==, 2);
    /* The next change goes through and makes both copies current again. */
    add(l, b, 2, "two");
    g_assert_cmpmem(b->data + 4096, 12288, b->data + 16384 + 4096, 12288);
    expect_opens(b, "two", true);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crypto/luks2-write/create-roundtrip", test_create_roundtrip);
    g_test_add_func("/crypto/luks2-write/create-options", test_create_options);
    g_test_add_func("/crypto/luks2-write/create-errors", test_create_errors);
    g_test_add_func("/crypto/luks2-write/keyslots", test_keyslots);
    g_test_add_func("/crypto/luks2-write/all-slots-used", test_all_slots_used);
    g_test_add_func("/crypto/luks2-write/add-stale", test_add_stale);
    g_test_add_func("/crypto/luks2-write/preserves-json", test_preserves_json);
    g_test_add_func("/crypto/luks2-write/primary-damaged", test_primary_damaged);
    g_test_add_func("/crypto/luks2-write/primary-write-fails", test_primary_write_fails);
    return g_test_run();
}
