/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/pbkdf.h — PBKDF2 (RFC 8018) key derivation and its iteration calibration. */
#ifndef HB_CRYPTO_PBKDF_H
#define HB_CRYPTO_PBKDF_H

#include "crypto/hash.h"

/**
 * hb_pbkdf2() - derive @outlen bytes from a passphrase with PBKDF2-HMAC-@alg
 * @alg: the PRF's hash
 * @pass: passphrase bytes (need not be NUL-terminated)
 * @passlen: its length, may be 0
 * @salt: salt bytes
 * @saltlen: its length
 * @iters: iteration count, at least 1
 * @out: output buffer
 * @outlen: bytes to derive
 * @errp: error, never mentions the passphrase
 */
bool hb_pbkdf2(HbHashAlg alg, const uint8_t *pass, size_t passlen,
               const uint8_t *salt, size_t saltlen, uint64_t iters,
               uint8_t *out, size_t outlen, GError **errp);

/**
 * hb_pbkdf2_count_iters() - iterations of PBKDF2-@alg that take @ms milliseconds here
 * @alg: the PRF's hash
 * @outlen: bytes the real derivation will produce (cost grows with blocks)
 * @ms: wanted wall time, > 0
 * @iters: where to store the count (at least 1, at most UINT32_MAX)
 * @errp: error
 *
 * Measures on a dummy passphrase and scales linearly; the measurement
 * itself takes a few tens of milliseconds whatever @ms is.
 */
bool hb_pbkdf2_count_iters(HbHashAlg alg, size_t outlen, uint64_t ms,
                           uint64_t *iters, GError **errp);

#endif
