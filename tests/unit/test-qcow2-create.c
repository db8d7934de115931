/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2-create.c — hb_qcow2_format() with preallocation: crash-safe write order, the mapping, errors. */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * A sink that keeps two images: @all has every write, @durable only the
 * writes before the last flush.  A crash may leave any mix of the writes
 * since that flush, so the worst case reads tables from @all and
 * refcounts from @durable.
 */
typedef struct Rec {
    GByteArray *all, *durable;
    unsigned writes, flushes, truncates, allocates;
    uint64_t allocated;       /* bytes asked of allocate() */
    int fail_truncate;        /* -errno for truncate(), or 0 */
    bool checked_any;         /* a crash point found a mapped cluster */
} Rec;

static uint64_t be(const GByteArray *a, uint64_t off, unsigned w)
{
    return off + w <= a->len ? hb_qcow2_be_get(a->data + off, w) : 0;
}

static uint64_t refcount(const GByteArray *img, const GByteArray *layout, uint64_t cluster)
{
    unsigned cbits = (unsigned)be(layout, 20, 4);
    unsigned order = (unsigned)be(layout, 96, 4);
    uint64_t per_block = (8ull << cbits) >> order;
    uint64_t rt = be(layout, 48, 8);
    uint64_t rb = be(img, rt + 8 * (cluster / per_block), 8);
    HbQcow2 geo = { .refcount_bits = 1u << order };

    if (!rb || rb + (1ull << cbits) > img->len) {
        return 0;
    }
    return hb_qcow2_rc_get(&geo, img->data + rb, cluster % per_block);
}

/*
 * The crash-safety promise at this point: every L2 entry a crash could
 * have on disk points at a cluster whose refcount is on disk.  The layout
 * (header) is the final one, recorded in @r->all at the end; see
 * check_all_points().
 */
static void check_crash_point(Rec *r, const GByteArray *layout)
{
    unsigned cbits = (unsigned)be(layout, 20, 4);
    uint64_t cs = 1ull << cbits;
    uint64_t l1 = be(layout, 40, 8), l1_size = be(layout, 36, 4);

    for (uint64_t i = 0; i < l1_size; i++) {
        uint64_t l2 = be(r->all, l1 + 8 * i, 8) & QCOW2_OFFSET_MASK;
        if (!l2) {
            continue;
        }
        g_assert_cmpuint(refcount(r->durable, layout, l2 >> cbits), >, 0);
        for (uint64_t k = 0; k < cs / 8; k++) {
            uint64_t data = be(r->all, l2 + 8 * k, 8) & QCOW2_OFFSET_MASK;
            if (data) {
                g_assert_cmpuint(refcount(r->durable, layout, data >> cbits), ==, 1);
                r->checked_any = true;
            }
        }
    }
}

/* The ops, kept for replay once the final layout is known. */
typedef struct Op {
    char kind;              /* 'w' write, 'f' flush, 't' truncate */
    uint64_t off, len;
    uint8_t *data;
} Op;

static GArray *ops;

static void grow(GByteArray *a, uint64_t len)
{
    if (a->len < len) {
        guint old = a->len;
        g_byte_array_set_size(a, (guint)len);
        memset(a->data + old, 0, len - old);
    }
}

static int rec_write(void *opaque, uint64_t off, const void *buf, size_t len)
{
    Rec *r = opaque;
    Op op = { 'w', off, len, g_memdup2(buf, len) };

    r->writes++;
    grow(r->all, off + len);
    memcpy(r->all->data + off, buf, len);
    g_array_append_val(ops, op);
    return 0;
}

static int rec_truncate(void *opaque, uint64_t len)
{
    Rec *r = opaque;
    Op op = { 't', 0, len, NULL };

    r->truncates++;
    if (r->fail_truncate) {
        return r->fail_truncate;
    }
    grow(r->all, len);
    g_array_append_val(ops, op);
    return 0;
}

static int rec_allocate(void *opaque, uint64_t off, uint64_t len)
{
    Rec *r = opaque;

    r->allocates++;
    r->allocated += len;
    g_assert_cmpuint(off + len, <=, r->all->len);
    return 0;
}

static int rec_flush(void *opaque)
{
    Rec *r = opaque;
    Op op = { 'f', 0, 0, NULL };

    r->flushes++;
    g_array_append_val(ops, op);
    return 0;
}

/* Replay the ops, checking the promise before each flush and at the end. */
static void check_all_points(Rec *r)
{
    g_autoptr(GByteArray) all = g_byte_array_new();
    g_autoptr(GByteArray) durable = g_byte_array_new();
    Rec replay = { .all = all, .durable = durable };

    for (guint i = 0; i < ops->len; i++) {
        Op *op = &g_array_index(ops, Op, i);
        if (op->kind == 'f') {
            check_crash_point(&replay, r->all);
            grow(durable, all->len);
            memcpy(durable->data, all->data, all->len);
        } else {
            grow(all, op->off + op->len);
            if (op->kind == 'w') {
                memcpy(all->data + op->off, op->data, op->len);
            }
        }
    }
    check_crash_point(&replay, r->all);
    g_assert_true(replay.checked_any);
}

static void ops_free(void)
{
    for (guint i = 0; i < ops->len; i++) {
        g_free(g_array_index(ops, Op, i).data);
    }
    g_array_free(ops, TRUE);
}

