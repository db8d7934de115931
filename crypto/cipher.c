/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/cipher.c — AES-XTS/CBC sector ciphers with plain/plain64/essiv IVs, over gnutls.
 *
 * Theory of operation: a gnutls cipher handle carries its own IV state, so it
 * cannot be shared between threads, and creating one per request (key
 * schedule plus allocations) costs more than the 64 KiB it would encrypt.
 * Each HbSectorCipher therefore keeps a pool of ready handles: a request pops
 * one (creating it if the pool is empty), runs every sector through it
 * without any lock, and pushes it back.  The pool grows to the number of
 * requests ever in flight at once and is wiped when the cipher is freed.
 *
 * Per sector the IV is recomputed and set (dm-crypt semantics):
 *   plain   little-endian low 32 bits of the sector number, zero padded
 *   plain64 little-endian 64-bit sector number, zero padded
 *   essiv   AES_{H(key)}(plain64 IV) in ECB, the AES size given by |H|
 * AES-192-XTS is not in gnutls; it is built from one-block AES operations
 * (CBC with a zero IV on a single block is ECB), slow but correct.
 */
#include "crypto/cipher.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "crypto/secret.h"
#include "util/error.h"

bool hb_cipher_test_force_xts_emulation;

static const char *const alg_names[] = { "aes-128", "aes-192", "aes-256" };
G_STATIC_ASSERT(G_N_ELEMENTS(alg_names) == HB_CIPHER__MAX);
static const char *const mode_names[] = { "xts", "cbc" };
G_STATIC_ASSERT(G_N_ELEMENTS(mode_names) == HB_CIPHER_MODE__MAX);
static const char *const ivgen_names[] = { "plain", "plain64", "essiv" };
G_STATIC_ASSERT(G_N_ELEMENTS(ivgen_names) == HB_IVGEN__MAX);

static int lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (g_str_equal(names[i], name)) {
            return (int)i;
        }
    }
    return -1;
}

bool hb_cipher_alg_lookup(const char *name, HbCipherAlg *alg, GError **errp)
{
    int i = lookup(alg_names, G_N_ELEMENTS(alg_names), name);
    if (i < 0) {
        hb_error_set(errp, "Algorithm '%s' not supported", name);
        return false;
    }
    *alg = (HbCipherAlg)i;
    return true;
}

const char *hb_cipher_alg_name(HbCipherAlg alg)
{
    return alg < HB_CIPHER__MAX ? alg_names[alg] : "";
}

size_t hb_cipher_alg_key_len(HbCipherAlg alg)
{
    return 16 + 8 * (size_t)alg;
}

bool hb_cipher_mode_lookup(const char *name, HbCipherMode *mode, GError **errp)
{
    int i = lookup(mode_names, G_N_ELEMENTS(mode_names), name);
    if (i < 0) {
        hb_error_set(errp, "Cipher mode '%s' not supported", name);
        return false;
    }
    *mode = (HbCipherMode)i;
    return true;
}

const char *hb_cipher_mode_name(HbCipherMode mode)
{
    return mode < HB_CIPHER_MODE__MAX ? mode_names[mode] : "";
}

bool hb_ivgen_lookup(const char *name, HbIvgenAlg *ivgen, GError **errp)
{
    int i = lookup(ivgen_names, G_N_ELEMENTS(ivgen_names), name);
    if (i < 0) {
        hb_error_set(errp, "IV generator '%s' not supported", name);
        return false;
    }
    *ivgen = (HbIvgenAlg)i;
    return true;
}

const char *hb_ivgen_name(HbIvgenAlg ivgen)
{
    return ivgen < HB_IVGEN__MAX ? ivgen_names[ivgen] : "";
}

size_t hb_cipher_key_len(HbCipherAlg alg, HbCipherMode mode)
{
    return hb_cipher_alg_key_len(alg) * (mode == HB_CIPHER_MODE_XTS ? 2 : 1);
}

bool hb_essiv_cipher(HbHashAlg hash, HbCipherAlg *alg, GError **errp)
{
    size_t dlen = hb_hash_digest_len(hash);
    for (int i = 0; i < HB_CIPHER__MAX; i++) {
        if (hb_cipher_alg_key_len((HbCipherAlg)i) == dlen) {
            *alg = (HbCipherAlg)i;
            return true;
        }
    }
    hb_error_set(errp, "No AES cipher with key size %zu available", dlen);
    return false;
}

static gnutls_cipher_algorithm_t cbc_alg(HbCipherAlg alg)
{
    static const gnutls_cipher_algorithm_t t[] = {
        GNUTLS_CIPHER_AES_128_CBC, GNUTLS_CIPHER_AES_192_CBC, GNUTLS_CIPHER_AES_256_CBC,
    };
    return t[alg];
}

