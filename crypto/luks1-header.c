/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks1-header.c — the 592-byte LUKS1 header: big-endian (de)serialization
 * and every consistency check, all done before any key material or payload
 * is read.  Texts follow QEMU's where QEMU has the same check. */
#include <string.h>

#include "crypto/luks1-priv.h"
#include "util/error.h"

const uint8_t luks1_magic[6] = { 'L', 'U', 'K', 'S', 0xBA, 0xBE };

/* Field offsets from the LUKS1 on-disk format specification. */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 6,
    OFF_CIPHER_NAME = 8,
    OFF_CIPHER_MODE = 40,
    OFF_HASH_SPEC = 72,
    OFF_PAYLOAD = 104,
    OFF_KEY_BYTES = 108,
    OFF_MK_DIGEST = 112,
    OFF_MK_SALT = 132,
    OFF_MK_ITERS = 164,
    OFF_UUID = 168,
    OFF_SLOTS = 208,
    SLOT_LEN = 48,
    SLOT_ACTIVE = 0,
    SLOT_ITERS = 4,
    SLOT_SALT = 8,
    SLOT_KEY_OFFSET = 40,
    SLOT_STRIPES = 44,
};
G_STATIC_ASSERT(OFF_SLOTS + HB_LUKS1_NUM_KEYSLOTS * SLOT_LEN == HB_LUKS1_HEADER_LEN);

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool get_str(char *dst, const uint8_t *src, size_t len, const char *what, GError **errp)
{
    if (!memchr(src, '\0', len)) {
        hb_error_set(errp, "LUKS header %s is not NUL terminated", what);
        return false;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

bool luks1_header_decode(const uint8_t raw[HB_LUKS1_HEADER_LEN], Luks1Header *hdr, GError **errp)
{
    memset(hdr, 0, sizeof(*hdr));
    memcpy(hdr->magic, raw + OFF_MAGIC, 6);
    if (memcmp(hdr->magic, luks1_magic, 6) != 0) {
        hb_error_set(errp, "Volume is not in LUKS format");
        return false;
    }
    hdr->version = (uint16_t)(raw[OFF_VERSION] << 8 | raw[OFF_VERSION + 1]);
    if (hdr->version != 1) {
        hb_error_set(errp, "LUKS version %u is not supported", hdr->version);
        return false;
    }
    if (!get_str(hdr->cipher_name, raw + OFF_CIPHER_NAME, 32, "cipher name", errp) ||
        !get_str(hdr->cipher_mode, raw + OFF_CIPHER_MODE, 32, "cipher mode", errp) ||
        !get_str(hdr->hash_spec, raw + OFF_HASH_SPEC, 32, "hash spec", errp)) {
        return false;
    }
    hdr->payload_offset = get32(raw + OFF_PAYLOAD);
    hdr->key_bytes = get32(raw + OFF_KEY_BYTES);
    memcpy(hdr->mk_digest, raw + OFF_MK_DIGEST, LUKS1_DIGEST_LEN);
    memcpy(hdr->mk_salt, raw + OFF_MK_SALT, LUKS1_SALT_LEN);
    hdr->mk_iters = get32(raw + OFF_MK_ITERS);
    /* The UUID is text but not always NUL-terminated within its 40 bytes. */
    memcpy(hdr->uuid, raw + OFF_UUID, 40);
    hdr->uuid[40] = '\0';
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        const uint8_t *s = raw + OFF_SLOTS + i * SLOT_LEN;
        hdr->slots[i].active = get32(s + SLOT_ACTIVE);
        hdr->slots[i].iters = get32(s + SLOT_ITERS);
        memcpy(hdr->slots[i].salt, s + SLOT_SALT, LUKS1_SALT_LEN);
        hdr->slots[i].key_offset = get32(s + SLOT_KEY_OFFSET);
        hdr->slots[i].stripes = get32(s + SLOT_STRIPES);
    }
    return true;
}

void luks1_header_encode(const Luks1Header *hdr, uint8_t raw[HB_LUKS1_HEADER_LEN])
{
    memset(raw, 0, HB_LUKS1_HEADER_LEN);
    memcpy(raw + OFF_MAGIC, luks1_magic, 6);
    raw[OFF_VERSION] = (uint8_t)(hdr->version >> 8);
    raw[OFF_VERSION + 1] = (uint8_t)hdr->version;
    memcpy(raw + OFF_CIPHER_NAME, hdr->cipher_name, strnlen(hdr->cipher_name, 32));
    memcpy(raw + OFF_CIPHER_MODE, hdr->cipher_mode, strnlen(hdr->cipher_mode, 32));
    memcpy(raw + OFF_HASH_SPEC, hdr->hash_spec, strnlen(hdr->hash_spec, 32));
    put32(raw + OFF_PAYLOAD, hdr->payload_offset);
    put32(raw + OFF_KEY_BYTES, hdr->key_bytes);
    memcpy(raw + OFF_MK_DIGEST, hdr->mk_digest, LUKS1_DIGEST_LEN);
    memcpy(raw + OFF_MK_SALT, hdr->mk_salt, LUKS1_SALT_LEN);
    put32(raw + OFF_MK_ITERS, hdr->mk_iters);
    memcpy(raw + OFF_UUID, hdr->uuid, 40);
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        uint8_t *s = raw + OFF_SLOTS + i * SLOT_LEN;
        put32(s + SLOT_ACTIVE, hdr->slots[i].active);
        put32(s + SLOT_ITERS, hdr->slots[i].iters);
        memcpy(s + SLOT_SALT, hdr->slots[i].salt, LUKS1_SALT_LEN);
        put32(s + SLOT_KEY_OFFSET, hdr->slots[i].key_offset);
        put32(s + SLOT_STRIPES, hdr->slots[i].stripes);
    }
}

