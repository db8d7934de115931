/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2.h — the LUKS2 on-disk format as cryptsetup writes it: parse and
 * check both binary headers and the JSON metadata, unlock a keyslot (PBKDF2,
 * Argon2i, Argon2id), encrypt/decrypt the data segment; create a volume,
 * add and erase keyslots (luks2-create.c, luks2-keyslot.c, luks2-write.c).
 * I/O goes through the same callbacks as crypto/luks1.h. */
#ifndef HB_CRYPTO_LUKS2_H
#define HB_CRYPTO_LUKS2_H

#include "crypto/luks1.h"

typedef struct HbLuks2 HbLuks2;

#define HB_LUKS2_MAX_KEYSLOTS 32
/* cryptsetup's default Argon2 memory cost, 1 GiB, is the default limit. */
#define HB_LUKS2_DEFAULT_MAX_MEMORY_KIB (1024u * 1024u)

/**
 * hb_luks_version() - the LUKS version of a header volume
 * @read: reads the header volume
 * @opaque: for @read
 * @volume_size: its size in bytes
 *
 * Return: 1 or 2 when the first bytes are a LUKS signature with that
 * version, 2 also when they are not but a LUKS2 secondary header is where
 * one can be (a damaged primary), 0 for anything else (the LUKS1 parser
 * then gives its error), -errno when the volume cannot be read.
 */
int hb_luks_version(HbLuks1ReadFn read, void *opaque, uint64_t volume_size);

/**
 * hb_luks2_set_max_memory() - refuse to unlock with an Argon2 keyslot whose
 * memory cost is above @kib KiB.  Process-wide; main thread, before any open.
 * PBKDF2 counts (keyslots and digest) follow hb_luks1_set_max_iterations().
 */
void hb_luks2_set_max_memory(uint32_t kib);

/**
 * hb_luks2_open() - parse and validate a LUKS2 header, optionally unlock it
 * @read: reads the header volume
 * @opaque: for @read
 * @volume_size: size of the header volume in bytes (the keyslots must fit)
 * @passphrase: NULL for metadata only; else tried against the keyslots
 *              (high priority first, priority "ignore" never)
 * @passphrase_len: its length
 * @errp: what is wrong, naming the field; what is unsupported, naming it;
 *        or "Invalid password, cannot unlock any keyslot"
 *
 * The primary header is used unless it is damaged, or the secondary is
 * valid with a higher seqid.  Key derivation runs as slow jobs.
 */
HbLuks2 *hb_luks2_open(HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                       const uint8_t *passphrase, size_t passphrase_len, GError **errp);

/**
 * hb_luks2_reload() - read the header again and check that the data segment
 * and the volume key digest are the ones @luks was unlocked with
 * @errp: "LUKS header changed (...)" or why it could not be read
 * Return: true (keyslot changes are taken in), or false with @luks unchanged.
 */
bool hb_luks2_reload(HbLuks2 *luks, HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                     GError **errp);

/** hb_luks2_free() - wipe keys and free; NULL-safe */
void hb_luks2_free(HbLuks2 *luks);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbLuks2, hb_luks2_free)

/** hb_luks2_has_key() - whether the volume key is loaded */
bool hb_luks2_has_key(const HbLuks2 *luks);
/** hb_luks2_payload_offset() - the data segment's offset on the data device, bytes */
uint64_t hb_luks2_payload_offset(const HbLuks2 *luks);
/** hb_luks2_payload_size() - the segment's fixed size in bytes, or 0 for "dynamic" */
uint64_t hb_luks2_payload_size(const HbLuks2 *luks);
/** hb_luks2_sector_size() - the encryption sector size: 512, 1024, 2048 or 4096 */
uint32_t hb_luks2_sector_size(const HbLuks2 *luks);
/** hb_luks2_header_size() - bytes used by both headers and the keyslots area */
uint64_t hb_luks2_header_size(const HbLuks2 *luks);
/** hb_luks2_master_key() - the volume key, or NULL; test tools only */
const HbSecretBuf *hb_luks2_master_key(const HbLuks2 *luks);

/**
 * hb_luks2_decrypt() - decrypt whole encryption sectors in place
 * @luks: an unlocked header
 * @sector: offset of @buf in the segment, in 512-byte units (a multiple of
 *          sector size / 512); iv_tweak is added here
 * @buf: data
 * @len: a multiple of the sector size
 * Return: 0, -ENOKEY if not unlocked, -EINVAL for bad alignment, -EIO, -ENOMEM.
 */
int hb_luks2_decrypt(HbLuks2 *luks, uint64_t sector, void *buf, size_t len);
/** hb_luks2_encrypt() - encrypt whole sectors in place; as hb_luks2_decrypt() */
int hb_luks2_encrypt(HbLuks2 *luks, uint64_t sector, void *buf, size_t len);

