/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/secret.h — secret objects: a registry of id -> bytes, and locked buffers. */
#ifndef HB_CRYPTO_SECRET_H
#define HB_CRYPTO_SECRET_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bytes of a secret or key.  @data lives in its own mlock'ed mapping (where
 * RLIMIT_MEMLOCK allows), is excluded from core dumps, and is always followed
 * by at least one NUL byte so text secrets can be used as C strings.
 */
typedef struct HbSecretBuf {
    uint8_t *data;
    size_t len;
} HbSecretBuf;

/** hb_secret_buf_new() - a zeroed locked buffer of @len bytes (plus a NUL) */
HbSecretBuf *hb_secret_buf_new(size_t len);
/** hb_secret_buf_new_from() - a locked copy of @len bytes at @data */
HbSecretBuf *hb_secret_buf_new_from(const void *data, size_t len);
/** hb_secret_buf_free() - wipe and release @buf; NULL-safe */
void hb_secret_buf_free(HbSecretBuf *buf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbSecretBuf, hb_secret_buf_free)

#define HB_SECRET_BURN_BYTES (16 * 1024)
/**
 * hb_secret_burn_stack() - overwrite the stack a library call just used
 *
 * Call it right after a gnutls call that was handed key material: its
 * frames lie below the caller's, and nettle leaves temporaries there
 * unwiped (HMAC keeps key ^ ipad in a stack buffer, so PBKDF2 over the
 * master key leaves the master key recoverable).  This function's own
 * frame, HB_SECRET_BURN_BYTES of zeros, lands on the same addresses.
 */
void hb_secret_burn_stack(void);

typedef enum {
    HB_SECRET_FORMAT_RAW,
    HB_SECRET_FORMAT_BASE64,
} HbSecretFormat;

/* What object-add / --object give for a "secret" (QEMU's SecretProperties). */
typedef struct HbSecretOptions {
    const char *id;
    const char *data;       /* exactly one of data and file */
    const char *file;
    HbSecretFormat format;  /* of data/file contents */
    const char *keyid;      /* contents are AES-256-CBC ciphertext under this secret */
    const char *iv;         /* base64 of the 16-byte IV, required with keyid */
} HbSecretOptions;

/**
 * hb_secret_add() - load a secret and register it under @opts->id
 * @opts: the object's properties
 * @errp: QEMU's texts: "attempt to add duplicate property 'x' to object
 *        (type 'container')", "Either 'file' or 'data' must be provided",
 *        "'file' and 'data' are mutually exclusive", "Unable to read <file>: ...",
 *        "Base64 data contains invalid characters", "Key should be 32 bytes in
 *        length", "IV is required to decrypt secret", "IV should be 16 bytes in
 *        length not N", "No secret with id 'x'", "Incorrect number of padding
 *        bytes (N) found on decrypted data".  None ever contains secret bytes.
 */
bool hb_secret_add(const HbSecretOptions *opts, GError **errp);

/**
 * hb_secret_del() - forget secret @id (its bytes are wiped)
 * @errp: "object 'x' not found"
 *
 * Nodes that already derived their keys from it are not affected.
 */
bool hb_secret_del(const char *id, GError **errp);

/** hb_secret_exists() - whether a secret @id is registered */
bool hb_secret_exists(const char *id);

/** hb_secret_list_ids() - sorted ids of all secrets; free with g_strfreev() */
char **hb_secret_list_ids(void);

/** hb_secret_clear_all() - wipe and forget every secret (shutdown, tests) */
void hb_secret_clear_all(void);

/**
 * hb_secret_lookup() - a locked copy of secret @id's bytes
 * @errp: "No secret with id 'x'" when unknown
 */
HbSecretBuf *hb_secret_lookup(const char *id, GError **errp);

/**
 * hb_secret_lookup_utf8() - like hb_secret_lookup() but the bytes must be UTF-8
 * @errp: also "Data from secret x is not valid UTF-8" (QEMU's text), as
 *        LUKS passphrases must be
 */
HbSecretBuf *hb_secret_lookup_utf8(const char *id, GError **errp);

/**
 * hb_secret_lookup_utf8_opt() - hb_secret_lookup_utf8() of an optional
 * member: @id NULL leaves *@out alone and succeeds.
 * Return: false with @errp set if @id names no usable secret.
 */
bool hb_secret_lookup_utf8_opt(const char *id, HbSecretBuf **out, GError **errp);

/**
 * hb_base64_decode() - QEMU's strict base64: only the base64 alphabet, '=' and '\n'
 * @in: NUL-terminated text
 * @errp: "Base64 data contains invalid characters"
 * Return: a locked buffer (it usually holds key material)
 */
HbSecretBuf *hb_base64_decode(const char *in, size_t inlen, GError **errp);

#endif