typedef struct CipherCtx {
    struct CipherCtx *next;
    gnutls_cipher_hd_t data;   /* XTS or CBC; for emulated XTS: ECB with key 1 */
    gnutls_cipher_hd_t tweak;  /* emulated XTS only: ECB with key 2 */
    gnutls_cipher_hd_t essiv;  /* ESSIV only: ECB with H(key) */
} CipherCtx;

struct HbSectorCipher {
    HbCipherAlg alg;
    HbCipherMode mode;
    HbIvgenAlg ivgen;
    bool xts_emulated;
    gnutls_cipher_algorithm_t data_alg;
    gnutls_cipher_algorithm_t essiv_alg;
    HbSecretBuf *key;
    HbSecretBuf *essiv_key;
    uint32_t sector_size;   /* bytes per IV unit: 512 (LUKS1) up to 4096 (LUKS2) */
    GMutex lock;
    CipherCtx *pool;
};

static const uint8_t zero_iv[16];

static int init_hd(gnutls_cipher_hd_t *hd, gnutls_cipher_algorithm_t alg,
                   const uint8_t *key, size_t keylen)
{
    gnutls_datum_t k = { (unsigned char *)key, (unsigned)keylen };
    gnutls_datum_t iv = { (unsigned char *)zero_iv, 16 };
    return gnutls_cipher_init(hd, alg, &k, &iv);
}

static void ctx_free(CipherCtx *ctx)
{
    if (ctx->data) {
        gnutls_cipher_deinit(ctx->data);
    }
    if (ctx->tweak) {
        gnutls_cipher_deinit(ctx->tweak);
    }
    if (ctx->essiv) {
        gnutls_cipher_deinit(ctx->essiv);
    }
    g_free(ctx);
}

