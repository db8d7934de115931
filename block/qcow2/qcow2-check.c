/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-check.c — metadata consistency check, counted like qemu-img check. */

#include "qcow2.h"
#include "qcow2-int.h"
#include "util/error.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/*
 * Recompute every host cluster's reference count from the metadata that
 * references it (header, L1, reference table, refcount blocks, L2 tables,
 * data clusters) and compare with the stored refcounts: stored higher is a
 * leak, stored lower (or a reference to a cluster outside the file) is a
 * corruption.  Like qemu-img, an OFLAG_COPIED flag disagreeing with a
 * refcount of 1 is a corruption too.
 */

typedef struct Checker {
    HbQcow2 *s;
    HbQcow2CheckResult *res;
    GString *report;
    uint64_t nb_clusters;   /* clusters in the file */
    uint32_t *refs;         /* computed references */
    unsigned fix;           /* HB_QCOW2_FIX_*: what compare() and the OFLAG_COPIED pass repair */
    bool rebuild;           /* a referenced cluster has refcount 0: only a rebuild is safe */
    uint64_t next_contiguous; /* active L2 table: where the next data cluster would follow on */
    const HbQcow2Progress *progress; /* NULL: nobody asked */
    uint64_t progress_base;  /* this pass's share of the run starts here, of PROGRESS_TOTAL */
    uint64_t progress_span;  /* and is this wide */
} Checker;

/* The whole run, in the units told to HbQcow2Progress. */
#define PROGRESS_TOTAL 10000

/* The pass is @done of @total through its share of the run. */
static void tell_progress(const Checker *c, uint64_t done, uint64_t total)
{
    if (c->progress && total) {
        c->progress->fn(c->progress->opaque,
                        c->progress_base + c->progress_span * MIN(done, total) / total,
                        PROGRESS_TOTAL);
    }
}

static void say(Checker *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void say(Checker *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->report) {
        return;
    }
    va_start(ap, fmt);
    g_string_append_vprintf(c->report, fmt, ap);
    va_end(ap);
}

static void add_ref(Checker *c, uint64_t off, uint64_t len)
{
    if (len == 0) {
        return;
    }
    uint64_t first = off >> c->s->hdr.cluster_bits;
    uint64_t last = (off + len - 1) >> c->s->hdr.cluster_bits;

    for (uint64_t i = first; i <= last; i++) {
        if (i >= c->nb_clusters) {
            say(c, "ERROR: invalid cluster offset=0x%" G_GINT64_MODIFIER "x\n",
                (gint64)(i << c->s->hdr.cluster_bits));
            c->res->corruptions++;
            return;
        }
        c->refs[i]++;
    }
}

/*
 * Whether @entry's OFLAG_COPIED agrees with the refcount of the cluster at
 * @off (set exactly when it is 1).  If not, with HB_QCOW2_FIX_ERRORS,
 * *@entry is corrected for the caller to write; else it is a corruption.
 * @what: "L2 cluster: l1_index=N l1_entry" or "data cluster: l2_entry".
 * Return: whether *@entry changed.
 */
static bool check_copied(Checker *c, const char *what, uint64_t *entry, uint64_t off)
{
    uint64_t rc = 0;

    if (hb_qcow2_get_refcount(c->s, off >> c->s->hdr.cluster_bits, &rc) < 0) {
        c->res->check_errors++;
        return false;
    }
    if (((*entry & QCOW2_OFLAG_COPIED) != 0) == (rc == 1)) {
        return false;
    }
    bool fixing = c->fix & HB_QCOW2_FIX_ERRORS;
    say(c, "%s OFLAG_COPIED %s=%" G_GINT64_MODIFIER "x refcount=%" G_GINT64_MODIFIER "u\n",
        fixing ? "Repairing" : "ERROR", what, (gint64)*entry, (guint64)rc);
    if (!fixing) {
        c->res->corruptions++;
        return false;
    }
    *entry = rc == 1 ? *entry | QCOW2_OFLAG_COPIED : *entry & ~QCOW2_OFLAG_COPIED;
    c->res->corruptions_fixed++;
    return true;
}

