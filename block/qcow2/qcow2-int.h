/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-int.h — internal state of the qcow2 format core, shared by its files. */
#ifndef HB_QCOW2_INT_H
#define HB_QCOW2_INT_H

/*
 * Theory of operation
 *
 * The format core (everything in block/qcow2/ except qcow2-driver.c) knows
 * nothing of nodes: it reads and writes the image file through an
 * HbQcow2Io (a table of callbacks), and reads unallocated clusters from an
 * optional HbQcow2Backing.  The driver points these at its "file" and
 * "backing" children; unit tests, the fuzzer and hotblock-img's check point
 * them at plain file descriptors or memory.
 *
 * Locking: @meta_lock (a mutex) protects every in-memory metadata structure
 * (header copy, L1, reference table, both caches, allocator hint).  The
 * @map_lock rwlock keeps guest→host mappings stable: readers and in-place
 * writers hold it shared across their data I/O, so a discard or an
 * allocating write (which hold it exclusively) cannot repurpose a cluster
 * under them.  Allocation (choosing host clusters, updating L2 entries) is
 * thus serialized; an allocating write drops both locks while it writes its
 * data, and its guest range is then kept from other mapping changes by
 * qcow2-alloc-inflight.c, so two writers never both allocate the same guest
 * cluster.  The L1 and reference tables are
 * replaced (grown) only with both held, since the in-place write path
 * checks them for overlaps under map_lock alone.  The asynchronous fast
 * path (qcow2-fast.c) holds neither lock across its data I/O: slow paths
 * that free host clusters wait for it instead, with no lock held.
 *
 * Crash safety: new data goes to freshly allocated clusters first; refcount
 * increments sit in the refcount cache, L2 updates in the L2 cache.  Before
 * a dirty L2 table is written, the refcount cache is written and flushed
 * (so an L2 entry on disk never points at a cluster whose refcount is not
 * on disk).  New L2 tables and refcount blocks are written and flushed
 * before the L1/reference-table entry pointing at them.  Decrements happen
 * only after the metadata that dropped the reference is durable.  The worst
 * a crash can leave is therefore leaked clusters.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/qcow2/qcow2.h"

#define QCOW2_MAGIC 0x514649fbu  /* "QFI\xfb" */

#define QCOW2_INCOMPAT_DIRTY        (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT      (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2        (1ull << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED      0x7f000000000001ffull
#define QCOW2_L2_RESERVED      0x3f000000000001feull

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
/* Upper bounds on in-memory tables: 32 MiB each, as QEMU's limits. */
#define QCOW2_MAX_L1_BYTES     (32u * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES (8u * 1024 * 1024)
/* Virtual size limit: 2^61 keeps offset arithmetic far from overflow. */
#define QCOW2_MAX_SIZE         (1ull << 61)

/* Where the format core reads and writes the image file. */
typedef struct HbQcow2Io {
    void *opaque;
    int (*preadv)(void *opaque, uint64_t offset, uint64_t bytes,
                  const struct iovec *iov, int niov);
    int (*pwritev)(void *opaque, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov);
    int (*flush)(void *opaque);
    int64_t (*get_length)(void *opaque);
    /* Optional: give freed host clusters back to the file system. */
    int (*pdiscard)(void *opaque, uint64_t offset, uint64_t bytes);
    /*
     * Optional: make [@offset, @offset + @bytes) read as zeroes, growing
     * the file if it ends before, without writing them (fallocate's
     * ZERO_RANGE); -ENOTSUP where the file cannot.
     */
    int (*pzero)(void *opaque, uint64_t offset, uint64_t bytes);
    /*
     * The file's write alignment, a power of two (0: any); a partial
     * cluster write that pzero would leave unaligned writes the cluster
     * whole instead of a read-modify-write.
     */
    uint32_t write_align;
    /*
     * Optional: make the file @length bytes long (never shorter), its new
     * part reserved (falloc), written with zeroes (full) or sparse (off),
     * durable on return; for resize's preallocation.  @errp: the file's
     * error text.
     */
    int (*grow)(void *opaque, uint64_t length, HbQcow2Prealloc mode, GError **errp);
} HbQcow2Io;

/* What unallocated clusters read from; @preadv NULL means "no backing". */
typedef struct HbQcow2Backing {
    void *opaque;
    int (*preadv)(void *opaque, uint64_t offset, uint64_t bytes,
                  const struct iovec *iov, int niov);
    int64_t length;
} HbQcow2Backing;

