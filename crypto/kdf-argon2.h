/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/kdf-argon2.h — Argon2i/Argon2id key derivation (RFC 9106) through the
 * reference implementation (libargon2), run off the main thread. */
#ifndef HB_CRYPTO_ARGON2_H
#define HB_CRYPTO_ARGON2_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HB_ARGON2I,
    HB_ARGON2ID,
} HbArgon2Type;

/**
 * hb_argon2() - derive @outlen bytes from a passphrase with Argon2 version 0x13
 * @type: Argon2i or Argon2id
 * @pass: passphrase bytes (need not be NUL-terminated)
 * @passlen: its length, may be 0
 * @salt: salt bytes (at least 8, as Argon2 requires)
 * @saltlen: its length
 * @time: passes over memory, at least 1
 * @memory_kib: memory in KiB, at least 8 * @lanes
 * @lanes: parallelism (LUKS2 "cpus"); the work runs on at most as many
 *         threads as this machine has CPUs
 * @out: output buffer
 * @outlen: bytes to derive
 * @errp: libargon2's reason, never the passphrase
 *
 * Always a slow job (util/slow-job.h): even small costs take tens of
 * milliseconds.  The caller bounds the costs; this only checks ranges.
 */
bool hb_argon2(HbArgon2Type type, const uint8_t *pass, size_t passlen,
               const uint8_t *salt, size_t saltlen, uint32_t time, uint32_t memory_kib,
               uint32_t lanes, uint8_t *out, size_t outlen, GError **errp);

/** hb_argon2_name() - "argon2i" or "argon2id" */
const char *hb_argon2_name(HbArgon2Type type);

#endif
