/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2-header.c — the two LUKS2 binary headers: decoding, checksums,
 * and choosing which copy of the metadata to trust.
 *
 * Theory of operation (LUKS2 on-disk format): the volume starts with a
 * 4 KiB binary header followed by its JSON area; together they are
 * hdr_size bytes (16 KiB to 4 MiB, a power of two).  A second copy, with
 * the magic "SKUL\xba\xbe", follows at offset hdr_size.  Each copy carries
 * a checksum (its checksum_alg over the binary header, checksum field
 * zeroed, and the whole JSON area) and a seqid that every metadata update
 * increments (cryptsetup writes the primary first, hotblock the
 * secondary: either way one copy is whole).  So: a copy is usable when its
 * binary fields are sane, its checksum matches and its JSON passes every
 * check; of two usable copies the one with the higher seqid is current (an
 * update interrupted after one copy), and when the primary is unusable
 * the secondary is looked for at every offset a header size allows.
 * Nothing is repaired on open; luks2-write.c writes both copies on a change.
 */
#include <errno.h>
#include <string.h>

#include "crypto/luks2-priv.h"
#include "util/error.h"

const uint8_t luks2_magic1[6] = { 'L', 'U', 'K', 'S', 0xBA, 0xBE };
const uint8_t luks2_magic2[6] = { 'S', 'K', 'U', 'L', 0xBA, 0xBE };

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static const uint64_t hdr2_offsets[] = {
    16 * 1024, 32 * 1024, 64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024,
    1024 * 1024, 2048 * 1024, 4096 * 1024,
};

int hb_luks_version(HbLuks1ReadFn read, void *opaque, uint64_t volume_size)
{
    uint8_t raw[8];
    int rc;

    if (volume_size < sizeof(raw)) {
        return 0;
    }
    rc = read(opaque, 0, raw, sizeof(raw));
    if (rc < 0) {
        return rc;
    }
    if (memcmp(raw, luks2_magic1, 6) == 0) {
        int v = raw[6] << 8 | raw[7];
        return v == 1 || v == 2 ? v : 0;
    }
    /* A LUKS2 volume whose primary header is damaged: its secondary. */
    for (size_t i = 0; i < G_N_ELEMENTS(hdr2_offsets); i++) {
        if (hdr2_offsets[i] > volume_size - sizeof(raw)) {
            break;
        }
        rc = read(opaque, hdr2_offsets[i], raw, sizeof(raw));
        if (rc < 0) {
            return rc;
        }
        if (memcmp(raw, luks2_magic2, 6) == 0 && raw[6] == 0 && raw[7] == 2) {
            return 2;
        }
    }
    return 0;
}