/*
 * The header as decoded; each member has its on-disk width.  Which byte
 * holds which member is in hb_qcow2_header_fields[] (qcow2-codec.c) only.
 */
typedef struct HbQcow2Header {
    uint32_t magic;
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
} HbQcow2Header;

/*
 * The header's fields in on-disk order: the rows of hb_qcow2_header_fields[],
 * the one table of their offsets and widths (docs/interop/qcow2.txt).
 */
typedef enum HbQcow2Field {
    QCOW2_FIELD_MAGIC,
    QCOW2_FIELD_VERSION,
    QCOW2_FIELD_BACKING_FILE_OFFSET,
    QCOW2_FIELD_BACKING_FILE_SIZE,
    QCOW2_FIELD_CLUSTER_BITS,
    QCOW2_FIELD_SIZE,
    QCOW2_FIELD_CRYPT_METHOD,
    QCOW2_FIELD_L1_SIZE,
    QCOW2_FIELD_L1_TABLE_OFFSET,
    QCOW2_FIELD_REFCOUNT_TABLE_OFFSET,
    QCOW2_FIELD_REFCOUNT_TABLE_CLUSTERS,
    QCOW2_FIELD_NB_SNAPSHOTS,
    QCOW2_FIELD_SNAPSHOTS_OFFSET,         /* the end of a version 2 header */
    QCOW2_FIELD_INCOMPATIBLE_FEATURES,    /* version 3 from here on */
    QCOW2_FIELD_COMPATIBLE_FEATURES,
    QCOW2_FIELD_AUTOCLEAR_FEATURES,
    QCOW2_FIELD_REFCOUNT_ORDER,
    QCOW2_FIELD_HEADER_LENGTH,            /* the end of version 3's fixed part */
    QCOW2_FIELD_COMPRESSION_TYPE,         /* present if header_length covers it */
    QCOW2_FIELD__COUNT
} HbQcow2Field;

/* Where a field lies in its on-disk structure, and which member holds it. */
typedef struct HbQcow2FieldDesc {
    uint16_t offset;   /* bytes from the structure's start */
    uint8_t width;     /* bytes, big-endian: 1, 2, 4 or 8 */
    uint16_t member;   /* offsetof() the host member, of the same width */
} HbQcow2FieldDesc;

extern const HbQcow2FieldDesc hb_qcow2_header_fields[QCOW2_FIELD__COUNT];

/* The byte offset of header field @f. */
static inline uint32_t hb_qcow2_field_offset(HbQcow2Field f)
{
    return hb_qcow2_header_fields[f].offset;
}

/* The byte just past header field @f. */
static inline uint32_t hb_qcow2_field_end(HbQcow2Field f)
{
    return hb_qcow2_header_fields[f].offset + hb_qcow2_header_fields[f].width;
}

/* Header lengths: a version 2 header (72), version 3's fixed part (104). */
#define QCOW2_V2_HEADER_LEN hb_qcow2_field_end(QCOW2_FIELD_SNAPSHOTS_OFFSET)
#define QCOW2_V3_HEADER_LEN hb_qcow2_field_end(QCOW2_FIELD_HEADER_LENGTH)

/* One cached metadata table (an L2 table or a refcount block). */
typedef struct HbQcow2CacheEntry {
    uint64_t offset;      /* host offset; 0 = empty slot */
    uint64_t lru;
    bool dirty;
    void *table;          /* cluster_size bytes */
} HbQcow2CacheEntry;

/*
 * Slots are added as tables are loaded, up to @limit; hb_qcow2_cache_limits()
 * sets the limit from the options and the image's size.
 */
typedef struct HbQcow2Cache {
    HbQcow2CacheEntry *entries;  /* @used slots, each with its table buffer */
    unsigned used;
    unsigned alloc;       /* room in @entries */
    unsigned limit;       /* the most slots; at least 1 */
    uint64_t lru_clock;
    size_t table_size;
    /* Write this cache back (and flush) before writing any of ours. */
    struct HbQcow2Cache *depends;
    bool unflushed;       /* tables written since the last flush */
} HbQcow2Cache;