uint32_t luks1_split_sectors_exact(uint32_t key_bytes, uint32_t stripes)
{
    uint64_t bytes = (uint64_t)key_bytes * stripes;
    return (uint32_t)((bytes + HB_LUKS1_SECTOR_SIZE - 1) / HB_LUKS1_SECTOR_SIZE);
}

uint32_t luks1_split_sectors(uint32_t key_bytes, uint32_t stripes)
{
    uint32_t n = luks1_split_sectors_exact(key_bytes, stripes);
    return (n + LUKS1_HEADER_SECTORS - 1) / LUKS1_HEADER_SECTORS * LUKS1_HEADER_SECTORS;
}

/* Layout: payload, iterations and keyslot placement (QEMU's checks and texts). */
static bool check_layout(const HbLuks1 *luks, GError **errp)
{
    const Luks1Header *h = &luks->hdr;
    bool detached = h->payload_offset == 0;

    if (!detached && h->payload_offset < LUKS1_HEADER_SECTORS) {
        hb_error_set(errp, "LUKS payload is overlapping with the header");
        return false;
    }
    if (h->mk_iters == 0) {
        hb_error_set(errp, "LUKS key iteration count is zero");
        return false;
    }
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        const Luks1Slot *s1 = &h->slots[i];
        uint64_t start1 = s1->key_offset;
        uint64_t len1 = luks1_split_sectors(h->key_bytes, s1->stripes);

        if (s1->stripes != LUKS1_STRIPES) {
            hb_error_set(errp, "Keyslot %d is corrupted (stripes %u != %d)", i, s1->stripes,
                         LUKS1_STRIPES);
            return false;
        }
        if (s1->active != LUKS1_KEY_SLOT_DISABLED && s1->active != LUKS1_KEY_SLOT_ENABLED) {
            hb_error_set(errp, "Keyslot %d state (active/disable) is corrupted", i);
            return false;
        }
        if (s1->active == LUKS1_KEY_SLOT_ENABLED && s1->iters == 0) {
            hb_error_set(errp, "Keyslot %d iteration count is zero", i);
            return false;
        }
        if (start1 < LUKS1_HEADER_SECTORS) {
            hb_error_set(errp, "Keyslot %d is overlapping with the LUKS header", i);
            return false;
        }
        if (!detached && start1 + len1 > h->payload_offset) {
            hb_error_set(errp, "Keyslot %d is overlapping with the encrypted payload", i);
            return false;
        }
        for (int j = i + 1; j < HB_LUKS1_NUM_KEYSLOTS; j++) {
            uint64_t start2 = h->slots[j].key_offset;
            uint64_t len2 = luks1_split_sectors(h->key_bytes, h->slots[j].stripes);
            if (start1 < start2 + len2 && start2 < start1 + len1) {
                hb_error_set(errp, "Keyslots %d and %d are overlapping in the header", i, j);
                return false;
            }
        }
        /* Not in QEMU: a truncated header volume fails here rather than as a
         * short read (or garbage) when the slot is tried. */
        uint64_t end = (start1 + luks1_split_sectors_exact(h->key_bytes, s1->stripes)) *
                       HB_LUKS1_SECTOR_SIZE;
        if (s1->active == LUKS1_KEY_SLOT_ENABLED && end > luks->volume_size) {
            hb_error_set(errp,
                         "Keyslot %d key material ends beyond the header volume "
                         "(%" G_GUINT64_FORMAT " > %" G_GUINT64_FORMAT " bytes)",
                         i, end, luks->volume_size);
            return false;
        }
    }
    return true;
}