/* A fixed-size text field: it must hold its NUL (cryptsetup writes one). */
static bool get_str(char *dst, const uint8_t *src, size_t len, const char *which,
                    const char *what, GError **errp)
{
    if (!memchr(src, '\0', len)) {
        hb_error_set(errp, "LUKS2 %s header %s is not NUL terminated", which, what);
        return false;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

static bool is_hdr_size(uint64_t v)
{
    return v >= MIN_HDR && v <= MAX_HDR && (v & (v - 1)) == 0;
}

/*
 * One copy at @offset: binary fields, checksum, JSON.  On success @bin,
 * @meta and *@json (the JSON text, for comparing copies) are set.
 * *@sane says whether at least the binary header looked like ours (its
 * hdr_size then locates the secondary).
 */
static bool read_copy(HbLuks1ReadFn read, void *opaque, uint64_t volume_size, uint64_t offset,
                      bool secondary, Luks2Bin *bin, Luks2Meta *meta, char **json, bool *sane,
                      GError **errp)
{
    const char *which = secondary ? "secondary" : "primary";
    uint8_t raw[LUKS2_BIN_LEN];
    HbHashAlg alg;
    int rc;

    *sane = false;
    if (offset > volume_size || volume_size - offset < LUKS2_BIN_LEN) {
        hb_error_set(errp, "LUKS2 %s header is truncated: the volume has %" G_GUINT64_FORMAT
                     " bytes", which, volume_size);
        return false;
    }
    rc = read(opaque, offset, raw, sizeof(raw));
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot read the LUKS2 %s header", which);
        return false;
    }
    if (memcmp(raw + OFF_MAGIC, secondary ? luks2_magic2 : luks2_magic1, 6) != 0) {
        hb_error_set(errp, "LUKS2 %s header has no LUKS2 signature", which);
        return false;
    }
    memset(bin, 0, sizeof(*bin));
    bin->version = (uint16_t)(raw[OFF_VERSION] << 8 | raw[OFF_VERSION + 1]);
    bin->hdr_size = get64(raw + OFF_HDR_SIZE);
    bin->seqid = get64(raw + OFF_SEQID);
    bin->hdr_offset = get64(raw + OFF_HDR_OFFSET);
    if (bin->version != 2) {
        hb_error_set(errp, "LUKS2 %s header has version %u, not 2", which, bin->version);
        return false;
    }
    if (!is_hdr_size(bin->hdr_size)) {
        hb_error_set(errp, "LUKS2 %s header size %" G_GUINT64_FORMAT " is not a power of two "
                     "from 16 KiB to 4 MiB", which, bin->hdr_size);
        return false;
    }
    if (bin->hdr_offset != offset || (secondary && offset != bin->hdr_size)) {
        hb_error_set(errp, "LUKS2 %s header at offset %" G_GUINT64_FORMAT " says it is at %"
                     G_GUINT64_FORMAT " (header size %" G_GUINT64_FORMAT ")", which, offset,
                     bin->hdr_offset, bin->hdr_size);
        return false;
    }
    if (!get_str(bin->label, raw + OFF_LABEL, 48, which, "label", errp) ||
        !get_str(bin->checksum_alg, raw + OFF_CSUM_ALG, 32, which, "checksum algorithm", errp) ||
        !get_str(bin->uuid, raw + OFF_UUID, 40, which, "UUID", errp) ||
        !get_str(bin->subsystem, raw + OFF_SUBSYSTEM, 48, which, "subsystem", errp)) {
        return false;
    }
    *sane = true;
    if (!hb_hash_lookup(bin->checksum_alg, &alg, NULL) || !hb_hash_available(alg) ||
        hb_hash_digest_len(alg) > CSUM_LEN) {
        hb_error_set(errp, "LUKS2 %s header checksum algorithm '%s' not supported", which,
                     bin->checksum_alg);
        return false;
    }
    if (volume_size - offset < bin->hdr_size) {
        hb_error_set(errp, "LUKS2 %s header is truncated: it needs %" G_GUINT64_FORMAT
                     " bytes from offset %" G_GUINT64_FORMAT ", the volume has %"
                     G_GUINT64_FORMAT, which, bin->hdr_size, offset, volume_size);
        return false;
    }

    /* The whole copy in one buffer: the checksum covers both parts. */
    g_autofree uint8_t *all = g_malloc(bin->hdr_size);
    memcpy(all, raw, LUKS2_BIN_LEN);
    rc = read(opaque, offset + LUKS2_BIN_LEN, all + LUKS2_BIN_LEN,
              bin->hdr_size - LUKS2_BIN_LEN);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot read the LUKS2 %s header's JSON area", which);
        return false;
    }
    uint8_t want[CSUM_LEN], got[CSUM_LEN];
    memcpy(want, all + OFF_CSUM, CSUM_LEN);
    memset(all + OFF_CSUM, 0, CSUM_LEN);
    if (hb_hash_bytes(alg, all, bin->hdr_size, got) < 0) {
        hb_error_set(errp, "Cannot compute the LUKS2 %s header checksum", which);
        return false;
    }
    if (memcmp(want, got, hb_hash_digest_len(alg)) != 0) {
        hb_error_set(errp, "LUKS2 %s header checksum (%s) does not match its contents", which,
                     bin->checksum_alg);
        return false;
    }

    const char *area = (const char *)all + LUKS2_BIN_LEN;
    size_t area_len = bin->hdr_size - LUKS2_BIN_LEN;
    const char *nul = memchr(area, '\0', area_len);
    if (!nul) {
        hb_error_set(errp, "LUKS2 %s header's JSON area has no terminating NUL", which);
        return false;
    }
    for (const char *p = nul; p < area + area_len; p++) {
        if (*p) {
            hb_error_set(errp, "LUKS2 %s header's JSON area has data after its terminating "
                         "NUL (at byte %zu)", which, (size_t)(p - area));
            return false;
        }
    }
    g_autoptr(GError) jerr = NULL;
    if (!luks2_parse_json(area, bin->hdr_size, volume_size, meta, &jerr)) {
        hb_error_set(errp, "%s", jerr->message);
        return false;
    }
    *json = g_strdup(area);
    return true;
}