/* The active L2 table at @l2 (in the file, aligned), OFLAG_COPIED of each data cluster. */
static void copied_in_l2(Checker *c, uint64_t l2, uint64_t *table)
{
    HbQcow2 *s = c->s;
    bool changed = false;

    if (hb_qcow2_io_pread(s, l2, table, s->cluster_size) < 0) {
        c->res->check_errors++;
        return;
    }
    for (uint32_t j = 0; j < s->l2_size; j++) {
        uint64_t e = GUINT64_FROM_BE(table[j]);
        uint64_t off = e & QCOW2_OFFSET_MASK;
        if ((e & QCOW2_OFLAG_COMPRESSED) || !off || (off & s->cluster_mask) ||
            (off >> s->hdr.cluster_bits) >= c->nb_clusters) {
            continue;
        }
        if (check_copied(c, "data cluster: l2_entry", &e, off)) {
            table[j] = GUINT64_TO_BE(e);
            changed = true;
        }
    }
    if (changed && hb_qcow2_io_pwrite(s, l2, table, s->cluster_size) < 0) {
        c->res->check_errors++;
    }
}

/*
 * OFLAG_COPIED on the active L1 and L2 tables, once the refcounts are
 * final (after any repair of them): a flag set on a shared cluster would
 * let a write change a snapshot's data in place, one missing only costs a
 * copy.  Repaired entries are written at once; the caller flushes.
 */
static void check_copied_all(Checker *c)
{
    HbQcow2 *s = c->s;
    g_autofree uint64_t *table = g_malloc(s->cluster_size);

    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2 = s->l1[i] & QCOW2_OFFSET_MASK;
        if (!l2 || (l2 & s->cluster_mask) || (l2 >> s->hdr.cluster_bits) >= c->nb_clusters) {
            continue;
        }
        g_autofree char *what = g_strdup_printf("L2 cluster: l1_index=%u l1_entry", i);
        uint64_t e = s->l1[i];
        if (check_copied(c, what, &e, l2)) {
            uint64_t be = GUINT64_TO_BE(e);
            if (hb_qcow2_io_pwrite(s, s->hdr.l1_table_offset + (uint64_t)i * 8, &be, 8) < 0) {
                c->res->check_errors++;
            } else {
                s->l1[i] = e;
            }
        }
        copied_in_l2(c, l2, table);
    }
}

static void check_l2(Checker *c, uint64_t l1_idx, uint64_t *table, bool active)
{
    HbQcow2 *s = c->s;

    /* QEMU counts fragmentation within each L2 table. */
    c->next_contiguous = 0;

    for (uint32_t j = 0; j < s->l2_size; j++) {
        uint64_t e = GUINT64_FROM_BE(table[j]);
        uint64_t guest = ((l1_idx << s->l2_bits) + j) << s->hdr.cluster_bits;

        if (e == 0) {
            continue;
        }
        if (e & QCOW2_OFLAG_COMPRESSED) {
            uint64_t off, len;
            hb_qcow2_compressed_loc(s, e, &off, &len);
            add_ref(c, off, len);
            if (active && guest < s->hdr.size) {
                /* As QEMU counts them: fragmented by nature (sub-cluster). */
                c->res->allocated_clusters++;
                c->res->compressed_clusters++;
                c->res->fragmented_clusters++;
            }
            continue;
        }
        uint64_t off = e & QCOW2_OFFSET_MASK;
        if (off == 0) {
            continue;
        }
        if (off & s->cluster_mask) {
            say(c, "ERROR offset=%" G_GINT64_MODIFIER "x: Cluster is not properly "
                "aligned; L2 entry corrupted.\n", (gint64)off);
            c->res->corruptions++;
            continue;
        }
        if (active && guest < s->hdr.size) {
            /*
             * Data, or zeroes keeping their host cluster, as QEMU counts
             * them; fragmented: not right after the one before on the host.
             */
            c->res->allocated_clusters++;
            if (c->next_contiguous && off != c->next_contiguous) {
                c->res->fragmented_clusters++;
            }
            c->next_contiguous = off + s->cluster_size;
        }
        add_ref(c, off, s->cluster_size);
    }
}

