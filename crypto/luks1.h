/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks1.h — the LUKS1 on-disk format: parse and check a header, unlock a
 * keyslot, encrypt/decrypt payload sectors, create headers, add/erase keyslots.
 * I/O goes through caller-supplied read/write callbacks, so this knows nothing
 * of block nodes or files. */
#ifndef HB_CRYPTO_LUKS1_H
#define HB_CRYPTO_LUKS1_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/secret.h"

/* Read/write @len bytes at byte @offset of the header volume: 0 or -errno. */
typedef int (*HbLuks1ReadFn)(void *opaque, uint64_t offset, void *buf, size_t len);
typedef int (*HbLuks1WriteFn)(void *opaque, uint64_t offset, const void *buf, size_t len);

typedef struct HbLuks1 HbLuks1;

#define HB_LUKS1_NUM_KEYSLOTS 8
#define HB_LUKS1_SECTOR_SIZE 512
#define HB_LUKS1_HEADER_LEN 592

/**
 * hb_luks1_open() - parse and validate a LUKS1 header, optionally unlock it
 * @read: reads the header volume
 * @opaque: for @read
 * @volume_size: size of the header volume in bytes (key material must fit)
 * @passphrase: NULL for metadata only; else tried against each active slot in order
 * @passphrase_len: its length
 * @errp: a precise reason (QEMU's texts where QEMU has one), or
 *        "Invalid password, cannot unlock any keyslot"
 *
 * A payload offset of 0 means a detached header (the payload is another volume).
 */
/* The default limit on a header's PBKDF2 iterations: about 13 s of SHA-256 on
 * this project's VM, above any count cryptsetup or hotblock-img would pick. */
#define HB_LUKS1_DEFAULT_MAX_ITERATIONS 50000000u

/**
 * hb_luks1_set_max_iterations() - headers whose unlock could need more
 * PBKDF2 iterations (every active keyslot and the master-key digest after
 * each) are refused when unlocking.
 * Process-wide; main thread, before any open.
 */
void hb_luks1_set_max_iterations(uint32_t n);
/** hb_luks1_max_iterations() - the limit in force (LUKS2 follows it too) */
uint32_t hb_luks1_max_iterations(void);

HbLuks1 *hb_luks1_open(HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                       const uint8_t *passphrase, size_t passphrase_len, GError **errp);

/**
 * hb_luks1_reload() - read the header again and check that the volume is
 * still the one @luks describes (cipher, payload offset, UUID, master-key
 * digest), keeping the master key; keyslot changes are taken in.
 * @luks: an open header
 * @read: reads the header volume
 * @opaque: for @read
 * @volume_size: size of the header volume now
 * @errp: "LUKS header changed (...)" or why it could not be read
 *
 * Return: true, or false with @luks unchanged.
 */
bool hb_luks1_reload(HbLuks1 *luks, HbLuks1ReadFn read, void *opaque, uint64_t volume_size,
                     GError **errp);

/** hb_luks1_free() - wipe keys and free; NULL-safe */
void hb_luks1_free(HbLuks1 *luks);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbLuks1, hb_luks1_free)

/** hb_luks1_has_key() - whether the master key is loaded (opened with a passphrase) */
bool hb_luks1_has_key(const HbLuks1 *luks);
/** hb_luks1_payload_offset() - payload start in bytes (0 for a detached header) */
uint64_t hb_luks1_payload_offset(const HbLuks1 *luks);
/** hb_luks1_header_size() - bytes used by the header and all keyslots' key material */
uint64_t hb_luks1_header_size(const HbLuks1 *luks);
/**
 * hb_luks1_master_key() - the unlocked master key, or NULL
 * For test and diagnostic tools (tests/tools/luks-probe) only: the daemon never
 * shows key material anywhere.
 */
const HbSecretBuf *hb_luks1_master_key(const HbLuks1 *luks);

/**
 * hb_luks1_decrypt() - decrypt whole 512-byte sectors in place
 * @luks: an unlocked header
 * @sector: first sector, relative to the payload start (the IV sector number)
 * @buf: data
 * @len: a multiple of 512
 *
 * Thread-safe and lock-free apart from borrowing a cipher context.
 * Return: 0, -ENOKEY if not unlocked, -EINVAL for a bad length, -EIO, -ENOMEM.
 */