typedef struct HbLuks2SlotInfo {
    int id;
    char kdf[16];            /* "pbkdf2", "argon2i", "argon2id" */
    char kdf_hash[16];       /* pbkdf2 only */
    uint32_t iterations;     /* pbkdf2 iterations, or argon2 time cost */
    uint32_t memory_kib;     /* argon2 only */
    uint32_t cpus;           /* argon2 only */
    uint32_t stripes;
    uint32_t key_size;
    int priority;            /* 0 ignore, 1 normal, 2 high */
    uint64_t area_offset;
    uint64_t area_size;
} HbLuks2SlotInfo;

typedef struct HbLuks2Info {
    char cipher_alg[32];     /* "aes-256" ... as for LUKS1 */
    char cipher_mode[16];
    char ivgen_alg[16];
    char ivgen_hash_alg[16];
    char hash_alg[16];       /* the digest's hash */
    uint64_t payload_offset;
    uint64_t payload_size;   /* 0: dynamic */
    uint32_t sector_size;
    uint64_t iv_tweak;
    uint32_t digest_iters;
    uint64_t seqid;
    char uuid[40];
    char label[48];
    int nslots;
    HbLuks2SlotInfo slots[HB_LUKS2_MAX_KEYSLOTS];
} HbLuks2Info;

/** hb_luks2_get_info() - the header's metadata, no key material */
void hb_luks2_get_info(const HbLuks2 *luks, HbLuks2Info *info);

typedef struct HbLuks2CreateOpts {
    const char *cipher;         /* dm-crypt spec; default "aes-xts-plain64" */
    uint32_t key_size_bits;     /* default 512 */
    const char *hash_alg;       /* digest and AF hash; default "sha256" */
    const char *pbkdf;          /* "pbkdf2", "argon2i", "argon2id" (default) */
    int64_t iter_time_ms;       /* keyslot KDF time; <= 0: 2000 */
    uint32_t memory_kib;        /* Argon2 memory; 0: benchmarked, at most 1 GiB */
    uint32_t parallel;          /* Argon2 lanes; 0: min(4, CPUs) */
    uint32_t sector_size;       /* 512 (default), 1024, 2048, 4096 */
    bool detached_header;       /* data segment at 0 on another volume */
} HbLuks2CreateOpts;

/**
 * hb_luks2_create() - write a fresh LUKS2 header with keyslot 0 set to @passphrase
 * @write: writes the header volume (every byte of [0, *header_size) is written)
 * @opaque: for @write
 * @opts: options; NULL for cryptsetup 2.6's luksFormat defaults
 * @passphrase: keyslot 0's passphrase
 * @passphrase_len: its length
 * @header_size: set to the bytes the header volume needs (16 MiB)
 * @errp: error
 *
 * Layout as cryptsetup makes it: both 16 KiB header copies, the keyslots
 * area up to 16 MiB, data from 16 MiB (from 0 on its own volume when
 * detached).  Argon2 costs come from a short benchmark for the iteration
 * time, the memory capped at 1 GiB, half the RAM and hb_luks2_set_max_memory().
 */
bool hb_luks2_create(HbLuks1WriteFn write, void *opaque, const HbLuks2CreateOpts *opts,
                     const uint8_t *passphrase, size_t passphrase_len, uint64_t *header_size,
                     GError **errp);

/**
 * hb_luks2_add_keyslot() - store the volume key under a new passphrase
 * @luks: an unlocked volume
 * @read: reads the header volume (to check it did not change since open)
 * @write: writes it
 * @opaque: for both
 * @slot: 0..31, or -1 for the first free keyslot id
 * @pass: the new passphrase
 * @len: its length
 * @iter_time_ms: Argon2id time (benchmarked); <= 0 for the default 2000
 * @errp: QEMU's texts, as hb_luks1_add_keyslot()
 *
 * The key material goes to free space in the keyslots area, then both
 * header copies are rewritten with seqid + 1; tokens and unknown members
 * of the JSON are kept.
 */
bool hb_luks2_add_keyslot(HbLuks2 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                          int slot, const uint8_t *pass, size_t len, int64_t iter_time_ms,
                          GError **errp);

/** hb_luks2_keyslot_matches() - as hb_luks1_keyslot_matches() */
int hb_luks2_keyslot_matches(HbLuks2 *luks, HbLuks1ReadFn read, void *opaque, int slot,
                             const uint8_t *pass, size_t len, GError **errp);

/**
 * hb_luks2_erase_keyslot() - overwrite a keyslot's key material and remove it
 * @errp: QEMU's texts, as hb_luks1_erase_keyslot(); erasing the only keyslot
 *        is refused
 */
bool hb_luks2_erase_keyslot(HbLuks2 *luks, HbLuks1WriteFn write, void *opaque, int slot,
                            GError **errp);

#endif