/*
 * Count the references of one L1 table: its L2 tables and, through them,
 * the data clusters.  Snapshot L1 tables count too (a snapshot holds a
 * reference on each L2 table and data cluster it maps); OFLAG_COPIED is
 * checked on the active table only.
 */
static void walk_l1(Checker *c, const uint64_t *l1, uint32_t l1_size,
                    uint64_t *table, bool active)
{
    HbQcow2 *s = c->s;

    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2 = l1[i] & QCOW2_OFFSET_MASK;
        if (active) {
            tell_progress(c, i, l1_size);
        }
        if (!l2) {
            continue;
        }
        if (l2 & s->cluster_mask) {
            say(c, "ERROR l2_offset=%" G_GINT64_MODIFIER "x: Table is not cluster "
                "aligned; L1 entry corrupted\n", (gint64)l2);
            c->res->corruptions++;
            continue;
        }
        add_ref(c, l2, s->cluster_size);  /* reports one outside the file */
        if ((l2 >> s->hdr.cluster_bits) >= c->nb_clusters) {
            continue;
        }
        if (hb_qcow2_io_pread(s, l2, table, s->cluster_size) < 0) {
            c->res->check_errors++;
            continue;
        }
        check_l2(c, i, table, active);
    }
}

/* The fixed part of a snapshot table entry (docs/interop/qcow2.txt). */
typedef struct SnapshotEntry {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    uint16_t id_str_size;
    uint16_t name_size;
    uint32_t extra_data_size;
} SnapshotEntry;

#define SNAPSHOT_ENTRY_LEN 40

static const HbQcow2FieldDesc snapshot_entry_fields[] = {
    { 0, 8, offsetof(SnapshotEntry, l1_table_offset) },
    { 8, 4, offsetof(SnapshotEntry, l1_size) },
    { 12, 2, offsetof(SnapshotEntry, id_str_size) },
    { 14, 2, offsetof(SnapshotEntry, name_size) },
    { 36, 4, offsetof(SnapshotEntry, extra_data_size) },
};

/* The snapshot table and every snapshot's L1 table. */
static void walk_snapshots(Checker *c, uint64_t *table)
{
    HbQcow2 *s = c->s;
    uint64_t pos = s->hdr.snapshots_offset;

    if (s->hdr.nb_snapshots == 0) {
        return;
    }
    if (pos & s->cluster_mask) {
        say(c, "ERROR snapshot table is not cluster aligned\n");
        c->res->corruptions++;
        return;
    }
    for (uint32_t i = 0; i < s->hdr.nb_snapshots; i++) {
        uint8_t h[SNAPSHOT_ENTRY_LEN];
        SnapshotEntry e;
        if (i >= 65536 || hb_qcow2_io_pread(s, pos, h, sizeof(h)) < 0) {
            c->res->check_errors++;
            return;
        }
        hb_qcow2_fields_decode(snapshot_entry_fields, G_N_ELEMENTS(snapshot_entry_fields),
                               &e, h, sizeof(h));
        uint64_t l1_off = e.l1_table_offset;
        uint32_t l1_size = e.l1_size;
        if ((uint64_t)l1_size * 8 > QCOW2_MAX_L1_BYTES || (l1_off & s->cluster_mask) ||
            e.extra_data_size > 1024) {
            say(c, "ERROR snapshot %u has an invalid L1 table\n", i);
            c->res->corruptions++;
            return;
        }
        add_ref(c, l1_off, (uint64_t)l1_size * 8);
        g_autofree uint64_t *l1 = g_try_new0(uint64_t, MAX(l1_size, 1));
        if (!l1 || (l1_size && hb_qcow2_io_pread(s, l1_off, l1, (uint64_t)l1_size * 8) < 0)) {
            c->res->check_errors++;
            return;
        }
        for (uint32_t k = 0; k < l1_size; k++) {
            l1[k] = GUINT64_FROM_BE(l1[k]);
        }
        walk_l1(c, l1, l1_size, table, false);
        pos += (SNAPSHOT_ENTRY_LEN + (uint64_t)e.extra_data_size + e.id_str_size +
                e.name_size + 7) & ~7ull;
    }
    add_ref(c, s->hdr.snapshots_offset, pos - s->hdr.snapshots_offset);
}