typedef struct HbQcow2 {
    HbQcow2Io io;
    HbQcow2Backing backing;
    bool read_only;
    bool discard_passthrough;  /* pass-discard-request: punch freed clusters */
    gint pzero_unsupported;    /* io.pzero said -ENOTSUP once (atomic): not asked again */

    HbQcow2Header hdr;
    char *backing_file;     /* from the header, or NULL */
    char *backing_fmt;      /* from the header extension, or NULL */
    uint32_t cluster_size;
    uint64_t cluster_mask;  /* cluster_size - 1 */
    uint32_t l2_bits;       /* log2 entries per L2 table */
    uint32_t l2_size;       /* entries per L2 table */
    uint32_t refcount_bits;
    uint32_t rb_bits;       /* log2 refcounts per refcount block */
    uint64_t refcount_max;

    uint64_t *l1;           /* host byte order */
    uint32_t l1_size;
    uint64_t *reftable;     /* host byte order */
    uint32_t reftable_size; /* entries */
    uint32_t reftable_used; /* 1 + the highest non-zero entry */

    HbQcow2Cache l2_cache;
    HbQcow2Cache rb_cache;
    /* Tables each cache may hold as asked (option or default), before the cap. */
    uint64_t l2_cache_asked;
    uint64_t rb_cache_asked;
    uint64_t free_hint;     /* cluster index to start the allocator at */
    /*
     * Where the next compressed cluster's bytes go (hb_qcow2_alloc_bytes()):
     * inside a host cluster holding compressed data already, or 0 for
     * "start a new one".  Reset when that cluster's refcount drops to 0.
     */
    uint64_t free_byte_offset;

    /*
     * Recently decompressed clusters, keyed by their L2 entry, so that
     * small sequential reads of a compressed image (a cloud base image)
     * inflate each cluster once.  Own lock; dropped when clusters are freed.
     */
    struct {
        uint64_t entry;
        uint64_t lru;
        uint8_t *data;
    } zcache[4];
    uint64_t zclock;
    GMutex zlock;

    /* Metadata found pointing into metadata on a write: set once, atomic. */
    gint corrupt_found;

    /*
     * A sync of the host file failed since open: set once, atomic.  The
     * kernel reports a failed write-back to one fsync only, so a later
     * "successful" one proves nothing: the image is closed marked dirty.
     */
    gint sync_failed;

    GMutex meta_lock;
    GRWLock map_lock;

    /*
     * Allocating writes writing their data with no lock held
     * (qcow2-alloc-inflight.c), and the condition their end signals.
     * Under meta_lock.
     */
    struct HbQcow2AllocRange *allocs;
    GCond alloc_cond;

    /*
     * The fast-path gate (qcow2-fast.c): requests whose data I/O runs
     * asynchronously outside map_lock, and slow paths waiting to free
     * host clusters those requests may still use.  Atomic.
     */
    gint fast_inflight;
    gint fast_fenced;
    guint fast_taken;           /* requests that took the fast path, ever (atomic) */
} HbQcow2;

/* Options of hb_qcow2_open_image(). */
typedef struct HbQcow2OpenOpts {
    bool read_only;
    /*
     * Read-write for hb_qcow2_repair(): the dirty and corrupt bits and a
     * broken reference table are accepted, since the repair is what fixes
     * them.  Nothing else may open an image so.
     */
    bool repair;
    uint64_t l2_cache_size;        /* bytes; 0 = default */
    uint64_t refcount_cache_size;  /* bytes; 0 = default */
} HbQcow2OpenOpts;

/* ---- qcow2-codec.c: big-endian fields; the header's layout ---- */
uint64_t hb_qcow2_be_get(const uint8_t *p, unsigned width);
void hb_qcow2_be_put(uint8_t *p, unsigned width, uint64_t v);
void hb_qcow2_fields_decode(const HbQcow2FieldDesc *t, size_t n, void *st,
                            const uint8_t *buf, size_t len);
void hb_qcow2_fields_encode(const HbQcow2FieldDesc *t, size_t n, const void *st,
                            uint8_t *buf, size_t len);
void hb_qcow2_header_decode(HbQcow2Header *h, const uint8_t *buf, size_t len);
void hb_qcow2_header_encode(const HbQcow2Header *h, uint8_t *buf, size_t len);
size_t hb_qcow2_header_encode_run(const HbQcow2Header *h, HbQcow2Field first,
                                  HbQcow2Field last, uint8_t *buf);
void hb_qcow2_header_set(HbQcow2Header *h, HbQcow2Field f, uint64_t v);

/* ---- qcow2-header.c ---- */
bool hb_qcow2_parse_header(HbQcow2 *s, const uint8_t *buf, size_t len,
                           int64_t file_len, bool read_only, GError **errp);