static bool format(Rec *r, HbQcow2Prealloc mode, uint64_t cs, unsigned rbits, uint64_t size,
                   const char *backing, GError **errp)
{
    HbQcow2CreateOpts o = HB_QCOW2_CREATE_OPTS_INIT;
    HbQcow2Sink sink = { .write = rec_write, .truncate = rec_truncate,
                         .allocate = rec_allocate, .flush = rec_flush, .opaque = r };

    o.cluster_size = cs;
    o.refcount_bits = rbits;
    o.prealloc = mode;
    o.backing = backing;
    r->all = g_byte_array_new();
    r->durable = g_byte_array_new();
    ops = g_array_new(FALSE, TRUE, sizeof(Op));
    return hb_qcow2_format(&o, size, &sink, errp);
}

static void rec_free(Rec *r)
{
    g_byte_array_unref(r->all);
    g_byte_array_unref(r->durable);
    ops_free();
}

static void test_order(gconstpointer data)
{
    static const struct { uint64_t cs; unsigned rbits; uint64_t size; } cases[] = {
        { 65536, 16, 3 * 1024 * 1024 + 512 },
        { 512, 16, 1024 * 1024 },          /* many L2 tables and refcount blocks */
        { 4096, 1, 5 * 1024 * 1024 },      /* 1-bit refcounts */
    };
    HbQcow2Prealloc mode = (HbQcow2Prealloc)GPOINTER_TO_INT(data);

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        Rec r = { 0 };
        g_autoptr(GError) err = NULL;
        uint64_t cs = cases[i].cs, size = cases[i].size;
        uint64_t data_clusters = (size + cs - 1) / cs;

        g_assert_true(format(&r, mode, cs, cases[i].rbits, size, NULL, &err));
        g_assert_no_error(err);
        /* Sized once, first; the layout's clusters all counted. */
        g_assert_cmpuint(r.truncates, ==, 1);
        g_assert_cmpint(g_array_index(ops, Op, 0).kind, ==, 't');
        g_assert_cmpuint(r.all->len % cs, ==, 0);
        g_assert_cmpuint(r.all->len / cs, >, data_clusters);
        g_assert_cmpuint(refcount(r.all, r.all, r.all->len / cs - 1), ==, 1);
        g_assert_cmpuint(refcount(r.all, r.all, r.all->len / cs), ==, 0);
        g_assert_cmpuint(r.allocated, ==, mode == HB_QCOW2_PREALLOC_FALLOC ? size : 0);
        g_assert_cmpuint(r.flushes, ==, 3);
        /* The header is the last write. */
        Op *last = &g_array_index(ops, Op, ops->len - 1);
        g_assert_true(last->kind == 'w' && last->off == 0);
        check_all_points(&r);
        rec_free(&r);
    }
}

static void test_errors(void)
{
    Rec r = { 0 };
    GError *err = NULL;

    /* A backing file: QEMU's text, nothing written. */
    g_assert_false(format(&r, HB_QCOW2_PREALLOC_METADATA, 65536, 16, 1 << 20, "b.qcow2", &err));
    g_assert_cmpstr(err->message, ==, "Backing file and preallocation can only be used at the "
                    "same time if extended_l2 is on");
    g_assert_cmpuint(r.writes + r.truncates, ==, 0);
    g_clear_error(&err);
    rec_free(&r);

    /* A file system that cannot hold the file: QEMU's EFBIG text, nothing written. */
    r = (Rec){ .fail_truncate = -EFBIG };
    g_assert_false(format(&r, HB_QCOW2_PREALLOC_FULL, 65536, 16, 1 << 30, NULL, &err));
    g_assert_cmpstr(err->message, ==, "The image size is too large for file format 'qcow2' "
                    "(try using a larger cluster size)");
    g_assert_cmpuint(r.writes, ==, 0);
    g_clear_error(&err);
    rec_free(&r);

    /*
     * 128 PiB with 2 MiB clusters passes the L1 and reference table limits,
     * but its data would lie past 2^56, where an L2 entry cannot point
     * (bits 56-62 are reserved or flags): refused before anything is done.
     */
    r = (Rec){ .fail_truncate = -ENOSPC };
    g_assert_false(format(&r, HB_QCOW2_PREALLOC_METADATA, 2 << 20, 16, 1ull << 57, NULL, &err));
    g_assert_cmpstr(err->message, ==, "The image size is too large for file format 'qcow2' "
                    "(try using a larger cluster size)");
    g_assert_cmpuint(r.writes + r.truncates, ==, 0);
    g_clear_error(&err);
    rec_free(&r);

    /* off: no truncate, flush or allocate; the tables written in full clusters. */
    r = (Rec){ 0 };
    g_assert_true(format(&r, HB_QCOW2_PREALLOC_OFF, 65536, 16, 1 << 30, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(r.truncates + r.flushes + r.allocates, ==, 0);
    g_assert_cmpuint(r.all->len, ==, 4 * 65536);
    rec_free(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/qcow2-create/order/metadata",
                         GINT_TO_POINTER(HB_QCOW2_PREALLOC_METADATA), test_order);
    g_test_add_data_func("/qcow2-create/order/falloc",
                         GINT_TO_POINTER(HB_QCOW2_PREALLOC_FALLOC), test_order);
    g_test_add_data_func("/qcow2-create/order/full",
                         GINT_TO_POINTER(HB_QCOW2_PREALLOC_FULL), test_order);
    g_test_add_func("/qcow2-create/errors", test_errors);
    return g_test_run();
}