static bool walk(Checker *c)
{
    HbQcow2 *s = c->s;
    g_autofree uint64_t *table = g_malloc(s->cluster_size);

    add_ref(c, 0, s->cluster_size);
    add_ref(c, s->hdr.l1_table_offset, (uint64_t)s->l1_size * 8);
    add_ref(c, s->hdr.refcount_table_offset,
            (uint64_t)s->hdr.refcount_table_clusters << s->hdr.cluster_bits);
    for (uint32_t i = 0; i < s->reftable_size; i++) {
        uint64_t rb = s->reftable[i] & ~511ull;
        if (!rb) {
            continue;
        }
        if (rb & s->cluster_mask) {
            say(c, "ERROR refcount block %u is not cluster aligned; refcount table entry corrupted\n", i);
            c->res->corruptions++;
            continue;
        }
        if ((rb >> s->hdr.cluster_bits) >= c->nb_clusters) {
            say(c, "ERROR refcount block %u is outside image\n", i);
            c->res->corruptions++;
            continue;
        }
        add_ref(c, rb, s->cluster_size);
    }
    walk_l1(c, s->l1, s->l1_size, table, true);
    walk_snapshots(c, table);
    return true;
}

/*
 * One refcount that differs from the references counted.  Stored 0 where
 * something refers to the cluster cannot be fixed in place (the allocator
 * may hand the cluster out meanwhile, or its refcount block is missing):
 * that takes a rebuild.  Otherwise, as @c->fix allows, the stored value is
 * set to the count: lowered for a leak (safe in any order: a crash leaves
 * a leak), raised for a corruption.
 */
static void compare_one(Checker *c, uint64_t i, uint64_t stored, uint64_t computed)
{
    bool fixing = false;

    if (stored == 0) {
        c->rebuild = true;
    } else if (stored > computed) {
        fixing = c->fix & HB_QCOW2_FIX_LEAKS;
    } else {
        fixing = c->fix & HB_QCOW2_FIX_ERRORS;
    }
    say(c, "%s cluster %" G_GINT64_MODIFIER "u refcount=%" G_GINT64_MODIFIER
        "u reference=%" G_GINT64_MODIFIER "u\n",
        fixing ? "Repairing" : stored < computed ? "ERROR" : "Leaked",
        (guint64)i, (guint64)stored, (guint64)computed);
    if (stored > computed) {
        c->res->leaks++;
    } else {
        c->res->corruptions++;
    }
    if (!fixing) {
        return;
    }
    if (hb_qcow2_update_refcount(c->s, i, (int)((int64_t)computed - (int64_t)stored)) < 0) {
        c->res->check_errors++;
    } else if (stored > computed) {
        c->res->leaks_fixed++;
    } else {
        c->res->corruptions_fixed++;
    }
}

