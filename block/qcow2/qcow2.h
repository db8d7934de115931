/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2.h — the qcow2 driver and its image tools (create, check). */
#ifndef HB_QCOW2_H
#define HB_QCOW2_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Only the driver needs block/node.h (and the generated types); create and
 * check are plain functions usable without them.
 */
typedef struct HbDriver HbDriver;
typedef struct HbNode HbNode;
extern const HbDriver hb_driver_qcow2;

/* What hb_qcow2_check() found, counted as qemu-img check counts. */
typedef struct HbQcow2CheckResult {
    uint64_t corruptions;        /* refcount too low, bad table entries */
    uint64_t leaks;              /* clusters with a refcount nobody uses */
    uint64_t check_errors;       /* I/O errors while checking */
    uint64_t allocated_clusters; /* guest clusters with data */
    uint64_t fragmented_clusters; /* of those, not right after the one before on the host */
    uint64_t compressed_clusters; /* of those, compressed */
    uint64_t total_clusters;     /* guest clusters in the virtual size */
    uint64_t image_end_offset;   /* end of the last used host cluster */
    uint64_t refcount_errors_shown; /* lines written to the report */
    uint64_t leaks_fixed;        /* hb_qcow2_repair(): what it repaired */
    uint64_t corruptions_fixed;
    bool marked_corrupt;         /* the header's corrupt bit (counted as a corruption) */
} HbQcow2CheckResult;

/* What hb_qcow2_repair() may repair: qemu-img check -r leaks, -r all. */
enum {
    HB_QCOW2_FIX_LEAKS = 1u << 0,
    HB_QCOW2_FIX_ERRORS = 1u << 1,
};

/**
 * hb_qcow2_check() - check a qcow2 image file's metadata consistency.
 * @path: image file (opened read-only)
 * @res: counters, filled in
 * @report: if non-NULL, receives qemu-img-like lines ("Leaked cluster 5
 *          refcount=1 reference=0", "ERROR ...")
 * @errp: set when the image could not be checked at all
 *
 * Exit codes as qemu-img check: 0 clean, 2 corruptions, 3 leaks only,
 * 1 check not completed (the function returned false).
 *
 * Return: true when the check ran (look at @res), false with @errp set.
 */
bool hb_qcow2_check(const char *path, HbQcow2CheckResult *res, GString *report,
                    GError **errp);

/**
 * hb_qcow2_repair() - check a qcow2 image file and repair it, as
 * qemu-img check -r does.
 * @path: image file, opened read-write; the caller holds QEMU's write lock
 * @fix: HB_QCOW2_FIX_LEAKS lowers refcounts nothing uses; with
 *       HB_QCOW2_FIX_ERRORS also refcounts set too low are raised, the
 *       whole refcount structure is rebuilt where a used cluster has none
 *       (new tables past the end of the file, switched to by one header
 *       write), and OFLAG_COPIED is set as the refcounts say
 * @res: the counters of a second check after a repair (of the only one if
 *       nothing was repaired), with leaks_fixed and corruptions_fixed
 * @report: as hb_qcow2_check(): both checks' lines, "Repairing ..." for
 *          what was repaired
 * @errp: why the check or repair could not run (a rebuild that -r leaks
 *        may not do is "Input/output error", as in qemu-img)
 *
 * Crash safety: refcounts are only ever lowered for leaks (a crash leaves
 * a leak at worst), raised ones are durable before OFLAG_COPIED is set,
 * and a rebuilt structure is durable before the header points at it.
 * When the second check finds nothing wrong, the header's dirty and
 * corrupt bits are cleared.
 *
 * Return: true when the checks ran (look at @res), false with @errp set.
 */
bool hb_qcow2_repair(const char *path, unsigned fix, HbQcow2CheckResult *res,
                     GString *report, GError **errp);