/* @msg without the first occurrence of @word. */
static char *strip_word(const char *msg, const char *word)
{
    const char *at = strstr(msg, word);

    if (!at) {
        return g_strdup(msg);
    }
    return g_strdup_printf("%.*s%s", (int)(at - msg), msg, at + strlen(word));
}

bool luks2_read_headers(HbLuks1ReadFn read, void *opaque, uint64_t volume_size, Luks2Bin *bin,
                        Luks2Meta *meta, char **json, GError **errp)
{
    g_autoptr(GError) err1 = NULL, err2 = NULL;
    g_autofree char *json1 = NULL, *json2 = NULL;
    g_autofree Luks2Meta *meta2 = g_new0(Luks2Meta, 1);
    Luks2Bin bin2;
    bool sane1, sane2 = false;
    bool ok1, ok2 = false;

    ok1 = read_copy(read, opaque, volume_size, 0, false, bin, meta, &json1, &sane1, &err1);
    if (sane1) {
        ok2 = read_copy(read, opaque, volume_size, bin->hdr_size, true, &bin2, meta2, &json2,
                        &sane2, &err2);
    } else {
        /* No size to go by: try every place a secondary header can be. */
        for (size_t i = 0; i < G_N_ELEMENTS(hdr2_offsets) && !sane2; i++) {
            g_clear_error(&err2);
            ok2 = read_copy(read, opaque, volume_size, hdr2_offsets[i], true, &bin2, meta2,
                            &json2, &sane2, &err2);
        }
        if (!sane2) {
            g_clear_error(&err2);
            hb_error_set(&err2, "LUKS2 secondary header not found");
        }
    }

    if (ok1 && ok2) {
        if (strcmp(bin->uuid, bin2.uuid) != 0) {
            hb_error_set(errp, "LUKS2 primary and secondary headers have different UUIDs "
                         "(%s, %s)", bin->uuid, bin2.uuid);
            return false;
        }
        if (bin->seqid == bin2.seqid && strcmp(json1, json2) != 0) {
            hb_error_set(errp, "LUKS2 primary and secondary headers have the same seqid %"
                         G_GUINT64_FORMAT " but different metadata", bin->seqid);
            return false;
        }
        ok1 = bin->seqid >= bin2.seqid;
    }
    if (ok1) {
        if (json) {
            *json = g_steal_pointer(&json1);
        }
        return true;
    }
    if (ok2) {
        *bin = bin2;
        *meta = *meta2;
        if (json) {
            *json = g_steal_pointer(&json2);
        }
        return true;
    }
    g_autofree char *m1 = strip_word(err1->message, " primary");
    g_autofree char *m2 = strip_word(err2->message, " secondary");
    if (g_str_equal(m1, m2)) {
        /* The same fault in both copies: say it once. */
        hb_error_set(errp, "%s", m1);
        return false;
    }
    hb_error_set(errp, "%s; %s", err1->message, err2->message);
    return false;
}
