/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/hash.c — name <-> algorithm mapping for the hashes LUKS1 headers name. */
#include "crypto/hash.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "util/error.h"

static const struct {
    const char *name;
    gnutls_digest_algorithm_t dig;
    gnutls_mac_algorithm_t mac;
    size_t len;
} hash_table[] = {
    [HB_HASH_SHA1] = { "sha1", GNUTLS_DIG_SHA1, GNUTLS_MAC_SHA1, 20 },
    [HB_HASH_SHA256] = { "sha256", GNUTLS_DIG_SHA256, GNUTLS_MAC_SHA256, 32 },
    [HB_HASH_SHA512] = { "sha512", GNUTLS_DIG_SHA512, GNUTLS_MAC_SHA512, 64 },
    [HB_HASH_RIPEMD160] = { "ripemd160", GNUTLS_DIG_RMD160, GNUTLS_MAC_RMD160, 20 },
};
G_STATIC_ASSERT(G_N_ELEMENTS(hash_table) == HB_HASH__MAX);

bool hb_hash_available(HbHashAlg alg)
{
    uint8_t out[64];
    /* Distributions build gnutls without some hashes (Debian: no RIPEMD-160). */
    return alg < HB_HASH__MAX && gnutls_hash_fast(hash_table[alg].dig, "", 0, out) == 0;
}

bool hb_hash_lookup(const char *name, HbHashAlg *alg, GError **errp)
{
    for (size_t i = 0; i < G_N_ELEMENTS(hash_table); i++) {
        if (g_str_equal(name, hash_table[i].name) && hb_hash_available((HbHashAlg)i)) {
            *alg = (HbHashAlg)i;
            return true;
        }
    }
    hb_error_set(errp, "Hash algorithm '%s' not supported", name);
    return false;
}

const char *hb_hash_name(HbHashAlg alg)
{
    g_return_val_if_fail(alg < HB_HASH__MAX, "");
    return hash_table[alg].name;
}

size_t hb_hash_digest_len(HbHashAlg alg)
{
    g_return_val_if_fail(alg < HB_HASH__MAX, 0);
    return hash_table[alg].len;
}

int hb_hash_gnutls_digest(HbHashAlg alg)
{
    return hash_table[alg].dig;
}

int hb_hash_gnutls_mac(HbHashAlg alg)
{
    return hash_table[alg].mac;
}

int hb_hash_bytes(HbHashAlg alg, const void *data, size_t len, uint8_t *out)
{
    if (gnutls_hash_fast(hash_table[alg].dig, data, len, out) < 0) {
        return -EIO;
    }
    return 0;
}

bool hb_digest_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t diff = 0;

    for (size_t i = 0; i < len; i++) {
        diff |= a[i] ^ b[i];
    }
    return diff == 0;
}