/* -p: told how far a check or repair got; @done of @total, in any unit. */
typedef struct HbQcow2Progress {
    void (*fn)(void *opaque, uint64_t done, uint64_t total);
    void *opaque;
} HbQcow2Progress;

/**
 * hb_qcow2_check_with_progress() - hb_qcow2_check() (@fix 0) or
 * hb_qcow2_repair() (@fix not 0), telling @progress as it goes.
 * @progress: may be NULL.  Called with the share of the work done: the
 *            active L1 table's entries walked by each check pass (two
 *            when something was repaired), then the end.
 *
 * Return: as hb_qcow2_check() or hb_qcow2_repair().
 */
bool hb_qcow2_check_with_progress(const char *path, unsigned fix, HbQcow2CheckResult *res,
                                  GString *report, const HbQcow2Progress *progress,
                                  GError **errp);

/**
 * hb_qcow2_change_backing() - the header of the qcow2 image file @path
 * names @file (format @fmt, or none) as its backing file, or none when
 * @file is NULL: qemu-img rebase's last step, and all of rebase -u.
 * Nothing but the header cluster is written, in one write, then flushed;
 * the caller holds the image's write lock.
 * Return: true, or false with @errp set (the name does not fit in the
 * header cluster, I/O errors).
 */
bool hb_qcow2_change_backing(const char *path, const char *file, const char *fmt,
                             GError **errp);

/**
 * hb_qcow2_create() - make a new qcow2 image file.
 * @filename: created (an existing file is truncated)
 * @size: virtual size in bytes
 * @opts: -o keys as strings: cluster_size, backing_file, backing_fmt,
 *        compat ("0.10"/"v2" or "1.1"/"v3"), refcount_bits, lazy_refcounts
 *        (sets the compatible bit; hotblock keeps refcounts current anyway),
 *        compression_type=zlib, preallocation (off, metadata, falloc,
 *        full: see hb_qcow2_format()), extended_l2=off;
 *        consumed keys are removed from the table
 * @errp: why it failed; then no file is left behind
 *
 * Return: true on success.
 */
bool hb_qcow2_create(const char *filename, int64_t size, GHashTable *opts,
                     GError **errp);

/* Writes @len bytes at @offset of the image's file: 0 or -errno. */
typedef int (*HbQcow2WriteFn)(void *opaque, uint64_t offset, const void *buf, size_t len);

/* Where hb_qcow2_format() writes a new image's file: the file, an fd or a node. */
typedef struct HbQcow2Sink {
    HbQcow2WriteFn write;
    /* Make the file @len bytes long, new bytes reading as zeroes: 0 or -errno. */
    int (*truncate)(void *opaque, uint64_t len);
    /*
     * Reserve [@offset, @offset + @len) on the storage, reading as zeroes,
     * without writing it (preallocation=falloc): 0 or -errno.
     */
    int (*allocate)(void *opaque, uint64_t offset, uint64_t len);
    /* Make what was written durable: 0 or -errno. */
    int (*flush)(void *opaque);
    void *opaque;
} HbQcow2Sink;

/* preallocation=, in QEMU's PreallocMode order. */
typedef enum HbQcow2Prealloc {
    HB_QCOW2_PREALLOC_OFF,      /* only the header and the empty tables */
    HB_QCOW2_PREALLOC_METADATA, /* every cluster mapped; the data area a hole */
    HB_QCOW2_PREALLOC_FALLOC,   /* metadata, and the data area reserved */
    HB_QCOW2_PREALLOC_FULL,     /* metadata, and zeroes written to the data area */
} HbQcow2Prealloc;

/* A new image's options, typed (blockdev-create's BlockdevCreateOptionsQcow2). */
typedef struct HbQcow2CreateOpts {
    uint64_t cluster_size;      /* a power of two, 512..2M */
    uint64_t refcount_bits;     /* a power of two, 1..64 */
    unsigned version;           /* 2 or 3 */
    bool lazy_refcounts;        /* the compatible bit (v3) */
    const char *backing;        /* backing file name, or NULL */
    const char *backing_fmt;    /* its format, or NULL */
    HbQcow2Prealloc prealloc;   /* not with @backing (QEMU needs extended L2 for that) */
} HbQcow2CreateOpts;

