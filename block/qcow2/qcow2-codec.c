/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-codec.c — big-endian on-disk fields, and the one table of the header's layout. */

#include "qcow2-int.h"

#include <stddef.h>
#include <string.h>

/*
 * A table row: the field at byte @off, @w bytes wide, held in member @m.
 * The array size in the expression fails to compile (negative size) when
 * the member is not exactly @w bytes, so the table and HbQcow2Header
 * cannot drift apart.
 */
#define FIELD(off, w, m)                                                    \
    { (off), (w),                                                           \
      offsetof(HbQcow2Header, m) +                                          \
          0 * sizeof(char[sizeof(((HbQcow2Header *)0)->m) == (w) ? 1 : -1]) }

/* The qcow2 header (docs/interop/qcow2.txt, "Header"), in on-disk order. */
const HbQcow2FieldDesc hb_qcow2_header_fields[QCOW2_FIELD__COUNT] = {
    [QCOW2_FIELD_MAGIC]                   = FIELD(0, 4, magic),
    [QCOW2_FIELD_VERSION]                 = FIELD(4, 4, version),
    [QCOW2_FIELD_BACKING_FILE_OFFSET]     = FIELD(8, 8, backing_file_offset),
    [QCOW2_FIELD_BACKING_FILE_SIZE]       = FIELD(16, 4, backing_file_size),
    [QCOW2_FIELD_CLUSTER_BITS]            = FIELD(20, 4, cluster_bits),
    [QCOW2_FIELD_SIZE]                    = FIELD(24, 8, size),
    [QCOW2_FIELD_CRYPT_METHOD]            = FIELD(32, 4, crypt_method),
    [QCOW2_FIELD_L1_SIZE]                 = FIELD(36, 4, l1_size),
    [QCOW2_FIELD_L1_TABLE_OFFSET]         = FIELD(40, 8, l1_table_offset),
    [QCOW2_FIELD_REFCOUNT_TABLE_OFFSET]   = FIELD(48, 8, refcount_table_offset),
    [QCOW2_FIELD_REFCOUNT_TABLE_CLUSTERS] = FIELD(56, 4, refcount_table_clusters),
    [QCOW2_FIELD_NB_SNAPSHOTS]            = FIELD(60, 4, nb_snapshots),
    [QCOW2_FIELD_SNAPSHOTS_OFFSET]        = FIELD(64, 8, snapshots_offset),
    [QCOW2_FIELD_INCOMPATIBLE_FEATURES]   = FIELD(72, 8, incompatible_features),
    [QCOW2_FIELD_COMPATIBLE_FEATURES]     = FIELD(80, 8, compatible_features),
    [QCOW2_FIELD_AUTOCLEAR_FEATURES]      = FIELD(88, 8, autoclear_features),
    [QCOW2_FIELD_REFCOUNT_ORDER]          = FIELD(96, 4, refcount_order),
    [QCOW2_FIELD_HEADER_LENGTH]           = FIELD(100, 4, header_length),
    [QCOW2_FIELD_COMPRESSION_TYPE]        = FIELD(104, 1, compression_type),
};

/**
 * hb_qcow2_be_get() - read a big-endian unsigned integer.
 * @p: its first byte
 * @width: bytes (1 to 8)
 *
 * Return: the value.
 */