static void compare(Checker *c)
{
    HbQcow2 *s = c->s;
    /* Like qemu-img, refcounts past the end of the file are not looked at. */
    uint64_t n = c->nb_clusters;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t stored = 0;
        uint64_t computed = c->refs[i];

        if ((i & ((1ull << s->rb_bits) - 1)) == 0 &&
            (i >> s->rb_bits) < s->reftable_size &&
            (s->reftable[i >> s->rb_bits] & ~511ull) == 0) {
            /* No refcount block: every refcount in its range is 0. */
            uint64_t end = MIN(n, i + (1ull << s->rb_bits));
            for (uint64_t k = i; k < end; k++) {
                if (c->refs[k]) {
                    compare_one(c, k, 0, c->refs[k]);
                }
            }
            i = end - 1;
            continue;
        }
        if (hb_qcow2_get_refcount(s, i, &stored) < 0) {
            c->res->check_errors++;
            continue;
        }
        if (computed || stored) {
            /* qemu-img counts leaked clusters into the image end too */
            c->res->image_end_offset = (i + 1) << s->hdr.cluster_bits;
        }
        if (stored != computed) {
            compare_one(c, i, stored, computed);
        }
    }
}

/* Open @path through a plain fd: read-only, or for repair (HbQcow2OpenOpts.repair). */
static HbQcow2 *open_path(const char *path, bool repair, int *fd, GError **errp)
{
    HbQcow2OpenOpts oo = { .read_only = !repair, .repair = repair };
    HbQcow2Io io;

    *fd = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (*fd < 0) {
        hb_error_set_errno(errp, errno, "Could not open '%s'", path);
        return NULL;
    }
    hb_qcow2_io_from_fd(&io, fd);
    return hb_qcow2_open_image(&io, &oo, errp);
}

/* Count the references of every cluster of @s into a new @c->refs. */
static bool count_refs(Checker *c, GError **errp)
{
    int64_t flen = c->s->io.get_length(c->s->io.opaque);

    c->nb_clusters = flen > 0 ? hb_qcow2_size_to_clusters(c->s, flen) : 0;
    c->refs = g_try_new0(uint32_t, MAX(c->nb_clusters, 1));
    if (!c->refs) {
        hb_error_set(errp, "qcow2: image too large to check");
        return false;
    }
    walk(c);
    return true;
}

/*
 * The refcounts, repaired as @fix allows.  A rebuild, when one is needed
 * and allowed, writes the new structure and reopens the image (in *@sp).
 * Return: false with @errp set when the check cannot go on.
 */
static bool check_refcounts(Checker *c, const char *path, HbQcow2 **sp, int *fd,
                            GError **errp)
{
    HbQcow2CheckResult before = *c->res;
    unsigned fix = c->fix;

    /* Count first; repair in a second pass only what a rebuild does not cover. */
    c->fix = 0;
    compare(c);
    c->fix = fix;
    if (!fix || (!c->res->leaks && !c->res->corruptions)) {
        return true;
    }
    if (c->rebuild && !(fix & HB_QCOW2_FIX_ERRORS)) {
        say(c, "ERROR need to rebuild refcount structures\n");
        c->res->check_errors++;
        hb_error_set(errp, "%s", g_strerror(EIO));
        return false;
    }
    if (c->rebuild) {
        say(c, "Rebuilding refcount structure\n");
        int ret = hb_qcow2_rebuild_refcounts(c->s, c->refs, c->nb_clusters);
        if (ret < 0) {
            hb_error_set(errp, "Could not rebuild the refcount structure: %s", g_strerror(-ret));
            return false;
        }
        c->res->leaks_fixed += c->res->leaks;
        c->res->corruptions_fixed += c->res->corruptions;
        hb_qcow2_free_image(*sp);
        close(*fd);
        *sp = c->s = open_path(path, true, fd, errp);
        return c->s != NULL;
    }
    *c->res = before;
    compare(c);
    int ret = hb_qcow2_flush_metadata(c->s);
    if (ret < 0) {
        hb_error_set(errp, "Could not write the repaired refcounts: %s", g_strerror(-ret));
        return false;
    }
    return true;
}

/*
 * One check of @path (with repairs as @fix allows), counted into @res;
 * @progress is told of it from @base to @base + @span.
 */
