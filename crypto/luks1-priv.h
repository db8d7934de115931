/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks1-priv.h — what luks1.c, luks1-header.c and luks1-keyslot.c share. */
#ifndef HB_CRYPTO_LUKS1_PRIV_H
#define HB_CRYPTO_LUKS1_PRIV_H

#include "crypto/cipher.h"
#include "crypto/luks1.h"

#define LUKS1_KEY_SLOT_ENABLED 0x00AC71F3u
#define LUKS1_KEY_SLOT_DISABLED 0x0000DEADu
#define LUKS1_STRIPES 4000
#define LUKS1_DIGEST_LEN 20
#define LUKS1_SALT_LEN 32
#define LUKS1_MIN_ITERS 1000
#define LUKS1_KEY_SLOT_OFFSET 4096 /* first key material, also the alignment */
#define LUKS1_HEADER_SECTORS (LUKS1_KEY_SLOT_OFFSET / HB_LUKS1_SECTOR_SIZE)

/* The header in host order; the name fields keep a terminating NUL. */
typedef struct Luks1Slot {
    uint32_t active;
    uint32_t iters;
    uint8_t salt[LUKS1_SALT_LEN];
    uint32_t key_offset; /* sectors */
    uint32_t stripes;
} Luks1Slot;

typedef struct Luks1Header {
    uint8_t magic[6];
    uint16_t version;
    char cipher_name[33];
    char cipher_mode[33];
    char hash_spec[33];
    uint32_t payload_offset; /* sectors */
    uint32_t key_bytes;
    uint8_t mk_digest[LUKS1_DIGEST_LEN];
    uint8_t mk_salt[LUKS1_SALT_LEN];
    uint32_t mk_iters;
    char uuid[41];
    Luks1Slot slots[HB_LUKS1_NUM_KEYSLOTS];
} Luks1Header;

struct HbLuks1 {
    Luks1Header hdr;
    uint64_t volume_size;
    HbCipherAlg alg;
    HbCipherMode mode;
    HbIvgenAlg ivgen;
    HbHashAlg ivhash; /* meaningful when has_ivhash */
    bool has_ivhash;
    HbHashAlg hash;
    HbSecretBuf *master_key;
    HbSectorCipher *cipher;
};

extern const uint8_t luks1_magic[6];

/* luks1-header.c */
bool luks1_header_decode(const uint8_t raw[HB_LUKS1_HEADER_LEN], Luks1Header *hdr,
                         GError **errp);
void luks1_header_encode(const Luks1Header *hdr, uint8_t raw[HB_LUKS1_HEADER_LEN]);
bool luks1_header_check(HbLuks1 *luks, GError **errp);
uint32_t luks1_split_sectors(uint32_t key_bytes, uint32_t stripes); /* rounded to 8 sectors */
uint32_t luks1_split_sectors_exact(uint32_t key_bytes, uint32_t stripes);
bool luks1_write_header(const HbLuks1 *luks, HbLuks1WriteFn write, void *opaque, GError **errp);

/* luks1-keyslot.c */
HbSectorCipher *luks1_slot_cipher(const HbLuks1 *luks, const uint8_t *key, GError **errp);
bool luks1_store_key(HbLuks1 *luks, int slot, const uint8_t *pass, size_t passlen,
                     int64_t iter_time_ms, HbLuks1WriteFn write, void *opaque, GError **errp);

#endif