int hb_qcow2_write_header_fields(HbQcow2 *s, const HbQcow2Header *h,
                                 HbQcow2Field first, HbQcow2Field last);
int hb_qcow2_write_incompat(HbQcow2 *s, uint64_t bits);
int hb_qcow2_set_backing(HbQcow2 *s, const char *file, const char *fmt, GError **errp);
int hb_qcow2_set_header(HbQcow2 *s, const HbQcow2Header *h, GError **errp);

/* ---- qcow2-amend.c ---- */
int hb_qcow2_amend(HbQcow2 *s, const HbQcow2AmendOpts *o, GError **errp);

/* ---- qcow2-image.c ---- */
HbQcow2 *hb_qcow2_open_image(const HbQcow2Io *io, const HbQcow2OpenOpts *o,
                             GError **errp);
int hb_qcow2_close_image(HbQcow2 *s);
void hb_qcow2_settle_close(HbQcow2 *s, int flush_ret);
int hb_qcow2_mark_unclean(HbQcow2 *s);
void hb_qcow2_free_image(HbQcow2 *s);
void hb_qcow2_drop_metadata(HbQcow2 *s);
void hb_qcow2_cache_limits(HbQcow2 *s, uint64_t size);
int hb_qcow2_io_pread(HbQcow2 *s, uint64_t off, void *buf, uint64_t len);
int hb_qcow2_io_pwrite(HbQcow2 *s, uint64_t off, const void *buf, uint64_t len);
int hb_qcow2_io_flush(HbQcow2 *s);

/* ---- qcow2-cache.c (callers hold meta_lock) ---- */
void hb_qcow2_cache_init(HbQcow2Cache *c, unsigned limit, size_t table_size);
void hb_qcow2_cache_set_limit(HbQcow2Cache *c, unsigned limit);
unsigned hb_qcow2_cache_tables(const HbQcow2Cache *c);
unsigned hb_qcow2_cache_limit(const HbQcow2Cache *c);
void hb_qcow2_cache_destroy(HbQcow2Cache *c);
int hb_qcow2_cache_get(HbQcow2 *s, HbQcow2Cache *c, uint64_t offset,
                       bool fresh, void **table);
void hb_qcow2_cache_mark_dirty(HbQcow2Cache *c, void *table);
int hb_qcow2_cache_writeback(HbQcow2 *s, HbQcow2Cache *c);
void hb_qcow2_cache_forget(HbQcow2Cache *c, uint64_t offset);
void *hb_qcow2_cache_peek(HbQcow2Cache *c, uint64_t offset);
int hb_qcow2_flush_metadata(HbQcow2 *s);

/* ---- qcow2-refcount.c (callers hold meta_lock) ---- */
int hb_qcow2_get_refcount(HbQcow2 *s, uint64_t cluster_index, uint64_t *rc);
int hb_qcow2_update_refcount(HbQcow2 *s, uint64_t cluster_index, int delta);
int64_t hb_qcow2_alloc_clusters(HbQcow2 *s, uint64_t max, uint64_t *got);
int64_t hb_qcow2_alloc_contiguous(HbQcow2 *s, uint64_t n);
int64_t hb_qcow2_alloc_bytes(HbQcow2 *s, uint64_t bytes);
int hb_qcow2_free_range(HbQcow2 *s, uint64_t offset, uint64_t bytes);
uint64_t hb_qcow2_rc_get(const HbQcow2 *s, const void *block, uint64_t i);
void hb_qcow2_rc_set(const HbQcow2 *s, void *block, uint64_t i, uint64_t v);

/* ---- qcow2-map.c (callers hold meta_lock) ---- */
int hb_qcow2_get_l2_entry(HbQcow2 *s, uint64_t guest_off, uint64_t *entry);
int hb_qcow2_peek_l2_entry(HbQcow2 *s, uint64_t guest_off, uint64_t *entry);
int hb_qcow2_set_l2_entry(HbQcow2 *s, uint64_t guest_off, uint64_t entry);
int hb_qcow2_own_l2(HbQcow2 *s, uint64_t guest_off);
void hb_qcow2_compressed_loc(const HbQcow2 *s, uint64_t entry,
                             uint64_t *off, uint64_t *len);
int hb_qcow2_compressed_entry(const HbQcow2 *s, uint64_t off, uint64_t len,
                              uint64_t *entry);
