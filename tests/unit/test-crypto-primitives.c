/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-crypto-primitives.c — known answers for PBKDF2, XTS and
 * CBC-ESSIV sector ciphers, the AF splitter, and the cipher pool under threads. */
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "crypto/afsplit.h"
#include "crypto/cipher.h"
#include "crypto/pbkdf.h"

static void unhex(const char *hex, uint8_t *out, size_t len)
{
    g_assert_cmpuint(strlen(hex), ==, 2 * len);
    for (size_t i = 0; i < len; i++) {
        char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };
        out[i] = (uint8_t)strtoul(b, NULL, 16);
    }
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
    g_autofree uint8_t *want = g_malloc(len);
    unhex(hex, want, len);
    if (memcmp(got, want, len) != 0) {
        g_autofree char *g = g_malloc(2 * len + 1);
        for (size_t i = 0; i < len; i++) {
            sprintf(g + 2 * i, "%02x", got[i]);
        }
        g_error("got %s\nwant %s", g, hex);
    }
}

/* RFC 6070 (PBKDF2-HMAC-SHA1) plus widely published SHA-256/SHA-512 vectors. */
static const struct {
    HbHashAlg alg;
    const char *pass;
    size_t passlen;
    const char *salt;
    size_t saltlen;
    uint32_t iters;
    const char *dk;
} pbkdf2_kat[] = {
    { HB_HASH_SHA1, "password", 8, "salt", 4, 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6" },
    { HB_HASH_SHA1, "password", 8, "salt", 4, 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957" },
    { HB_HASH_SHA1, "password", 8, "salt", 4, 4096, "4b007901b765489abead49d926f721d065a429c1" },
    { HB_HASH_SHA1, "passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36,
      4096, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038" },
    { HB_HASH_SHA1, "pass\0word", 9, "sa\0lt", 5, 4096, "56fa6aa75548099dcc37d7f03425e0c3" },
    { HB_HASH_SHA256, "password", 8, "salt", 4, 4096,
      "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a" },
    { HB_HASH_SHA512, "password", 8, "salt", 4, 1,
      "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
      "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce" },
};

static void test_pbkdf2_kat(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(pbkdf2_kat); i++) {
        size_t len = strlen(pbkdf2_kat[i].dk) / 2;
        g_autofree uint8_t *out = g_malloc(len);
        g_autoptr(GError) err = NULL;
        g_assert_true(hb_pbkdf2(pbkdf2_kat[i].alg, (const uint8_t *)pbkdf2_kat[i].pass,
                                pbkdf2_kat[i].passlen, (const uint8_t *)pbkdf2_kat[i].salt,
                                pbkdf2_kat[i].saltlen, pbkdf2_kat[i].iters, out, len, &err));
        g_assert_no_error(err);
        assert_hex(out, len, pbkdf2_kat[i].dk);
    }
}

static void test_pbkdf2_errors(void)
{
    uint8_t out[20];
    g_autoptr(GError) err = NULL;
    g_assert_false(hb_pbkdf2(HB_HASH_SHA1, (const uint8_t *)"p", 1, (const uint8_t *)"s", 1, 0,
                             out, sizeof(out), &err));
    g_assert_cmpstr(err->message, ==, "PBKDF2 iteration count 0 out of range");
}

static void test_pbkdf2_count(void)
{
    uint64_t a = 0, b = 0;
    g_autoptr(GError) err = NULL;
    g_assert_true(hb_pbkdf2_count_iters(HB_HASH_SHA256, 32, 10, &a, &err));
    g_assert_true(hb_pbkdf2_count_iters(HB_HASH_SHA256, 32, 1000, &b, &err));
    g_assert_cmpuint(a, >=, 1);
    /* 100x the time gives roughly 100x the iterations (clock noise allowed). */
    g_assert_cmpuint(b, >, a * 20);
}

static void test_hash_names(void)
{
    HbHashAlg alg;
    g_autoptr(GError) err = NULL;
    if (hb_hash_available(HB_HASH_RIPEMD160)) {
        g_assert_true(hb_hash_lookup("ripemd160", &alg, NULL));
        g_assert_cmpint(alg, ==, HB_HASH_RIPEMD160);
    } else {
        g_assert_false(hb_hash_lookup("ripemd160", &alg, &err));
        g_assert_cmpstr(err->message, ==, "Hash algorithm 'ripemd160' not supported");
        g_clear_error(&err);
    }
    g_assert_true(hb_hash_lookup("sha1", &alg, NULL));
    g_assert_cmpint(alg, ==, HB_HASH_SHA1);
    g_assert_cmpuint(hb_hash_digest_len(HB_HASH_SHA512), ==, 64);
    g_assert_false(hb_hash_lookup("md5", &alg, &err));
    g_assert_cmpstr(err->message, ==, "Hash algorithm 'md5' not supported");
}

/* IEEE 1619-2007 vector 4: XTS-AES-128, data unit 0, 512 bytes 00..ff 00..ff. */
static const char xts4_key[] = "27182818284590452353602874713526"
                               "31415926535897932384626433832795";
static const char *const xts4_ct[] = {
    "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c",
    "c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412",
    "328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce",
    "93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265",
    "5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8",
    "a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434",
    "1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c",
    "5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e",
    "94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc",
    "1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3",
    "e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344",
    "b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd",
    "74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752",
    "afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e",
    "bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d",
    "eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568",
};

/* IEEE 1619-2007 vector 10: XTS-AES-256, data unit 0xff (also what
 * python3-cryptography computes for these inputs). */
static const char xts10_key[] = "2718281828459045235360287471352662497757247093699959574966967627"
                                "3141592653589793238462643383279502884197169399375105820974944592";
static const char *const xts10_ct[] = {
    "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b",
    "5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd",
    "5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0",
    "c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca",
    "2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0",
    "b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f",
    "93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec",
    "583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a",
    "84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1",
    "505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae",
    "9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29",
    "a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac",
    "6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f",
    "645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385",
    "1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa",
    "773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151",
};

static void check_xts(HbCipherAlg alg, const char *keyhex, uint64_t sector,
                      const char *const *cthex, bool emulate)
{
    size_t klen = strlen(keyhex) / 2;
    uint8_t key[64], buf[512], want[512];
    g_autoptr(GError) err = NULL;

    unhex(keyhex, key, klen);
    for (int i = 0; i < 512; i++) {
        buf[i] = (uint8_t)i;
    }
    for (int i = 0; i < 16; i++) {
        unhex(cthex[i], want + 32 * i, 32);
    }
    hb_cipher_test_force_xts_emulation = emulate;
    g_autoptr(HbSectorCipher) c = hb_sector_cipher_new(alg, HB_CIPHER_MODE_XTS, HB_IVGEN_PLAIN64,
                                                       HB_HASH_SHA256, key, klen, &err);
    hb_cipher_test_force_xts_emulation = false;
    g_assert_no_error(err);
    g_assert_cmpint(hb_sector_cipher_encrypt(c, sector, buf, sizeof(buf)), ==, 0);
    g_assert_cmpmem(buf, 512, want, 512);
    g_assert_cmpint(hb_sector_cipher_decrypt(c, sector, buf, sizeof(buf)), ==, 0);
    for (int i = 0; i < 512; i++) {
        g_assert_cmpuint(buf[i], ==, (uint8_t)i);
    }
}

static void test_xts_aes128_kat(void)
{
    check_xts(HB_CIPHER_AES_128, xts4_key, 0, xts4_ct, false);
}

static void test_xts_aes256_kat(void)
{
    check_xts(HB_CIPHER_AES_256, xts10_key, 0xff, xts10_ct, false);
}

/* The AES-192-XTS construction, checked on AES-128/256 against the vectors. */
static void test_xts_emulated_kat(void)
{
    check_xts(HB_CIPHER_AES_128, xts4_key, 0, xts4_ct, true);
    check_xts(HB_CIPHER_AES_256, xts10_key, 0xff, xts10_ct, true);
}

/* Expected CBC-ESSIV built directly from gnutls primitives, not from cipher.c:
 * salt = SHA256(key); IV = AES-256-ECB_salt(le64(sector) || 0^8); CBC(key, IV). */
static void reference_cbc_essiv(const uint8_t *key, size_t klen, gnutls_cipher_algorithm_t calg,
                                uint64_t sector, uint8_t *sec512)
{
    uint8_t salt[32], iv[16] = { 0 }, zero[16] = { 0 };
    gnutls_cipher_hd_t h;

    g_assert_cmpint(gnutls_hash_fast(GNUTLS_DIG_SHA256, key, klen, salt), ==, 0);
    for (int i = 0; i < 8; i++) {
        iv[i] = (uint8_t)(sector >> (8 * i));
    }
    gnutls_datum_t sk = { salt, 32 }, zv = { zero, 16 };
    g_assert_cmpint(gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_CBC, &sk, &zv), ==, 0);
    g_assert_cmpint(gnutls_cipher_encrypt(h, iv, 16), ==, 0);
    gnutls_cipher_deinit(h);
    gnutls_datum_t k = { (uint8_t *)key, (unsigned)klen }, v = { iv, 16 };
    g_assert_cmpint(gnutls_cipher_init(&h, calg, &k, &v), ==, 0);
    g_assert_cmpint(gnutls_cipher_encrypt(h, sec512, 512), ==, 0);
    gnutls_cipher_deinit(h);
}

static void test_cbc_essiv(void)
{
    static const struct {
        HbCipherAlg alg;
        gnutls_cipher_algorithm_t g;
    } cases[] = {
        { HB_CIPHER_AES_128, GNUTLS_CIPHER_AES_128_CBC },
        { HB_CIPHER_AES_192, GNUTLS_CIPHER_AES_192_CBC },
        { HB_CIPHER_AES_256, GNUTLS_CIPHER_AES_256_CBC },
    };
    for (size_t n = 0; n < G_N_ELEMENTS(cases); n++) {
        size_t klen = hb_cipher_alg_key_len(cases[n].alg);
        uint8_t key[32], plain[2048], mine[2048], ref[2048];
        uint64_t sector = 0x1122334455ull;
        g_autoptr(GError) err = NULL;

        for (size_t i = 0; i < klen; i++) {
            key[i] = (uint8_t)(0xa0 + i);
        }
        for (size_t i = 0; i < sizeof(plain); i++) {
            plain[i] = (uint8_t)(i * 7);
        }
        memcpy(mine, plain, sizeof(plain));
        memcpy(ref, plain, sizeof(plain));
        for (int s = 0; s < 4; s++) {
            reference_cbc_essiv(key, klen, cases[n].g, sector + (uint64_t)s, ref + 512 * s);
        }
        g_autoptr(HbSectorCipher) c = hb_sector_cipher_new(
            cases[n].alg, HB_CIPHER_MODE_CBC, HB_IVGEN_ESSIV, HB_HASH_SHA256, key, klen, &err);
        g_assert_no_error(err);
        g_assert_cmpint(hb_sector_cipher_encrypt(c, sector, mine, sizeof(mine)), ==, 0);
        g_assert_cmpmem(mine, sizeof(mine), ref, sizeof(ref));
        g_assert_cmpint(hb_sector_cipher_decrypt(c, sector, mine, sizeof(mine)), ==, 0);
        g_assert_cmpmem(mine, sizeof(mine), plain, sizeof(plain));
    }
}

/* plain truncates the sector number to 32 bits, plain64 does not. */
static void test_plain_vs_plain64(void)
{
    uint8_t key[32] = { 1, 2, 3 }, a[512] = { 0 }, b[512] = { 0 }, c0[512] = { 0 };
    g_autoptr(HbSectorCipher) p = hb_sector_cipher_new(HB_CIPHER_AES_128, HB_CIPHER_MODE_XTS,
                                                       HB_IVGEN_PLAIN, 0, key, 32, NULL);
    g_autoptr(HbSectorCipher) p64 = hb_sector_cipher_new(HB_CIPHER_AES_128, HB_CIPHER_MODE_XTS,
                                                         HB_IVGEN_PLAIN64, 0, key, 32, NULL);
    g_assert_cmpint(hb_sector_cipher_encrypt(p, (1ull << 32) + 5, a, 512), ==, 0);
    g_assert_cmpint(hb_sector_cipher_encrypt(p64, 5, b, 512), ==, 0);
    g_assert_cmpmem(a, 512, b, 512);
    g_assert_cmpint(hb_sector_cipher_encrypt(p64, (1ull << 32) + 5, c0, 512), ==, 0);
    g_assert_true(memcmp(c0, b, 512) != 0);
}

static void test_cipher_errors(void)
{
    uint8_t key[64] = { 0 }, buf[100];
    g_autoptr(GError) err = NULL;
    HbCipherAlg alg;

    g_assert_null(hb_sector_cipher_new(HB_CIPHER_AES_256, HB_CIPHER_MODE_XTS, HB_IVGEN_PLAIN64,
                                       0, key, 32, &err));
    g_assert_cmpstr(err->message, ==, "Cipher aes-256-xts needs a 64-byte key, not 32");
    g_clear_error(&err);
    g_assert_null(hb_sector_cipher_new(HB_CIPHER_AES_128, HB_CIPHER_MODE_CBC, HB_IVGEN_ESSIV,
                                       HB_HASH_SHA1, key, 16, &err));
    g_assert_cmpstr(err->message, ==, "No AES cipher with key size 20 available");
    g_clear_error(&err);
    g_assert_false(hb_cipher_alg_lookup("des", &alg, &err));
    g_assert_cmpstr(err->message, ==, "Algorithm 'des' not supported");
    g_autoptr(HbSectorCipher) c = hb_sector_cipher_new(HB_CIPHER_AES_128, HB_CIPHER_MODE_CBC,
                                                       HB_IVGEN_PLAIN64, 0, key, 16, NULL);
    g_assert_cmpint(hb_sector_cipher_decrypt(c, 0, buf, sizeof(buf)), ==, -EINVAL);
}

static void test_afsplit_roundtrip(void)
{
    static const struct {
        HbHashAlg alg;
        size_t blocklen;
        uint32_t stripes;
    } cases[] = {
        { HB_HASH_SHA1, 32, 1 },     { HB_HASH_SHA1, 64, 2 },     { HB_HASH_SHA256, 64, 4000 },
        { HB_HASH_SHA256, 24, 4000 }, { HB_HASH_SHA512, 16, 7 },  { HB_HASH_SHA256, 45, 3 },
        { HB_HASH_RIPEMD160, 32, 4000 },
    };
    for (size_t n = 0; n < G_N_ELEMENTS(cases); n++) {
        size_t bl = cases[n].blocklen;
        uint32_t st = cases[n].stripes;
        g_autofree uint8_t *in = g_malloc(bl), *out = g_malloc(bl), *split = g_malloc(bl * st);
        g_autoptr(GError) err = NULL;

        if (!hb_hash_available(cases[n].alg)) {
            continue; /* test_hash_names checks lookup refuses it */
        }
        for (size_t i = 0; i < bl; i++) {
            in[i] = (uint8_t)(i * 13 + n);
        }
        if (!hb_afsplit_encode(cases[n].alg, bl, st, in, split, &err)) {
            g_error("case %zu: %s", n, err->message);
        }
        g_assert_true(hb_afsplit_decode(cases[n].alg, bl, st, split, out, &err));
        g_assert_no_error(err);
        g_assert_cmpmem(in, bl, out, bl);
        if (st > 1) {
            /* The key must not be visible in the last stripe alone. */
            g_assert_true(memcmp(split + (st - 1) * bl, in, bl) != 0);
            /* One flipped bit in an early stripe destroys the whole key. */
            split[0] ^= 1;
            g_assert_true(hb_afsplit_decode(cases[n].alg, bl, st, split, out, &err));
            g_assert_true(memcmp(in, out, bl) != 0);
        }
    }
}

/* Known answer for the diffuser: two stripes, the first all zero, sha256,
 * 40 bytes (one full and one partial hash block), computed by hand from the
 * specification with gnutls_hash: d = H(be32(0)||0^32) || H(be32(1)||0^8)[0:8]. */
static void test_afsplit_kat(void)
{
    uint8_t split[80] = { 0 }, key[40], want[40], tmp[36] = { 0 }, dig[32];
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(gnutls_hash_fast(GNUTLS_DIG_SHA256, tmp, 36, dig), ==, 0);
    memcpy(want, dig, 32);
    tmp[3] = 1;
    g_assert_cmpint(gnutls_hash_fast(GNUTLS_DIG_SHA256, tmp, 12, dig), ==, 0);
    memcpy(want + 32, dig, 8);
    for (int i = 0; i < 40; i++) {
        split[40 + i] = (uint8_t)i;
        want[i] ^= (uint8_t)i;
    }
    g_assert_true(hb_afsplit_decode(HB_HASH_SHA256, 40, 2, split, key, &err));
    g_assert_cmpmem(key, 40, want, 40);
}

typedef struct {
    HbSectorCipher *c;
    const uint8_t *ref; /* 64 sectors encrypted from sector 1000 */
    int fails;
} ThreadArg;

static gpointer thread_fn(gpointer p)
{
    ThreadArg *a = p;
    uint8_t buf[64 * 512];
    for (int iter = 0; iter < 200; iter++) {
        int first = iter % 32, n = 1 + iter % 32;
        memset(buf, 0x5a, (size_t)n * 512);
        hb_sector_cipher_encrypt(a->c, 1000 + (uint64_t)first, buf, (size_t)n * 512);
        if (memcmp(buf, a->ref + (size_t)first * 512, (size_t)n * 512) != 0) {
            g_atomic_int_inc(&a->fails);
        }
        hb_sector_cipher_decrypt(a->c, 1000 + (uint64_t)first, buf, (size_t)n * 512);
        for (int i = 0; i < n * 512; i++) {
            if (buf[i] != 0x5a) {
                g_atomic_int_inc(&a->fails);
                break;
            }
        }
    }
    return NULL;
}

static void test_threads(void)
{
    uint8_t key[64];
    static uint8_t ref[64 * 512];
    ThreadArg arg = { 0 };
    GThread *t[6];

    for (int i = 0; i < 64; i++) {
        key[i] = (uint8_t)(i * 3 + 1);
    }
    arg.c = hb_sector_cipher_new(HB_CIPHER_AES_256, HB_CIPHER_MODE_XTS, HB_IVGEN_PLAIN64, 0, key,
                                 64, NULL);
    memset(ref, 0x5a, sizeof(ref));
    g_assert_cmpint(hb_sector_cipher_encrypt(arg.c, 1000, ref, sizeof(ref)), ==, 0);
    arg.ref = ref;
    for (int i = 0; i < 6; i++) {
        t[i] = g_thread_new("crypt", thread_fn, &arg);
    }
    for (int i = 0; i < 6; i++) {
        g_thread_join(t[i]);
    }
    g_assert_cmpint(arg.fails, ==, 0);
    hb_sector_cipher_free(arg.c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crypto/pbkdf2/kat", test_pbkdf2_kat);
    g_test_add_func("/crypto/pbkdf2/errors", test_pbkdf2_errors);
    g_test_add_func("/crypto/pbkdf2/count-iters", test_pbkdf2_count);
    g_test_add_func("/crypto/hash/names", test_hash_names);
    g_test_add_func("/crypto/xts/aes128-ieee1619-v4", test_xts_aes128_kat);
    g_test_add_func("/crypto/xts/aes256-ieee1619-v10", test_xts_aes256_kat);
    g_test_add_func("/crypto/xts/emulated", test_xts_emulated_kat);
    g_test_add_func("/crypto/cbc/essiv", test_cbc_essiv);
    g_test_add_func("/crypto/ivgen/plain-vs-plain64", test_plain_vs_plain64);
    g_test_add_func("/crypto/cipher/errors", test_cipher_errors);
    g_test_add_func("/crypto/afsplit/roundtrip", test_afsplit_roundtrip);
    g_test_add_func("/crypto/afsplit/kat", test_afsplit_kat);
    g_test_add_func("/crypto/cipher/threads", test_threads);
    return g_test_run();
}