int hb_luks1_decrypt(HbLuks1 *luks, uint64_t sector, void *buf, size_t len);
/** hb_luks1_encrypt() - encrypt whole sectors in place; as hb_luks1_decrypt() */
int hb_luks1_encrypt(HbLuks1 *luks, uint64_t sector, void *buf, size_t len);

typedef struct HbLuks1SlotInfo {
    bool active;
    uint32_t iters;
    uint32_t stripes;
    uint64_t key_offset; /* bytes */
} HbLuks1SlotInfo;

typedef struct HbLuks1Info {
    char cipher_alg[32];     /* QEMU names: "aes-256" ... */
    char cipher_mode[16];    /* "xts", "cbc" */
    char ivgen_alg[16];      /* "plain64", "plain", "essiv" */
    char ivgen_hash_alg[16]; /* "" if none, else "sha256"... */
    char hash_alg[16];       /* "sha256" */
    uint64_t payload_offset; /* bytes */
    uint32_t master_key_iters;
    char uuid[40];
    HbLuks1SlotInfo slots[8];
} HbLuks1Info;

/** hb_luks1_get_info() - the header's metadata, no key material */
void hb_luks1_get_info(const HbLuks1 *luks, HbLuks1Info *info);

typedef struct HbLuks1CreateOpts {
    const char *cipher_alg;     /* default "aes-256" */
    const char *cipher_mode;    /* default "xts" */
    const char *ivgen_alg;      /* default "plain64" */
    const char *ivgen_hash_alg; /* default NULL (sha256 when essiv) */
    const char *hash_alg;       /* default "sha256" */
    int64_t iter_time_ms;       /* default 2000; 0 = default */
    bool detached_header;       /* payload offset 0 */
} HbLuks1CreateOpts;

/**
 * hb_luks1_create() - write a fresh header with keyslot 0 set to @passphrase
 * @write: writes the header volume (every byte of [0, *header_size) is written)
 * @opaque: for @write
 * @opts: options as qemu-img -o luks has them; NULL for all defaults
 * @passphrase: keyslot 0's passphrase
 * @passphrase_len: its length
 * @header_size: set to the bytes the header volume needs (header + 8 keyslots)
 * @errp: error
 *
 * Layout as QEMU makes it: keyslots from 4 KiB, each 4 KiB aligned; an
 * attached payload starts right after keyslot 7, a detached one at 0.
 */
bool hb_luks1_create(HbLuks1WriteFn write, void *opaque, const HbLuks1CreateOpts *opts,
                     const uint8_t *passphrase, size_t passphrase_len, uint64_t *header_size,
                     GError **errp);

/**
 * hb_luks1_add_keyslot() - store the master key under a new passphrase
 * @luks: an unlocked header
 * @read: reads the header volume (to check it did not change since open)
 * @write: writes it
 * @opaque: for both
 * @slot: 0..7, or -1 for the first inactive slot
 * @pass: the new passphrase
 * @len: its length
 * @iter_time_ms: PBKDF2 time; <= 0 for the default 2000
 * @errp: QEMU's texts ("Can't add a keyslot - all keyslots are in use", ...)
 */
bool hb_luks1_add_keyslot(HbLuks1 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                          int slot, const uint8_t *pass, size_t len, int64_t iter_time_ms,
                          GError **errp);

/**
 * hb_luks1_slot_matches() - whether keyslot @slot opens with @pass
 * @read: reads the header volume
 * @opaque: for @read
 * @errp: set when the slot could not be tried (I/O, cipher)
 *
 * Costs one key derivation of the slot (its PBKDF2 iterations).
 * Return: 1 it does, 0 it does not (or the slot is inactive), -1 error.
 */
int hb_luks1_slot_matches(const HbLuks1 *luks, HbLuks1ReadFn read, void *opaque, int slot,
                          const uint8_t *pass, size_t len, GError **errp);

/**
 * hb_luks1_erase_keyslot() - overwrite a keyslot's key material and disable it
 * @errp: QEMU's texts; erasing the only active slot is refused
 */
bool hb_luks1_erase_keyslot(HbLuks1 *luks, HbLuks1WriteFn write, void *opaque, int slot,
                            GError **errp);

#endif