static CipherCtx *ctx_new(HbSectorCipher *c)
{
    CipherCtx *ctx = g_new0(CipherCtx, 1);
    size_t half = c->key->len / 2;
    int rc;

    if (c->xts_emulated) {
        rc = init_hd(&ctx->data, c->data_alg, c->key->data, half);
        if (rc >= 0) {
            rc = init_hd(&ctx->tweak, c->data_alg, c->key->data + half, half);
        }
    } else {
        rc = init_hd(&ctx->data, c->data_alg, c->key->data, c->key->len);
    }
    if (rc >= 0 && c->essiv_key) {
        rc = init_hd(&ctx->essiv, c->essiv_alg, c->essiv_key->data, c->essiv_key->len);
    }
    if (rc < 0) {
        ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

static CipherCtx *ctx_get(HbSectorCipher *c)
{
    g_mutex_lock(&c->lock);
    CipherCtx *ctx = c->pool;
    if (ctx) {
        c->pool = ctx->next;
    }
    g_mutex_unlock(&c->lock);
    return ctx ? ctx : ctx_new(c);
}

static void ctx_put(HbSectorCipher *c, CipherCtx *ctx)
{
    g_mutex_lock(&c->lock);
    ctx->next = c->pool;
    c->pool = ctx;
    g_mutex_unlock(&c->lock);
}

HbSectorCipher *hb_sector_cipher_new(HbCipherAlg alg, HbCipherMode mode, HbIvgenAlg ivgen,
                                     HbHashAlg ivhash, const uint8_t *key, size_t keylen,
                                     GError **errp)
{
    g_autoptr(HbSectorCipher) c = g_new0(HbSectorCipher, 1);

    g_mutex_init(&c->lock);
    if (keylen != hb_cipher_key_len(alg, mode)) {
        hb_error_set(errp, "Cipher %s-%s needs a %zu-byte key, not %zu", hb_cipher_alg_name(alg),
                     hb_cipher_mode_name(mode), hb_cipher_key_len(alg, mode), keylen);
        return NULL;
    }
    c->alg = alg;
    c->mode = mode;
    c->ivgen = ivgen;
    c->sector_size = HB_SECTOR_SIZE;
    c->key = hb_secret_buf_new_from(key, keylen);
    if (mode == HB_CIPHER_MODE_CBC) {
        c->data_alg = cbc_alg(alg);
    } else if (alg == HB_CIPHER_AES_128 && !hb_cipher_test_force_xts_emulation) {
        c->data_alg = GNUTLS_CIPHER_AES_128_XTS;
    } else if (alg == HB_CIPHER_AES_256 && !hb_cipher_test_force_xts_emulation) {
        c->data_alg = GNUTLS_CIPHER_AES_256_XTS;
    } else {
        c->data_alg = cbc_alg(alg);
        c->xts_emulated = true;
    }
    if (ivgen == HB_IVGEN_ESSIV) {
        HbCipherAlg ealg;
        if (!hb_essiv_cipher(ivhash, &ealg, errp)) {
            return NULL;
        }
        c->essiv_alg = cbc_alg(ealg);
        c->essiv_key = hb_secret_buf_new(hb_hash_digest_len(ivhash));
        if (hb_hash_bytes(ivhash, key, keylen, c->essiv_key->data) < 0) {
            hb_error_set(errp, "Unable to hash the ESSIV key with %s", hb_hash_name(ivhash));
            return NULL;
        }
    }
    /* Create one context now so that a bad key fails here, not in the I/O path. */
    CipherCtx *ctx = ctx_new(c);
    if (!ctx) {
        hb_error_set(errp, "Cannot initialize cipher %s-%s", hb_cipher_alg_name(alg),
                     hb_cipher_mode_name(mode));
        return NULL;
    }
    ctx_put(c, ctx);
    return g_steal_pointer(&c);
}

void hb_sector_cipher_free(HbSectorCipher *c)
{
    if (!c) {
        return;
    }
    while (c->pool) {
        CipherCtx *next = c->pool->next;
        ctx_free(c->pool);
        c->pool = next;
    }
    hb_secret_buf_free(c->key);
    hb_secret_buf_free(c->essiv_key);
    g_mutex_clear(&c->lock);
    g_free(c);
}

/* One AES block with a CBC handle: a zero IV makes CBC on one block plain ECB. */
static int ecb_block(gnutls_cipher_hd_t hd, uint8_t *block, bool encrypt)
{
    gnutls_cipher_set_iv(hd, (void *)zero_iv, 16);
    return encrypt ? gnutls_cipher_encrypt(hd, block, 16) : gnutls_cipher_decrypt(hd, block, 16);
}

static int make_iv(const HbSectorCipher *c, CipherCtx *ctx, uint64_t sector, uint8_t iv[16])
{
    memset(iv, 0, 16);
    if (c->ivgen == HB_IVGEN_PLAIN) {
        sector &= 0xffffffffu;
    }
    for (int i = 0; i < 8; i++) {
        iv[i] = (uint8_t)(sector >> (8 * i));
    }
    if (c->ivgen == HB_IVGEN_ESSIV) {
        return ecb_block(ctx->essiv, iv, true);
    }
    return 0;
}

/* XTS from single-block AES (IEEE 1619): T = E2(iv); C_j = E1(P_j ^ T_j) ^ T_j, T_{j+1} = T_j * x. */
static int xts_emulated(CipherCtx *ctx, const uint8_t iv[16], uint8_t *p, size_t len, bool encrypt)
{
    uint8_t t[16];
    int rc;

    memcpy(t, iv, 16);
    rc = ecb_block(ctx->tweak, t, true);
    for (size_t off = 0; rc >= 0 && off < len; off += 16) {
        for (int i = 0; i < 16; i++) {
            p[off + i] ^= t[i];
        }
        rc = ecb_block(ctx->data, p + off, encrypt);
        for (int i = 0; i < 16; i++) {
            p[off + i] ^= t[i];
        }
        /* Multiply the tweak by x in GF(2^128), little-endian byte order. */
        uint8_t carry = t[15] >> 7;
        for (int i = 15; i > 0; i--) {
            t[i] = (uint8_t)((t[i] << 1) | (t[i - 1] >> 7));
        }
        t[0] = (uint8_t)((t[0] << 1) ^ (carry ? 0x87 : 0));
    }
    gnutls_memset(t, 0, sizeof(t));
    return rc;
}

bool hb_sector_cipher_set_sector_size(HbSectorCipher *c, uint32_t size)
{
    if (size < HB_SECTOR_SIZE || size > 4096 || (size & (size - 1))) {
        return false;
    }
    c->sector_size = size;
    return true;
}

static int crypt_sectors(HbSectorCipher *c, uint64_t sector, void *buf, size_t len, bool encrypt)
{
    uint32_t ss = c->sector_size;
    uint64_t step = ss / HB_SECTOR_SIZE;   /* IV advance per unit: see cipher.h */
    uint8_t *p = buf;
    uint8_t iv[16];
    int rc = 0;

    if (len % ss || sector % step) {
        return -EINVAL;
    }
    CipherCtx *ctx = ctx_get(c);
    if (!ctx) {
        return -ENOMEM;
    }
    for (size_t off = 0; off < len && rc >= 0; off += ss, sector += step) {
        rc = make_iv(c, ctx, sector, iv);
        if (rc < 0) {
            break;
        }
        if (c->xts_emulated) {
            rc = xts_emulated(ctx, iv, p + off, ss, encrypt);
            continue;
        }
        gnutls_cipher_set_iv(ctx->data, iv, 16);
        rc = encrypt ? gnutls_cipher_encrypt(ctx->data, p + off, ss)
                     : gnutls_cipher_decrypt(ctx->data, p + off, ss);
    }
    ctx_put(c, ctx);
    return rc < 0 ? -EIO : 0;
}

int hb_sector_cipher_decrypt(HbSectorCipher *c, uint64_t sector, void *buf, size_t len)
{
    return crypt_sectors(c, sector, buf, len, false);
}

int hb_sector_cipher_encrypt(HbSectorCipher *c, uint64_t sector, void *buf, size_t len)
{
    return crypt_sectors(c, sector, buf, len, true);
}