/* Names: "<mode>-<ivgen>[:<ivhash>]", cipher + key size, hash (QEMU's order). */
static bool parse_names(HbLuks1 *luks, GError **errp)
{
    const Luks1Header *h = &luks->hdr;
    g_autofree char *mode = g_strdup(h->cipher_mode);
    char *ivgen = strchr(mode, '-');
    char *ivhash;

    if (!ivgen) {
        hb_error_set(errp, "Unexpected cipher mode string format '%s'", h->cipher_mode);
        return false;
    }
    *ivgen++ = '\0';
    ivhash = strchr(ivgen, ':');
    luks->has_ivhash = ivhash != NULL;
    if (ivhash) {
        *ivhash++ = '\0';
        if (!hb_hash_lookup(ivhash, &luks->ivhash, errp)) {
            return false;
        }
    }
    if (!hb_cipher_mode_lookup(mode, &luks->mode, errp)) {
        return false;
    }

    uint32_t aes_bytes = h->key_bytes;
    bool size_ok = true;
    if (luks->mode == HB_CIPHER_MODE_XTS) {
        size_ok = aes_bytes % 2 == 0;
        aes_bytes /= 2;
    }
    size_ok = size_ok && g_str_equal(h->cipher_name, "aes") &&
              (aes_bytes == 16 || aes_bytes == 24 || aes_bytes == 32);
    if (!size_ok) {
        hb_error_set(errp, "Algorithm '%s' with key size %u bytes not supported",
                     h->cipher_name, aes_bytes);
        return false;
    }
    luks->alg = (HbCipherAlg)((aes_bytes - 16) / 8);

    if (!hb_hash_lookup(h->hash_spec, &luks->hash, errp) ||
        !hb_ivgen_lookup(ivgen, &luks->ivgen, errp)) {
        return false;
    }
    if (luks->ivgen == HB_IVGEN_ESSIV) {
        HbCipherAlg ealg;
        if (!luks->has_ivhash) {
            hb_error_set(errp, "Missing IV generator hash specification");
            return false;
        }
        if (!hb_essiv_cipher(luks->ivhash, &ealg, errp)) {
            return false;
        }
    }
    return true;
}

bool luks1_header_check(HbLuks1 *luks, GError **errp)
{
    /* Names first (unlike QEMU): an impossible key size also breaks the
     * keyslot layout, and the key size is the more useful complaint. */
    return parse_names(luks, errp) && check_layout(luks, errp);
}

bool luks1_write_header(const HbLuks1 *luks, HbLuks1WriteFn write, void *opaque, GError **errp)
{
    uint8_t raw[HB_LUKS1_HEADER_LEN];
    int rc;

    luks1_header_encode(&luks->hdr, raw);
    rc = write(opaque, 0, raw, sizeof(raw));
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot write LUKS header");
        return false;
    }
    return true;
}