bool hb_qcow2_overlaps_metadata(HbQcow2 *s, uint64_t off, uint64_t len);
bool hb_qcow2_overlaps_l2(HbQcow2 *s, uint64_t off, uint64_t len);

/* ---- qcow2-status.c: block status ---- */
typedef enum HbQcow2Kind {
    QCOW2_KIND_UNALLOCATED,  /* left to the backing file */
    QCOW2_KIND_DATA,
    QCOW2_KIND_ZERO,         /* the zero flag (version 3) */
    QCOW2_KIND_COMPRESSED,
} HbQcow2Kind;

int hb_qcow2_block_status(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                          uint64_t *pnum, uint64_t *host);
int hb_qcow2_metadata_preallocated(HbQcow2 *s, int64_t allocated);

/* ---- qcow2-repair.c: check -r all ---- */
int hb_qcow2_rebuild_refcounts(HbQcow2 *s, const uint32_t *refs, uint64_t nb_clusters);

/* ---- qcow2-fast.c: the asynchronous fast path's mapping and gate ---- */

/* A piece of a fast-path request: host bytes, or zeroes (reads only). */
typedef struct HbQcow2Extent {
    uint64_t host;     /* host offset of the data (not for @zero) */
    uint64_t bytes;
    bool zero;         /* reads as zeroes: no I/O */
} HbQcow2Extent;

/* A request needing more pieces than this takes the slow path. */
#define HB_QCOW2_FAST_EXTENTS 16

bool hb_qcow2_fast_enter(HbQcow2 *s);
void hb_qcow2_fast_leave(HbQcow2 *s);
int hb_qcow2_fast_map(HbQcow2 *s, uint64_t offset, uint64_t bytes, bool write,
                      HbQcow2Extent *ext, unsigned *n);
void hb_qcow2_fence_fast(HbQcow2 *s);
void hb_qcow2_unfence_fast(HbQcow2 *s);

/* ---- qcow2-alloc-inflight.c ---- */

/* A guest byte range whose allocating write is in its unlocked phase. */
typedef struct HbQcow2AllocRange {
    uint64_t start, end;
    struct HbQcow2AllocRange *next;
} HbQcow2AllocRange;

void hb_qcow2_allocs_add(HbQcow2 *s, HbQcow2AllocRange *r);
void hb_qcow2_allocs_remove(HbQcow2 *s, HbQcow2AllocRange *r);
bool hb_qcow2_allocs_wait(HbQcow2 *s, uint64_t start, uint64_t end);

/* ---- qcow2-compress.c ---- */
int hb_qcow2_inflate(const void *src, size_t src_len, void *dst, size_t dst_len);
int64_t hb_qcow2_deflate(const void *src, size_t src_len, void *dst, size_t dst_len);

/* ---- qcow2-compress-write.c (takes the locks itself) ---- */
int hb_qcow2_pwrite_compressed(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                               const void *buf);

/* ---- qcow2-io.c: the request paths ---- */
int hb_qcow2_preadv(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int niov);
int hb_qcow2_pwritev(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                     const struct iovec *iov, int niov, bool fua);
int hb_qcow2_pwrite_zeroes(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                           bool may_unmap);
int hb_qcow2_pdiscard(HbQcow2 *s, uint64_t offset, uint64_t bytes);
int hb_qcow2_make_empty(HbQcow2 *s);
int hb_qcow2_flush(HbQcow2 *s);

/* ---- qcow2-resize.c: block_resize (takes the locks itself) ---- */
int hb_qcow2_truncate(HbQcow2 *s, uint64_t size, GError **errp);
int hb_qcow2_truncate_prealloc(HbQcow2 *s, uint64_t size, HbQcow2Prealloc prealloc,
                               GError **errp);

/* ---- fd-backed HbQcow2Io, for tests, tools and the fuzzer ---- */
void hb_qcow2_io_from_fd(HbQcow2Io *io, int *fd);

/*
 * The virtual size.  hb_qcow2_truncate() raises it while requests run, and
 * the node layer checks requests against it without our locks: read it
 * atomically everywhere outside open.
 */
static inline uint64_t hb_qcow2_virtual_size(const HbQcow2 *s)
{
    return __atomic_load_n(&s->hdr.size, __ATOMIC_ACQUIRE);
}

static inline uint64_t hb_qcow2_size_to_clusters(const HbQcow2 *s, uint64_t b)
{
    return (b + s->cluster_mask) >> s->hdr.cluster_bits;
}

#endif
