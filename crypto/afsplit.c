/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/afsplit.c — anti-forensic splitter from the LUKS1 specification.
 *
 * Theory of operation: split writes stripes-1 random blocks, folding each into
 * an accumulator d (d = H(d ^ s_i)), and stores the last block as d ^ key.
 * Merge recomputes d from the first stripes-1 blocks and XORs the last.
 * Losing any one block's bits loses the key, which is the point: an erased
 * keyslot cannot be recovered from a few sectors that survived the wipe.
 * H ("diffuse") hashes the block in digest-sized pieces, each prefixed with
 * its big-endian 32-bit index; a short last piece keeps the digest's prefix.
 */
#include "crypto/afsplit.h"
#include "crypto/secret.h"

#include <gnutls/crypto.h>
#include <string.h>

#include "util/error.h"

static bool diffuse(HbHashAlg alg, uint8_t *block, size_t len, GError **errp)
{
    size_t dlen = hb_hash_digest_len(alg);
    uint8_t digest[64];
    gnutls_hash_hd_t h;

    for (size_t off = 0, i = 0; off < len; off += dlen, i++) {
        size_t n = MIN(dlen, len - off);
        uint8_t idx[4] = { (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };

        if (gnutls_hash_init(&h, hb_hash_gnutls_digest(alg)) < 0) {
            hb_error_set(errp, "Unable to initialize hash algorithm %s", hb_hash_name(alg));
            return false;
        }
        gnutls_hash(h, idx, sizeof(idx));
        gnutls_hash(h, block + off, n);
        gnutls_hash_deinit(h, digest);
        memcpy(block + off, digest, n);
    }
    gnutls_memset(digest, 0, sizeof(digest));
    return true;
}

static void xor_into(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        dst[i] ^= src[i];
    }
}

bool hb_afsplit_encode(HbHashAlg alg, size_t blocklen, uint32_t stripes,
                       const uint8_t *in, uint8_t *out, GError **errp)
{
    /* d XOR the last stripe is the key: it lives in locked, undumped memory. */
    g_autoptr(HbSecretBuf) acc = hb_secret_buf_new(blocklen);
    uint8_t *d = acc->data;
    bool ok = false;

    g_return_val_if_fail(stripes >= 1, false);
    /* gnutls_rnd() refuses a zero length (a single stripe). */
    if (stripes > 1 && gnutls_rnd(GNUTLS_RND_RANDOM, out, blocklen * (stripes - 1)) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        goto out;
    }
    for (uint32_t i = 0; i + 1 < stripes; i++) {
        xor_into(d, out + (size_t)i * blocklen, blocklen);
        if (!diffuse(alg, d, blocklen, errp)) {
            goto out;
        }
    }
    memcpy(out + (size_t)(stripes - 1) * blocklen, d, blocklen);
    xor_into(out + (size_t)(stripes - 1) * blocklen, in, blocklen);
    ok = true;
out:
    return ok;
}

bool hb_afsplit_decode(HbHashAlg alg, size_t blocklen, uint32_t stripes,
                       const uint8_t *in, uint8_t *out, GError **errp)
{
    /* d XOR the last stripe is the key: it lives in locked, undumped memory. */
    g_autoptr(HbSecretBuf) acc = hb_secret_buf_new(blocklen);
    uint8_t *d = acc->data;
    bool ok = false;

    g_return_val_if_fail(stripes >= 1, false);
    for (uint32_t i = 0; i + 1 < stripes; i++) {
        xor_into(d, in + (size_t)i * blocklen, blocklen);
        if (!diffuse(alg, d, blocklen, errp)) {
            goto out;
        }
    }
    memcpy(out, d, blocklen);
    xor_into(out, in + (size_t)(stripes - 1) * blocklen, blocklen);
    ok = true;
out:
    return ok;
}
