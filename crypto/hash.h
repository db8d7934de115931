/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/hash.h — hash algorithms by their LUKS/QEMU names, over gnutls. */
#ifndef HB_CRYPTO_HASH_H
#define HB_CRYPTO_HASH_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HB_HASH_SHA1,
    HB_HASH_SHA256,
    HB_HASH_SHA512,
    HB_HASH_RIPEMD160,
    HB_HASH__MAX,
} HbHashAlg;

/**
 * hb_hash_lookup() - a hash algorithm from its name ("sha256", ...)
 * @name: the name as LUKS headers and QEMU options spell it
 * @alg: where to store the algorithm
 * @errp: "Hash algorithm '<name>' not supported" when unknown
 */
bool hb_hash_lookup(const char *name, HbHashAlg *alg, GError **errp);

/** hb_hash_available() - whether this gnutls build implements @alg */
bool hb_hash_available(HbHashAlg alg);

/** hb_hash_name() - the canonical name of @alg */
const char *hb_hash_name(HbHashAlg alg);

/** hb_hash_digest_len() - the output size of @alg in bytes */
size_t hb_hash_digest_len(HbHashAlg alg);

/** hb_hash_gnutls_digest() - @alg as a gnutls_digest_algorithm_t (as int) */
int hb_hash_gnutls_digest(HbHashAlg alg);

/** hb_hash_gnutls_mac() - @alg as a gnutls_mac_algorithm_t (as int), for HMAC/PBKDF2 */
int hb_hash_gnutls_mac(HbHashAlg alg);

/**
 * hb_hash_bytes() - digest of @len bytes into @out (hb_hash_digest_len() bytes)
 * Return: 0 or -errno.
 */
int hb_hash_bytes(HbHashAlg alg, const void *data, size_t len, uint8_t *out);

/**
 * hb_digest_equal() - compare @len bytes without an early exit, so that the
 * time taken says nothing about where a candidate digest differs
 */
bool hb_digest_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