static bool check_once(const char *path, unsigned fix, HbQcow2CheckResult *res,
                       GString *report, const HbQcow2Progress *progress,
                       uint64_t base, uint64_t span, GError **errp)
{
    HB_AUTOFD int fd = -1;
    HbQcow2 *s;
    bool ok = false;

    memset(res, 0, sizeof(*res));
    s = open_path(path, fix != 0, &fd, errp);
    if (!s) {
        return false;
    }
    Checker c = { .s = s, .res = res, .report = report, .fix = fix,
                  .progress = progress, .progress_base = base, .progress_span = span };
    if (!count_refs(&c, errp)) {
        goto out;
    }
    res->total_clusters = hb_qcow2_size_to_clusters(s, s->hdr.size);
    if (!check_refcounts(&c, path, &s, &fd, errp)) {
        goto out;
    }
    check_copied_all(&c);
    if (fix && hb_qcow2_io_flush(s) < 0) {
        hb_error_set(errp, "Could not flush the repaired image");
        goto out;
    }
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        say(&c, "ERROR: the image is marked corrupt\n");
        res->corruptions++;
        res->marked_corrupt = true;
    }
    tell_progress(&c, 1, 1);
    ok = true;
out:
    g_free(c.refs);
    hb_qcow2_free_image(s);
    return ok;
}

bool hb_qcow2_check(const char *path, HbQcow2CheckResult *res, GString *report,
                    GError **errp)
{
    return check_once(path, 0, res, report, NULL, 0, PROGRESS_TOTAL, errp);
}

/*
 * The header's dirty and corrupt bits go once a check after the repair
 * finds nothing wrong, as qemu-img check -r clears them.
 */
static bool mark_clean(const char *path, GError **errp)
{
    HB_AUTOFD int fd = -1;
    HbQcow2 *s = open_path(path, true, &fd, errp);

    if (!s) {
        return false;
    }
    uint64_t bits = s->hdr.incompatible_features;
    int ret = 0;
    if (bits & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT)) {
        ret = hb_qcow2_write_incompat(s, bits & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT));
        if (ret == 0) {
            ret = hb_qcow2_io_flush(s);
        }
    }
    hb_qcow2_free_image(s);
    if (ret < 0) {
        hb_error_set(errp, "Could not mark the image clean: %s", g_strerror(-ret));
    }
    return ret == 0;
}

/* hb_qcow2_repair(): the first pass is the first half of the run, the second the rest. */
static bool repair(const char *path, unsigned fix, HbQcow2CheckResult *res,
                   GString *report, const HbQcow2Progress *progress, GError **errp)
{
    HbQcow2CheckResult first;

    if (!check_once(path, fix, &first, report, progress, 0, PROGRESS_TOTAL / 2, errp)) {
        *res = first;
        return false;
    }
    if (!first.leaks_fixed && !first.corruptions_fixed) {
        *res = first;
    } else if (!check_once(path, 0, res, report, progress, PROGRESS_TOTAL / 2,
                           PROGRESS_TOTAL / 2, errp)) {
        return false;
    }
    res->leaks_fixed = first.leaks_fixed;
    res->corruptions_fixed = first.corruptions_fixed;
    if (res->check_errors || res->corruptions > (res->marked_corrupt ? 1 : 0)) {
        return true;
    }
    if (!mark_clean(path, errp)) {
        return false;
    }
    if (res->marked_corrupt) {
        res->corruptions = 0;
        res->corruptions_fixed++;
        res->marked_corrupt = false;
    }
    return true;
}

bool hb_qcow2_repair(const char *path, unsigned fix, HbQcow2CheckResult *res,
                     GString *report, GError **errp)
{
    return repair(path, fix, res, report, NULL, errp);
}

bool hb_qcow2_check_with_progress(const char *path, unsigned fix, HbQcow2CheckResult *res,
                                  GString *report, const HbQcow2Progress *progress,
                                  GError **errp)
{
    bool ok = fix ? repair(path, fix, res, report, progress, errp)
                  : check_once(path, 0, res, report, progress, 0, PROGRESS_TOTAL, errp);

    if (ok && progress) {
        progress->fn(progress->opaque, PROGRESS_TOTAL, PROGRESS_TOTAL);
    }
    return ok;
}