uint64_t hb_qcow2_be_get(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < width; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/**
 * hb_qcow2_be_put() - write a big-endian unsigned integer.
 * @p: its first byte
 * @width: bytes (1 to 8); higher bits of @v are dropped
 * @v: the value
 */
void hb_qcow2_be_put(uint8_t *p, unsigned width, uint64_t v)
{
    for (unsigned i = width; i-- > 0; v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

static uint64_t member_get(const void *st, const HbQcow2FieldDesc *d)
{
    const uint8_t *p = (const uint8_t *)st + d->member;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;

    switch (d->width) {
    case 1:
        memcpy(&u8, p, 1);
        return u8;
    case 2:
        memcpy(&u16, p, 2);
        return u16;
    case 4:
        memcpy(&u32, p, 4);
        return u32;
    default:
        memcpy(&u64, p, 8);
        return u64;
    }
}

static void member_set(void *st, const HbQcow2FieldDesc *d, uint64_t v)
{
    uint8_t *p = (uint8_t *)st + d->member;
    uint8_t u8 = (uint8_t)v;
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;

    switch (d->width) {
    case 1:
        memcpy(p, &u8, 1);
        break;
    case 2:
        memcpy(p, &u16, 2);
        break;
    case 4:
        memcpy(p, &u32, 4);
        break;
    default:
        memcpy(p, &v, 8);
        break;
    }
}

/**
 * hb_qcow2_fields_decode() - fill a struct from its on-disk bytes.
 * @t: the layout: rows of offset, width and member (widths 1, 2, 4, 8)
 * @n: rows in @t
 * @st: the struct the members of @t belong to
 * @buf: the on-disk bytes, from offset 0 of the layout
 * @len: bytes in @buf; a field not wholly inside is left untouched
 */
void hb_qcow2_fields_decode(const HbQcow2FieldDesc *t, size_t n, void *st,
                            const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if ((size_t)t[i].offset + t[i].width <= len) {
            member_set(st, &t[i], hb_qcow2_be_get(buf + t[i].offset, t[i].width));
        }
    }
}

/**
 * hb_qcow2_fields_encode() - write a struct as its on-disk bytes.
 * @t: the layout, as for hb_qcow2_fields_decode()
 * @n: rows in @t
 * @st: the struct
 * @buf: receives the bytes, from offset 0 of the layout
 * @len: bytes in @buf; a field not wholly inside is not written, and
 *       neither are bytes no field covers
 */
void hb_qcow2_fields_encode(const HbQcow2FieldDesc *t, size_t n, const void *st,
                            uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if ((size_t)t[i].offset + t[i].width <= len) {
            hb_qcow2_be_put(buf + t[i].offset, t[i].width, member_get(st, &t[i]));
        }
    }
}

/**
 * hb_qcow2_header_decode() - read header fields from the image's first bytes.
 * @h: receives every field lying wholly within @len; the others keep
 *     their values
 * @buf: the image from offset 0
 * @len: bytes to look at: the version's header length, at most
 *
 * Decoding is not validation: see hb_qcow2_parse_header().
 */
void hb_qcow2_header_decode(HbQcow2Header *h, const uint8_t *buf, size_t len)
{
    hb_qcow2_fields_decode(hb_qcow2_header_fields, QCOW2_FIELD__COUNT, h, buf, len);
}

/**
 * hb_qcow2_header_encode() - write header fields as the image's first bytes.
 * @h: the header
 * @buf: receives every field lying wholly within @len
 * @len: the header length to write (72 for version 2, header_length for 3)
 */
void hb_qcow2_header_encode(const HbQcow2Header *h, uint8_t *buf, size_t len)
{
    hb_qcow2_fields_encode(hb_qcow2_header_fields, QCOW2_FIELD__COUNT, h, buf, len);
}

/**
 * hb_qcow2_header_encode_run() - the bytes of consecutive header fields,
 * for an update in place.
 * @h: holds the values (other members are not looked at)
 * @first: the first field
 * @last: the last field (at or after @first)
 * @buf: receives the bytes of @first..@last; room for
 *       hb_qcow2_field_end(@last) - hb_qcow2_field_offset(@first)
 *
 * Return: the number of bytes, to be written at hb_qcow2_field_offset(@first).
 */
size_t hb_qcow2_header_encode_run(const HbQcow2Header *h, HbQcow2Field first,
                                  HbQcow2Field last, uint8_t *buf)
{
    uint32_t base = hb_qcow2_field_offset(first);

    for (unsigned f = first; f <= last; f++) {
        const HbQcow2FieldDesc *d = &hb_qcow2_header_fields[f];
        hb_qcow2_be_put(buf + d->offset - base, d->width, member_get(h, d));
    }
    return hb_qcow2_field_end(last) - base;
}

/**
 * hb_qcow2_header_set() - set one header field by its table row.
 * @h: the header
 * @f: the field
 * @v: the value, cut to the field's width
 */
void hb_qcow2_header_set(HbQcow2Header *h, HbQcow2Field f, uint64_t v)
{
    member_set(h, &hb_qcow2_header_fields[f], v);
}
