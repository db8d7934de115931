/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/cipher.h — sector ciphers for LUKS: AES in XTS or CBC mode with the
 * plain, plain64 or essiv IV generators, usable from many threads at once. */
#ifndef HB_CRYPTO_CIPHER_H
#define HB_CRYPTO_CIPHER_H

#include "crypto/hash.h"

#define HB_SECTOR_SIZE 512

typedef enum {
    HB_CIPHER_AES_128,
    HB_CIPHER_AES_192,
    HB_CIPHER_AES_256,
    HB_CIPHER__MAX,
} HbCipherAlg;

typedef enum {
    HB_CIPHER_MODE_XTS,
    HB_CIPHER_MODE_CBC,
    HB_CIPHER_MODE__MAX,
} HbCipherMode;

typedef enum {
    HB_IVGEN_PLAIN,
    HB_IVGEN_PLAIN64,
    HB_IVGEN_ESSIV,
    HB_IVGEN__MAX,
} HbIvgenAlg;

/** hb_cipher_alg_lookup() - "aes-256" -> HB_CIPHER_AES_256; errp "Algorithm 'x' not supported" */
bool hb_cipher_alg_lookup(const char *name, HbCipherAlg *alg, GError **errp);
/** hb_cipher_alg_name() - QEMU's name: "aes-128", "aes-192", "aes-256" */
const char *hb_cipher_alg_name(HbCipherAlg alg);
/** hb_cipher_alg_key_len() - AES key length: 16, 24 or 32 */
size_t hb_cipher_alg_key_len(HbCipherAlg alg);
/** hb_cipher_mode_lookup() - "xts"/"cbc"; errp "Cipher mode 'x' not supported" */
bool hb_cipher_mode_lookup(const char *name, HbCipherMode *mode, GError **errp);
const char *hb_cipher_mode_name(HbCipherMode mode);
/** hb_ivgen_lookup() - "plain"/"plain64"/"essiv"; errp "IV generator 'x' not supported" */
bool hb_ivgen_lookup(const char *name, HbIvgenAlg *ivgen, GError **errp);
const char *hb_ivgen_name(HbIvgenAlg ivgen);
/** hb_cipher_key_len() - bytes of key for @alg in @mode (XTS takes two AES keys) */
size_t hb_cipher_key_len(HbCipherAlg alg, HbCipherMode mode);

/**
 * hb_essiv_cipher() - the AES variant ESSIV uses for @hash: dm-crypt keys it
 * with the digest, so its size is the digest length, not the data cipher's.
 * @errp: "No AES cipher with key size N available" (QEMU's text)
 */
bool hb_essiv_cipher(HbHashAlg hash, HbCipherAlg *alg, GError **errp);

typedef struct HbSectorCipher HbSectorCipher;

/**
 * hb_sector_cipher_new() - a cipher for 512-byte sectors
 * @alg: AES key size
 * @mode: XTS or CBC
 * @ivgen: IV generator
 * @ivhash: ESSIV's hash (ignored for plain/plain64)
 * @key: hb_cipher_key_len(@alg, @mode) bytes; copied into locked memory
 * @keylen: its length
 * @errp: error
 */
HbSectorCipher *hb_sector_cipher_new(HbCipherAlg alg, HbCipherMode mode, HbIvgenAlg ivgen,
                                     HbHashAlg ivhash, const uint8_t *key, size_t keylen,
                                     GError **errp);

/**
 * hb_sector_cipher_set_sector_size() - encrypt in units of @size bytes
 * @c: a cipher not yet in use
 * @size: 512 (the default), 1024, 2048 or 4096
 *
 * LUKS2 may use sectors bigger than 512 bytes.  Each unit is one XTS (or
 * CBC) message, but its IV stays the number of its first 512-byte sector,
 * as cryptsetup has dm-crypt do for LUKS2 (no iv_large_sectors; checked
 * against a volume cryptsetup encrypted): the @sector passed to
 * encrypt/decrypt stays in 512-byte units and must be a multiple of
 * @size / 512, and the IV advances by @size / 512 per unit.
 * Return: false (cipher unchanged) for any other size.
 */
bool hb_sector_cipher_set_sector_size(HbSectorCipher *c, uint32_t size);

/** hb_sector_cipher_free() - wipe keys, free every pooled context; NULL-safe */
void hb_sector_cipher_free(HbSectorCipher *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbSectorCipher, hb_sector_cipher_free)

/**
 * hb_sector_cipher_decrypt() - decrypt whole sectors in place
 * @c: the cipher
 * @sector: IV sector number of the first sector in @buf
 * @buf: data
 * @len: a multiple of the sector size (512 unless set otherwise)
 *
 * Thread-safe: each call borrows a gnutls context from a pool (the lock covers
 * only the borrow and the return), so calls run in parallel.
 * Return: 0 or -errno (-EINVAL for a bad length, -ENOMEM, -EIO).
 */
int hb_sector_cipher_decrypt(HbSectorCipher *c, uint64_t sector, void *buf, size_t len);
/** hb_sector_cipher_encrypt() - encrypt whole sectors in place; as decrypt */
int hb_sector_cipher_encrypt(HbSectorCipher *c, uint64_t sector, void *buf, size_t len);

/*
 * Test hook: gnutls has no AES-192-XTS, so that one is built here from single
 * AES blocks.  Setting this makes every XTS cipher created afterwards use that
 * construction, so tests can check it against gnutls's own XTS.
 */
extern bool hb_cipher_test_force_xts_emulation;

#endif
