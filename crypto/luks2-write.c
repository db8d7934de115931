/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2-write.c — writing LUKS2 metadata: the JSON tree serialized,
 * checked by the same parser that opens volumes, and written as both
 * binary header copies with the next seqid.
 *
 * Theory of operation: each copy is one write of hdr_size bytes (binary
 * header and JSON area together) carrying its own checksum, and a reader
 * (luks2-header.c) uses the copy with the higher seqid when both are good,
 * the good one when only one is.  The secondary is written first: until it
 * is complete the primary still holds the old metadata intact; while the
 * primary is being rewritten the secondary already holds the new metadata
 * with a higher seqid.  So a crash (or a torn write) at any point leaves at
 * least one good copy, and it is either the old metadata or the new, never
 * a mix.  Writing the primary first would be as safe for hotblock's
 * reader; secondary-first keeps the copy every tool looks at first (blkid,
 * cryptsetup's primary) unchanged until the new metadata exists elsewhere.
 * The write callback has no barrier, so the caller flushes afterwards; a
 * device that reorders the two writes still leaves one good copy, since
 * each is checked on its own.
 */
#include <gnutls/crypto.h>
#include <string.h>

#include "crypto/luks2-priv.h"
#include "util/error.h"

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

/* One copy at @offset: binary header (fresh salt) + @json, checksummed. */
static bool write_copy(const Luks2Bin *bin, const char *json, size_t json_len, bool secondary,
                       HbLuks1WriteFn write, void *opaque, GError **errp)
{
    const char *which = secondary ? "secondary" : "primary";
    uint64_t offset = secondary ? bin->hdr_size : 0;
    g_autofree uint8_t *all = g_malloc0(bin->hdr_size);
    HbHashAlg alg;
    int rc;

    memcpy(all + OFF_MAGIC, secondary ? luks2_magic2 : luks2_magic1, 6);
    all[OFF_VERSION + 1] = 2;
    put64(all + OFF_HDR_SIZE, bin->hdr_size);
    put64(all + OFF_SEQID, bin->seqid);
    memcpy(all + OFF_LABEL, bin->label, strnlen(bin->label, 47));
    memcpy(all + OFF_CSUM_ALG, bin->checksum_alg, strnlen(bin->checksum_alg, 31));
    memcpy(all + OFF_UUID, bin->uuid, strnlen(bin->uuid, 39));
    memcpy(all + OFF_SUBSYSTEM, bin->subsystem, strnlen(bin->subsystem, 47));
    put64(all + OFF_HDR_OFFSET, offset);
    /* Each copy has its own salt, as the format asks. */
    if (gnutls_rnd(GNUTLS_RND_NONCE, all + OFF_SALT, 64) < 0) {
        hb_error_set(errp, "Unable to read random bytes");
        return false;
    }
    memcpy(all + LUKS2_BIN_LEN, json, json_len);
    if (!hb_hash_lookup(bin->checksum_alg, &alg, errp) ||
        hb_hash_bytes(alg, all, bin->hdr_size, all + OFF_CSUM) < 0) {
        hb_error_set(errp, "Cannot compute the LUKS2 %s header checksum", which);
        return false;
    }
    rc = write(opaque, offset, all, bin->hdr_size);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "Cannot write the LUKS2 %s header", which);
        return false;
    }
    return true;
}

bool luks2_write_metadata(HbLuks2 *l, JsonNode *root, HbLuks1WriteFn write, void *opaque,
                          GError **errp)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree Luks2Meta *meta = g_new0(Luks2Meta, 1);
    Luks2Bin bin = l->bin;
    size_t len;

    json_generator_set_root(gen, root);
    g_autofree char *json = json_generator_to_data(gen, &len);
    /* The area must keep at least one NUL after the text. */
    if (len >= bin.hdr_size - LUKS2_BIN_LEN) {
        hb_error_set(errp, "LUKS2 metadata (%zu bytes) does not fit the JSON area of %"
                     G_GUINT64_FORMAT " bytes", len, bin.hdr_size - LUKS2_BIN_LEN);
        return false;
    }
    /* Never write what hotblock itself would refuse to open. */
    g_autoptr(GError) err = NULL;
    if (!luks2_parse_json(json, bin.hdr_size, l->volume_size, meta, &err)) {
        hb_error_set(errp, "Refusing to write invalid LUKS2 metadata: %s", err->message);
        return false;
    }
    bin.seqid++;
    if (!write_copy(&bin, json, len, true, write, opaque, errp)) {
        return false;       /* the primary still has the old metadata */
    }
    /* From here a reader takes the new metadata (the secondary's higher
     * seqid beats an intact old primary; a torn primary does not count),
     * so @l follows it even if the primary cannot be written. */
    l->bin = bin;
    l->meta = *meta;
    g_free(l->json);
    l->json = g_strdup(json);
    return write_copy(&bin, json, len, false, write, opaque, errp);
}