/* The defaults: 64 KiB clusters, 16-bit refcounts, version 3. */
#define HB_QCOW2_CREATE_OPTS_INIT { .cluster_size = 65536, .refcount_bits = 16, .version = 3 }

/**
 * hb_qcow2_format() - write a new, empty qcow2 image through @sink
 * @opts: checked here, with QEMU's texts ("Cluster size must be a power
 *        of two between 512 and 2048k", ...)
 * @size: virtual size in bytes
 * @sink: the image's file, written from offset 0 (its old contents past
 *        the new metadata are not looked at; start from an empty file).
 *        @sink->truncate, ->allocate and ->flush are used only to
 *        preallocate.
 * @errp: why it failed; the file is then garbage, for the caller to remove
 *
 * With preallocation every cluster of @size gets a data cluster (refcount
 * 1, an L2 entry pointing at it): header, reference table, refcount
 * blocks, L1 table, the L2 tables, then the data clusters in guest order
 * (for a small image the layout QEMU writes).  The file is made long
 * enough to hold the last data cluster before anything is written (so a
 * file system that cannot hold it fails first, with QEMU's "The image
 * size is too large for file format 'qcow2'"); falloc then reserves and
 * full writes the first @size bytes of the data area.  Crash safety: the
 * refcounts are durable before any L2 table, the L2 tables before the L1
 * table, and the header, written last, makes the file an image.
 *
 * The shared core of hb_qcow2_create() (hotblock-img create) and
 * blockdev-create (job/create.c, writing through a node).
 */
bool hb_qcow2_format(const HbQcow2CreateOpts *opts, uint64_t size, const HbQcow2Sink *sink,
                     GError **errp);

/* One internal snapshot, as qemu-img snapshot -l lists it. */
typedef struct HbQcow2SnapshotInfo {
    char *id;
    char *name;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    int64_t icount;              /* -1: not recorded */
} HbQcow2SnapshotInfo;

void hb_qcow2_snapshot_info_free(HbQcow2SnapshotInfo *si);

/**
 * hb_qcow2_list_snapshots() - a qcow2 image file's internal snapshots
 * @path: image file (read with plain POSIX I/O, like hb_qcow2_check())
 * @errp: unreadable, not qcow2, or a corrupt table
 *
 * hotblock neither takes nor uses internal snapshots; this only lists
 * what QEMU made, so an operator sees them before converting.
 * Return: a GArray of HbQcow2SnapshotInfo in table order, or NULL.
 */
GArray *hb_qcow2_list_snapshots(const char *path, GError **errp);

/* What qemu-img amend -o changes in a qcow2 image (qcow2-amend.c). */
typedef struct HbQcow2AmendOpts {
    int version;             /* 2 (compat=0.10) or 3 (compat=1.1); 0: as it is */
    int lazy_refcounts;      /* 0 or 1; -1: as it is */
    int refcount_bits;       /* 0: as it is */
} HbQcow2AmendOpts;

struct HbNode;

/**
 * hb_qcow2_node_amend() - hb_qcow2_amend() on the image of qcow2 node @node
 * (opened writable, no request running): its compatibility level, lazy
 * refcounts bit and refcount width, as qemu-img amend changes them.
 * @errp: qemu-img's texts where it has them; "Changing refcount_bits of an
 *        existing image is not supported"; a downgrade that would need
 *        zero clusters written out or snapshot tables rewritten is refused
 * Return: true, or false with @errp set and the image as it was.
 */
bool hb_qcow2_node_amend(struct HbNode *node, const HbQcow2AmendOpts *o, GError **errp);

#endif
