/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-crypto-luks1.c — LUKS1 create/open/unlock on an in-memory
 * volume, keyslot management, and one precise error per malformed header. */
#include <errno.h>
#include <string.h>

#include "crypto/luks1.h"
#include "tests/lib/mem-read.h"

typedef struct {
    GByteArray *b;
    bool fail_read;
} MemVol;

static int mem_read(void *opaque, uint64_t off, void *buf, size_t len)
{
    MemVol *v = opaque;
    return v->fail_read ? -EIO : hbt_mem_read(v->b->data, v->b->len, off, buf, len);
}

static int mem_write(void *opaque, uint64_t off, const void *buf, size_t len)
{
    MemVol *v = opaque;
    return hbt_mem_write(v->b, off, buf, len);
}

#define PASS ((const uint8_t *)"abc123")
#define PASSLEN 6

static MemVol *vol_new(void)
{
    MemVol *v = g_new0(MemVol, 1);
    v->b = g_byte_array_new();
    return v;
}

static void vol_free(MemVol *v)
{
    g_byte_array_unref(v->b);
    g_free(v);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemVol, vol_free)

static MemVol *make(const HbLuks1CreateOpts *o)
{
    MemVol *v = vol_new();
    uint64_t size = 0;
    g_autoptr(GError) err = NULL;
    HbLuks1CreateOpts fast = o ? *o : (HbLuks1CreateOpts){ 0 };

    fast.iter_time_ms = 1;
    g_assert_true(hb_luks1_create(mem_write, v, &fast, PASS, PASSLEN, &size, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(v->b->len, ==, size);
    return v;
}

static HbLuks1 *open_v(MemVol *v, const char *pass, GError **errp)
{
    return hb_luks1_open(mem_read, v, v->b->len, (const uint8_t *)pass, pass ? strlen(pass) : 0,
                         errp);
}

static void test_create_default(void)
{
    g_autoptr(MemVol) v = make(NULL);
    g_autoptr(GError) err = NULL;
    HbLuks1Info info;

    /* QEMU's layout for aes-256-xts: 8 + 8 * 504 sectors. */
    g_assert_cmpuint(v->b->len, ==, 2068480);
    g_autoptr(HbLuks1) l = open_v(v, "abc123", &err);
    g_assert_no_error(err);
    g_assert_true(hb_luks1_has_key(l));
    g_assert_cmpuint(hb_luks1_payload_offset(l), ==, 2068480);
    g_assert_cmpuint(hb_luks1_header_size(l), ==, 2068480);
    g_assert_cmpuint(hb_luks1_master_key(l)->len, ==, 64);
    hb_luks1_get_info(l, &info);
    g_assert_cmpstr(info.cipher_alg, ==, "aes-256");
    g_assert_cmpstr(info.cipher_mode, ==, "xts");
    g_assert_cmpstr(info.ivgen_alg, ==, "plain64");
    g_assert_cmpstr(info.ivgen_hash_alg, ==, "");
    g_assert_cmpstr(info.hash_alg, ==, "sha256");
    g_assert_cmpuint(info.payload_offset, ==, 2068480);
    g_assert_cmpuint(info.master_key_iters, >=, 1000);
    g_assert_cmpuint(strlen(info.uuid), ==, 36);
    g_assert_true(info.slots[0].active);
    g_assert_cmpuint(info.slots[0].iters, >=, 1000);
    g_assert_cmpuint(info.slots[0].stripes, ==, 4000);
    g_assert_cmpuint(info.slots[0].key_offset, ==, 4096);
    for (int i = 1; i < 8; i++) {
        g_assert_false(info.slots[i].active);
        g_assert_cmpuint(info.slots[i].key_offset, ==, 4096 + (uint64_t)i * 504 * 512);
    }
}

static void test_wrong_pass_and_metadata_only(void)
{
    g_autoptr(MemVol) v = make(NULL);
    g_autoptr(GError) err = NULL;
    uint8_t buf[512] = { 0 };

    g_assert_null(open_v(v, "abc124", &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
    g_clear_error(&err);
    g_assert_null(open_v(v, "", &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
    g_clear_error(&err);
    g_autoptr(HbLuks1) l = open_v(v, NULL, &err);
    g_assert_no_error(err);
    g_assert_false(hb_luks1_has_key(l));
    g_assert_null(hb_luks1_master_key(l));
    g_assert_cmpint(hb_luks1_decrypt(l, 0, buf, 512), ==, -ENOKEY);
    g_assert_cmpint(hb_luks1_encrypt(l, 0, buf, 512), ==, -ENOKEY);
}

static void test_detached(void)
{
    HbLuks1CreateOpts o = { .detached_header = true };
    g_autoptr(MemVol) v = make(&o);
    g_autoptr(GError) err = NULL;

    g_assert_cmpuint(v->b->len, ==, 2068480);
    g_autoptr(HbLuks1) l = open_v(v, "abc123", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(hb_luks1_payload_offset(l), ==, 0);
}

static void test_variants(void)
{
    static const HbLuks1CreateOpts variants[] = {
        { .cipher_alg = "aes-128", .cipher_mode = "xts", .hash_alg = "sha1" },
        { .cipher_alg = "aes-192", .cipher_mode = "xts", .hash_alg = "sha512" },
        { .cipher_alg = "aes-128", .cipher_mode = "cbc", .ivgen_alg = "essiv" },
        { .cipher_alg = "aes-192", .cipher_mode = "cbc", .ivgen_alg = "plain" },
        { .cipher_alg = "aes-256", .cipher_mode = "cbc", .ivgen_alg = "essiv",
          .ivgen_hash_alg = "sha256", .hash_alg = "sha512" },
        { .cipher_mode = "xts", .ivgen_alg = "plain64", .ivgen_hash_alg = "sha1" },
    };
    static const char *const want_mode[] = {
        "xts", "xts", "cbc", "cbc", "cbc", "xts",
    };
    static const char *const want_ivhash[] = { "", "", "sha256", "", "sha256", "sha1" };

    for (size_t n = 0; n < G_N_ELEMENTS(variants); n++) {
        g_autoptr(MemVol) v = make(&variants[n]);
        g_autoptr(GError) err = NULL;
        HbLuks1Info info;
        uint8_t plain[4096], buf[4096];

        g_autoptr(HbLuks1) l = open_v(v, "abc123", &err);
        g_assert_no_error(err);
        hb_luks1_get_info(l, &info);
        g_assert_cmpstr(info.cipher_mode, ==, want_mode[n]);
        g_assert_cmpstr(info.ivgen_hash_alg, ==, want_ivhash[n]);
        for (size_t i = 0; i < sizeof(plain); i++) {
            plain[i] = (uint8_t)(i ^ n);
        }
        memcpy(buf, plain, sizeof(buf));
        g_assert_cmpint(hb_luks1_encrypt(l, 77, buf, sizeof(buf)), ==, 0);
        g_assert_true(memcmp(buf, plain, sizeof(buf)) != 0);
        /* A second, independent open decrypts what the first encrypted. */
        g_autoptr(HbLuks1) l2 = open_v(v, "abc123", &err);
        g_assert_no_error(err);
        g_assert_cmpint(hb_luks1_decrypt(l2, 77, buf, sizeof(buf)), ==, 0);
        g_assert_cmpmem(buf, sizeof(buf), plain, sizeof(plain));
        g_assert_cmpint(hb_luks1_decrypt(l2, 77, buf, 100), ==, -EINVAL);
    }
}

static void test_create_errors(void)
{
    static const struct {
        HbLuks1CreateOpts o;
        const char *err;
    } cases[] = {
        { { .cipher_alg = "twofish-256" }, "Algorithm 'twofish-256' not supported" },
        { { .cipher_mode = "ecb" }, "Cipher mode 'ecb' not supported" },
        { { .ivgen_alg = "benbi" }, "IV generator 'benbi' not supported" },
        { { .hash_alg = "md5" }, "Hash algorithm 'md5' not supported" },
        { { .ivgen_alg = "essiv", .ivgen_hash_alg = "sha1" },
          "No AES cipher with key size 20 available" },
        { { .ivgen_alg = "essiv", .ivgen_hash_alg = "sha3" }, "Hash algorithm 'sha3' not supported" },
    };
    for (size_t n = 0; n < G_N_ELEMENTS(cases); n++) {
        g_autoptr(MemVol) v = vol_new();
        g_autoptr(GError) err = NULL;
        uint64_t size;
        g_assert_false(hb_luks1_create(mem_write, v, &cases[n].o, PASS, PASSLEN, &size, &err));
        g_assert_cmpstr(err->message, ==, cases[n].err);
        g_assert_cmpuint(v->b->len, ==, 0);
    }
}

static void test_keyslots(void)
{
    g_autoptr(MemVol) v = make(NULL);
    g_autoptr(GError) err = NULL;
    HbLuks1Info info;

    g_autoptr(HbLuks1) l = open_v(v, "abc123", &err);
    g_assert_no_error(err);
    g_autofree uint8_t *mk = g_memdup2(hb_luks1_master_key(l)->data, 64);

    g_assert_true(hb_luks1_add_keyslot(l, mem_read, mem_write, v, -1, (const uint8_t *)"second",
                                       6, 1, &err));
    g_assert_no_error(err);
    g_assert_true(hb_luks1_add_keyslot(l, mem_read, mem_write, v, 5, (const uint8_t *)"fifth", 5,
                                       1, &err));
    hb_luks1_get_info(l, &info);
    g_assert_true(info.slots[0].active && info.slots[1].active && info.slots[5].active);
    g_assert_false(info.slots[2].active);

    g_assert_false(hb_luks1_add_keyslot(l, mem_read, mem_write, v, 1, (const uint8_t *)"x", 1, 1,
                                        &err));
    g_assert_cmpstr(err->message, ==, "Refusing to overwrite active keyslot 1 - please erase it first");
    g_clear_error(&err);
    g_assert_false(hb_luks1_add_keyslot(l, mem_read, mem_write, v, 8, (const uint8_t *)"x", 1, 1,
                                        &err));
    g_assert_cmpstr(err->message, ==, "Invalid keyslot 8 specified, must be between 0 and 7");
    g_clear_error(&err);

    {
        g_autoptr(HbLuks1) l5 = open_v(v, "fifth", &err);
        g_assert_no_error(err);
        g_assert_cmpmem(hb_luks1_master_key(l5)->data, 64, mk, 64);
    }

    g_assert_true(hb_luks1_erase_keyslot(l, mem_write, v, 0, &err));
    g_assert_no_error(err);
    g_assert_null(open_v(v, "abc123", &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
    g_clear_error(&err);
    g_assert_false(hb_luks1_erase_keyslot(l, mem_write, v, 0, &err));
    g_assert_cmpstr(err->message, ==, "Given keyslot 0 is already erased (inactive) ");
    g_clear_error(&err);
    g_assert_true(hb_luks1_erase_keyslot(l, mem_write, v, 5, &err));
    g_assert_false(hb_luks1_erase_keyslot(l, mem_write, v, 1, &err));
    g_assert_cmpstr(err->message, ==,
                    "Attempt to erase the only active keyslot 1 which will erase all the data "
                    "in the image irreversibly - refusing operation");
    g_clear_error(&err);
    {
        g_autoptr(HbLuks1) l1 = open_v(v, "second", &err);
        g_assert_no_error(err);
        g_assert_cmpmem(hb_luks1_master_key(l1)->data, 64, mk, 64);
        hb_luks1_get_info(l1, &info);
        g_assert_false(info.slots[0].active);
        g_assert_cmpuint(info.slots[0].iters, ==, 0);
    }

    /* Someone else rewrote the header: our copy is stale, refuse to write it. */
    v->b->data[200] ^= 1; /* a UUID byte */
    g_assert_false(hb_luks1_add_keyslot(l, mem_read, mem_write, v, -1, (const uint8_t *)"x", 1, 1,
                                        &err));
    g_assert_cmpstr(err->message, ==, "LUKS header changed on disk since it was opened");
    g_clear_error(&err);
    v->b->data[200] ^= 1;

    for (int i = 0; i < 8; i++) {
        if (i != 1) {
            g_assert_true(hb_luks1_add_keyslot(l, mem_read, mem_write, v, -1,
                                               (const uint8_t *)"more", 4, 1, &err));
        }
    }
    g_assert_false(hb_luks1_add_keyslot(l, mem_read, mem_write, v, -1, (const uint8_t *)"x", 1, 1,
                                        &err));
    g_assert_cmpstr(err->message, ==, "Can't add a keyslot - all keyslots are in use");
    g_clear_error(&err);

    g_autoptr(HbLuks1) meta = open_v(v, NULL, &err);
    g_assert_false(hb_luks1_add_keyslot(meta, mem_read, mem_write, v, -1, (const uint8_t *)"x", 1,
                                        1, &err));
    g_assert_cmpstr(err->message, ==, "Cannot add a keyslot: the LUKS volume is not unlocked");
}

/* ---- malformed headers: one mutation, one message ---- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define SLOT(i) (208 + 48 * (i))
#define SETSTR(off, s) (memset(h + (off), 0, 32), memcpy(h + (off), (s), strlen(s)))

static void m_magic(uint8_t *h) { h[0] = 'X'; }
static void m_version(uint8_t *h) { h[7] = 2; }
static void m_name_nul(uint8_t *h) { memset(h + 8, 'a', 32); }
static void m_mode_nul(uint8_t *h) { memset(h + 40, 'a', 32); }
static void m_hash_nul(uint8_t *h) { memset(h + 72, 'a', 32); }
static void m_payload(uint8_t *h) { put32(h + 104, 2); }
static void m_mk_iters(uint8_t *h) { put32(h + 164, 0); }
static void m_stripes(uint8_t *h) { put32(h + SLOT(3) + 44, 5); }
static void m_stripes0(uint8_t *h) { put32(h + SLOT(0) + 44, 0); }
static void m_state(uint8_t *h) { put32(h + SLOT(2), 1); }
static void m_slot_iters(uint8_t *h) { put32(h + SLOT(0) + 4, 0); }
static void m_slot_hdr(uint8_t *h) { put32(h + SLOT(0) + 40, 1); }
static void m_slot_payload(uint8_t *h) { put32(h + SLOT(7) + 40, 4000); }
static void m_slot_overlap(uint8_t *h) { memcpy(h + SLOT(5) + 40, h + SLOT(4) + 40, 4); }
static void m_cipher_foo(uint8_t *h) { SETSTR(8, "foo"); }
static void m_key_bytes(uint8_t *h) { put32(h + 108, 20); }
static void m_key_bytes0(uint8_t *h) { put32(h + 108, 0); }
static void m_key_bytes_odd(uint8_t *h) { put32(h + 108, 65); }
static void m_mode_nodash(uint8_t *h) { SETSTR(40, "xts"); }
static void m_mode_ctr(uint8_t *h) { SETSTR(40, "ctr-plain64"); }
static void m_ivgen(uint8_t *h) { SETSTR(40, "xts-plain65"); }
static void m_ivhash(uint8_t *h) { SETSTR(40, "xts-plain64:sha257"); }
static void m_ivhash_empty(uint8_t *h) { SETSTR(40, "xts-plain64:"); }
static void m_essiv_nohash(uint8_t *h) { SETSTR(40, "cbc-essiv"); put32(h + 108, 32); }
static void m_essiv_sha1(uint8_t *h) { SETSTR(40, "cbc-essiv:sha1"); put32(h + 108, 32); }
static void m_hash(uint8_t *h) { SETSTR(72, "sha2566"); }
static void m_hash_empty(uint8_t *h) { SETSTR(72, ""); }
static void m_hash_md5(uint8_t *h) { SETSTR(72, "md5"); }

static const struct {
    const char *name;
    void (*mutate)(uint8_t *h);
    const char *err;
} malformed[] = {
    { "magic", m_magic, "Volume is not in LUKS format" },
    { "version", m_version, "LUKS version 2 is not supported" },
    { "cipher-name-nul", m_name_nul, "LUKS header cipher name is not NUL terminated" },
    { "cipher-mode-nul", m_mode_nul, "LUKS header cipher mode is not NUL terminated" },
    { "hash-spec-nul", m_hash_nul, "LUKS header hash spec is not NUL terminated" },
    { "payload-in-header", m_payload, "LUKS payload is overlapping with the header" },
    { "mk-iters-zero", m_mk_iters, "LUKS key iteration count is zero" },
    { "stripes", m_stripes, "Keyslot 3 is corrupted (stripes 5 != 4000)" },
    { "stripes-zero", m_stripes0, "Keyslot 0 is corrupted (stripes 0 != 4000)" },
    { "slot-state", m_state, "Keyslot 2 state (active/disable) is corrupted" },
    { "slot-iters-zero", m_slot_iters, "Keyslot 0 iteration count is zero" },
    { "slot-in-header", m_slot_hdr, "Keyslot 0 is overlapping with the LUKS header" },
    { "slot-in-payload", m_slot_payload, "Keyslot 7 is overlapping with the encrypted payload" },
    { "slots-overlap", m_slot_overlap, "Keyslots 4 and 5 are overlapping in the header" },
    { "cipher-name", m_cipher_foo, "Algorithm 'foo' with key size 32 bytes not supported" },
    { "key-bytes", m_key_bytes, "Algorithm 'aes' with key size 10 bytes not supported" },
    { "key-bytes-zero", m_key_bytes0, "Algorithm 'aes' with key size 0 bytes not supported" },
    { "key-bytes-odd-xts", m_key_bytes_odd, "Algorithm 'aes' with key size 32 bytes not supported" },
    { "mode-format", m_mode_nodash, "Unexpected cipher mode string format 'xts'" },
    { "mode-unknown", m_mode_ctr, "Cipher mode 'ctr' not supported" },
    { "ivgen-unknown", m_ivgen, "IV generator 'plain65' not supported" },
    { "ivhash-unknown", m_ivhash, "Hash algorithm 'sha257' not supported" },
    { "ivhash-empty", m_ivhash_empty, "Hash algorithm '' not supported" },
    { "essiv-no-hash", m_essiv_nohash, "Missing IV generator hash specification" },
    { "essiv-sha1", m_essiv_sha1, "No AES cipher with key size 20 available" },
    { "hash-unknown", m_hash, "Hash algorithm 'sha2566' not supported" },
    { "hash-empty", m_hash_empty, "Hash algorithm '' not supported" },
    { "hash-md5", m_hash_md5, "Hash algorithm 'md5' not supported" },
};

static MemVol *template_vol;

static void test_malformed(gconstpointer p)
{
    size_t n = GPOINTER_TO_SIZE(p);
    g_autoptr(MemVol) v = vol_new();
    g_autoptr(GError) err = NULL;

    g_byte_array_append(v->b, template_vol->b->data, template_vol->b->len);
    malformed[n].mutate(v->b->data);
    /* Metadata-only and unlocking opens fail the same way, before any slot is read. */
    g_assert_null(open_v(v, NULL, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, malformed[n].err);
    g_clear_error(&err);
    g_assert_null(open_v(v, "abc123", &err));
    g_assert_cmpstr(err->message, ==, malformed[n].err);
}

static void test_truncated(void)
{
    g_autoptr(GError) err = NULL;
    MemVol *v = template_vol;

    g_assert_null(hb_luks1_open(mem_read, v, 100, NULL, 0, &err));
    g_assert_cmpstr(err->message, ==,
                    "LUKS header is truncated: the volume has 100 bytes, a header needs 592");
    g_clear_error(&err);
    g_assert_null(hb_luks1_open(mem_read, v, 100000, NULL, 0, &err));
    g_assert_cmpstr(err->message, ==,
                    "Keyslot 0 key material ends beyond the header volume (260096 > 100000 bytes)");
    g_clear_error(&err);
    v->fail_read = true;
    g_assert_null(hb_luks1_open(mem_read, v, v->b->len, NULL, 0, &err));
    v->fail_read = false;
    g_assert_cmpstr(err->message, ==, "Cannot read LUKS header: Input/output error");
}

/* Corrupt key material or digest: a wrong-password error, never a crash. */
static void test_corrupt_key_material(void)
{
    g_autoptr(MemVol) v = vol_new();
    g_autoptr(GError) err = NULL;

    g_byte_array_append(v->b, template_vol->b->data, template_vol->b->len);
    v->b->data[4096 + 1000] ^= 0x80;
    g_assert_null(open_v(v, "abc123", &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
    g_clear_error(&err);
    v->b->data[4096 + 1000] ^= 0x80;
    v->b->data[112] ^= 1; /* master key digest */
    g_assert_null(open_v(v, "abc123", &err));
    g_assert_cmpstr(err->message, ==, "Invalid password, cannot unlock any keyslot");
    g_clear_error(&err);
    v->b->data[112] ^= 1;
    g_autoptr(HbLuks1) l = open_v(v, "abc123", &err);
    g_assert_no_error(err);
    g_assert_true(hb_luks1_has_key(l));   /* restored digest: unlocks again */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    template_vol = make(NULL);
    /* The template must be what the mutations assume. */
    g_assert_cmpuint(get32(template_vol->b->data + 104), ==, 4040);
    g_assert_cmpuint(get32(template_vol->b->data + SLOT(4) + 40), ==, 8 + 4 * 504);

    g_test_add_func("/crypto/luks1/create-default", test_create_default);
    g_test_add_func("/crypto/luks1/wrong-pass-and-metadata-only", test_wrong_pass_and_metadata_only);
    g_test_add_func("/crypto/luks1/detached", test_detached);
    g_test_add_func("/crypto/luks1/variants", test_variants);
    g_test_add_func("/crypto/luks1/create-errors", test_create_errors);
    g_test_add_func("/crypto/luks1/keyslots", test_keyslots);
    g_test_add_func("/crypto/luks1/truncated", test_truncated);
    g_test_add_func("/crypto/luks1/corrupt-key-material", test_corrupt_key_material);
    for (size_t n = 0; n < G_N_ELEMENTS(malformed); n++) {
        g_autofree char *path = g_strdup_printf("/crypto/luks1/malformed/%s", malformed[n].name);
        g_test_add_data_func(path, GSIZE_TO_POINTER(n), test_malformed);
    }
    int rc = g_test_run();
    vol_free(template_vol);
    return rc;
}
