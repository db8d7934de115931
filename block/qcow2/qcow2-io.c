/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-io.c — qcow2 request paths: read, write (allocating and in place), zeroes, discard, flush. */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * Reads and in-place writes take map_lock shared and meta_lock only for
 * the mapping lookup; their data I/O runs in parallel.  Anything that
 * changes a mapping (allocation, copy-on-write, zeroing, discard) takes
 * map_lock exclusively and meta_lock for its duration.
 */

#define SLICE_MAX 64

/* A sub-range of an iovec; allocates only for unusually fragmented vectors. */
typedef struct IovSlice {
    struct iovec local[SLICE_MAX];
    struct iovec *iov;
    int niov;
} IovSlice;

static void slice_init(IovSlice *sl, const struct iovec *iov, int niov,
                       uint64_t off, uint64_t bytes)
{
    int i = 0, n = 0;

    while (i < niov && off >= iov[i].iov_len) {
        off -= iov[i].iov_len;
        i++;
    }
    sl->iov = niov - i <= SLICE_MAX ? sl->local : g_new(struct iovec, niov - i);
    for (; i < niov && bytes; i++) {
        uint64_t len = MIN(iov[i].iov_len - off, bytes);
        sl->iov[n].iov_base = (uint8_t *)iov[i].iov_base + off;
        sl->iov[n].iov_len = len;
        bytes -= len;
        off = 0;
        n++;
    }
    sl->niov = n;
}

static void slice_free(IovSlice *sl)
{
    if (sl->iov != sl->local) {
        g_free(sl->iov);
    }
}

static void iov_copy(const struct iovec *iov, int niov, uint64_t off,
                     uint8_t *buf, uint64_t bytes, bool to_iov)
{
    for (int i = 0; i < niov && bytes; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        uint64_t len = MIN(iov[i].iov_len - off, bytes);
        uint8_t *p = (uint8_t *)iov[i].iov_base + off;
        if (to_iov) {
            memcpy(p, buf, len);
        } else {
            memcpy(buf, p, len);
        }
        buf += len;
        bytes -= len;
        off = 0;
    }
}

static void iov_zero(const struct iovec *iov, int niov, uint64_t off, uint64_t bytes)
{
    for (int i = 0; i < niov && bytes; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        uint64_t len = MIN(iov[i].iov_len - off, bytes);
        memset((uint8_t *)iov[i].iov_base + off, 0, len);
        bytes -= len;
        off = 0;
    }
}

static bool entry_is_zero(const HbQcow2 *s, uint64_t e)
{
    return !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_ZERO) &&
           s->hdr.version >= 3;
}

/* Whether the chunk's entry needs a fresh cluster with no copy-on-write. */
static bool entry_is_unallocated(const HbQcow2 *s, uint64_t e)
{
    return !(e & QCOW2_OFLAG_COMPRESSED) && !(e & QCOW2_OFFSET_MASK);
}

/* A data cluster we may overwrite in place. */
static bool entry_is_owned_data(const HbQcow2 *s, uint64_t e)
{
    return (e & QCOW2_OFLAG_COPIED) && !(e & QCOW2_OFLAG_COMPRESSED) &&
           !entry_is_zero(s, e) && (e & QCOW2_OFFSET_MASK);
}

/* Read [@off, @off + @bytes) of the backing node, zeroes past its end. */
static int read_backing(HbQcow2 *s, uint64_t off, uint64_t bytes,
                        const struct iovec *iov, int niov, uint64_t iov_off)
{
    uint64_t avail = 0;
    int ret = 0;

    if (s->backing.preadv && off < (uint64_t)MAX(s->backing.length, 0)) {
        avail = MIN(bytes, (uint64_t)s->backing.length - off);
        IovSlice sl;
        slice_init(&sl, iov, niov, iov_off, avail);
        ret = s->backing.preadv(s->backing.opaque, off, avail, sl.iov, sl.niov);
        slice_free(&sl);
    }
    iov_zero(iov, niov, iov_off + avail, bytes - avail);
    return ret;
}

static int read_compressed(HbQcow2 *s, uint64_t entry, uint8_t *cluster)
{
    uint64_t off, len;
    int64_t flen = s->io.get_length(s->io.opaque);

    hb_qcow2_compressed_loc(s, entry, &off, &len);
    if (flen < 0) {
        return (int)flen;
    }
    if (off >= (uint64_t)flen) {
        return -EIO;
    }
    len = MIN(len, (uint64_t)flen - off);
    g_autofree uint8_t *cbuf = g_try_malloc(len);
    if (!cbuf) {
        return -ENOMEM;
    }
    int ret = hb_qcow2_io_pread(s, off, cbuf, len);
    if (ret < 0) {
        return ret;
    }
    return hb_qcow2_inflate(cbuf, len, cluster, s->cluster_size);
}

static bool zcache_read(HbQcow2 *s, uint64_t entry, uint64_t in_cluster,
                        uint64_t bytes, const struct iovec *iov, int niov,
                        uint64_t iov_off)
{
    bool hit = false;

    g_mutex_lock(&s->zlock);
    for (unsigned i = 0; i < G_N_ELEMENTS(s->zcache); i++) {
        if (s->zcache[i].data && s->zcache[i].entry == entry) {
            iov_copy(iov, niov, iov_off, s->zcache[i].data + in_cluster, bytes, true);
            s->zcache[i].lru = ++s->zclock;
            hit = true;
            break;
        }
    }
    g_mutex_unlock(&s->zlock);
    return hit;
}

/* Keep @data (takes ownership) as the inflated contents of @entry. */
static void zcache_insert(HbQcow2 *s, uint64_t entry, uint8_t *data)
{
    unsigned victim = 0;

    g_mutex_lock(&s->zlock);
    for (unsigned i = 0; i < G_N_ELEMENTS(s->zcache); i++) {
        if (!s->zcache[i].data || s->zcache[i].entry == entry) {
            victim = i;
            break;
        }
        if (s->zcache[i].lru < s->zcache[victim].lru) {
            victim = i;
        }
    }
    g_free(s->zcache[victim].data);
    s->zcache[victim].entry = entry;
    s->zcache[victim].data = data;
    s->zcache[victim].lru = ++s->zclock;
    g_mutex_unlock(&s->zlock);
}

/* Host clusters were freed: a compressed entry could one day reappear there. */
static void zcache_drop(HbQcow2 *s)
{
    g_mutex_lock(&s->zlock);
    for (unsigned i = 0; i < G_N_ELEMENTS(s->zcache); i++) {
        g_clear_pointer(&s->zcache[i].data, g_free);
    }
    g_mutex_unlock(&s->zlock);
}

/*
 * Fill @bytes of @iov at @iov_off with guest data at @guest_off, all in
 * one cluster mapped by @entry.
 */
static int read_cluster_part(HbQcow2 *s, uint64_t entry, uint64_t guest_off,
                             uint64_t bytes, const struct iovec *iov, int niov,
                             uint64_t iov_off)
{
    uint64_t in_cluster = guest_off & s->cluster_mask;

    if (entry & QCOW2_OFLAG_COMPRESSED) {
        if (zcache_read(s, entry, in_cluster, bytes, iov, niov, iov_off)) {
            return 0;
        }
        uint8_t *cl = g_try_malloc(s->cluster_size);
        if (!cl) {
            return -ENOMEM;
        }
        int ret = read_compressed(s, entry, cl);
        if (ret == 0) {
            iov_copy(iov, niov, iov_off, cl + in_cluster, bytes, true);
            zcache_insert(s, entry, cl);
        } else {
            g_free(cl);
        }
        return ret;
    }
    if (entry_is_zero(s, entry)) {
        iov_zero(iov, niov, iov_off, bytes);
        return 0;
    }
    uint64_t host = entry & QCOW2_OFFSET_MASK;
    if (host == 0) {
        return read_backing(s, guest_off, bytes, iov, niov, iov_off);
    }
    if (host & s->cluster_mask) {
        return -EIO;
    }
    IovSlice sl;
    slice_init(&sl, iov, niov, iov_off, bytes);
    int ret = s->io.preadv(s->io.opaque, host + in_cluster, bytes, sl.iov, sl.niov);
    slice_free(&sl);
    return ret;
}

/**
 * hb_qcow2_preadv() - read guest data.
 * Return: 0 or -errno.
 */
int hb_qcow2_preadv(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int niov)
{
    uint64_t pos = 0;
    int ret = 0;

    g_rw_lock_reader_lock(&s->map_lock);
    while (pos < bytes && ret == 0) {
        uint64_t off = offset + pos;
        uint64_t n = MIN(bytes - pos, s->cluster_size - (off & s->cluster_mask));
        uint64_t entry;

        g_mutex_lock(&s->meta_lock);
        ret = hb_qcow2_get_l2_entry(s, off, &entry);
        /* Merge host-contiguous data clusters into one request. */
        while (ret == 0 && pos + n < bytes && !(entry & QCOW2_OFLAG_COMPRESSED) &&
               !entry_is_zero(s, entry) && (entry & QCOW2_OFFSET_MASK)) {
            uint64_t next;
            uint64_t want = (entry & QCOW2_OFFSET_MASK) +
                            (((off & s->cluster_mask) + n + s->cluster_mask) &
                             ~s->cluster_mask);
            if (hb_qcow2_get_l2_entry(s, off + n, &next) < 0 ||
                (next & QCOW2_OFLAG_COMPRESSED) || entry_is_zero(s, next) ||
                (next & QCOW2_OFFSET_MASK) != want) {
                break;
            }
            n += MIN(bytes - pos - n, s->cluster_size);
        }
        g_mutex_unlock(&s->meta_lock);
        if (ret == 0) {
            ret = read_cluster_part(s, entry, off, n, iov, niov, pos);
        }
        pos += n;
    }
    g_rw_lock_reader_unlock(&s->map_lock);
    return ret;
}

/*
 * A write was about to land on metadata: the image is corrupt.  Like
 * QEMU, stop writing to it and set the corrupt bit in the header (at the
 * next point where meta_lock is held: the end of this request or flush),
 * so that it opens read-only until repaired.
 */
static int found_corruption(HbQcow2 *s)
{
    g_atomic_int_set(&s->corrupt_found, 1);
    return -EIO;
}

/* With meta_lock held: persist the corrupt bit once. */
static void mark_corrupt(HbQcow2 *s)
{
    if (g_atomic_int_get(&s->corrupt_found) == 1 &&
        !(s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        g_atomic_int_set(&s->corrupt_found, 2);
        if (hb_qcow2_write_incompat(s, s->hdr.incompatible_features |
                                           QCOW2_INCOMPAT_CORRUPT) == 0) {
            hb_qcow2_io_flush(s);
        }
    }
}

/* Write @bytes of @iov from @iov_off to the file at @host. */
static int pwrite_slice(HbQcow2 *s, uint64_t host, uint64_t bytes,
                        const struct iovec *iov, int niov, uint64_t iov_off)
{
    IovSlice sl;
    slice_init(&sl, iov, niov, iov_off, bytes);
    int ret = s->io.pwritev(s->io.opaque, host, bytes, sl.iov, sl.niov);
    slice_free(&sl);
    return ret;
}

/* Write to an owned data cluster (run), after checking it is not metadata. */
static int write_in_place(HbQcow2 *s, uint64_t host, uint64_t bytes,
                          const struct iovec *iov, int niov, uint64_t iov_off)
{
    if (hb_qcow2_overlaps_metadata(s, host, bytes) ||
        hb_qcow2_overlaps_l2(s, host, bytes)) {
        return found_corruption(s);
    }
    return pwrite_slice(s, host, bytes, iov, niov, iov_off);
}

/* Host bytes an entry holds that become free when it is replaced. */
static void entry_host_range(HbQcow2 *s, uint64_t e, uint64_t *off, uint64_t *len)
{
    *off = *len = 0;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        hb_qcow2_compressed_loc(s, e, off, len);
    } else if (e & QCOW2_OFFSET_MASK) {
        *off = e & QCOW2_OFFSET_MASK;
        *len = s->cluster_size;
    }
}

/* Whether a cluster mapped by @entry reads as zeroes without reading anything. */
static bool cow_source_is_zero(const HbQcow2 *s, uint64_t entry)
{
    return entry_is_zero(s, entry) ||
           (entry_is_unallocated(s, entry) && !s->backing.preadv);
}

/* Fill a whole cluster buffer with the current guest contents (for COW). */
static int read_cow_source(HbQcow2 *s, uint64_t entry, uint64_t guest_cluster,
                           uint8_t *buf)
{
    struct iovec iov = { .iov_base = buf, .iov_len = s->cluster_size };

    return read_cluster_part(s, entry, guest_cluster, s->cluster_size, &iov, 1, 0);
}

/*
 * The unlocked phase of an allocating write: put the chunk's data, with
 * the old contents around it where it covers a cluster in part, into the
 * new host clusters at @host.
 */
static int write_new_clusters(HbQcow2 *s, int64_t host, uint64_t off, uint64_t n,
                              uint64_t nclusters, uint64_t entry,
                              const struct iovec *iov, int niov, uint64_t iov_off)
{
    uint64_t gcl = off & ~s->cluster_mask;
    uint64_t in_cluster = off - gcl;
    int ret;

    if (in_cluster == 0 && n == nclusters * s->cluster_size) {
        return pwrite_slice(s, host, n, iov, niov, iov_off);
    }
    uint32_t align = MAX(s->io.write_align, 1);
    if (cow_source_is_zero(s, entry) && s->io.pzero &&
        !g_atomic_int_get(&s->pzero_unsupported) && in_cluster % align == 0 && n % align == 0) {
        /*
         * Zero the cluster as the file system does it, then write only the
         * guest's bytes: the cluster is usually past the end of the file,
         * and a write that grows the file waits for the disk while holding
         * the file's lock (ext4 with O_DIRECT), so whole-cluster writes of
         * concurrent allocations queued one behind the other.  QEMU's
         * qcow2 does the same (handle_alloc_space).
         */
        ret = s->io.pzero(s->io.opaque, host, s->cluster_size);
        if (ret == 0) {
            return pwrite_slice(s, host + in_cluster, n, iov, niov, iov_off);
        }
        if (ret != -ENOTSUP) {
            return ret;
        }
        g_atomic_int_set(&s->pzero_unsupported, 1);    /* tmpfs, a device, old NFS */
    }
    g_autofree uint8_t *buf = g_try_malloc(s->cluster_size);
    if (!buf) {
        return -ENOMEM;
    }
    ret = read_cow_source(s, entry, gcl, buf);
    if (ret == 0) {
        iov_copy(iov, niov, iov_off, buf + in_cluster, n, false);
        ret = hb_qcow2_io_pwrite(s, host, buf, s->cluster_size);
    }
    return ret;
}

/*
 * Allocating write of the chunk [@off, @off + @n) (one cluster, or a run
 * of whole unallocated clusters, of which a prefix may be done if the
 * free host run found is shorter).  Called with map_lock exclusive and
 * meta_lock held, and no allocation in flight over the chunk; returns with
 * them held, but drops both while it writes the data (see
 * qcow2-alloc-inflight.c).  *@freed collects host ranges to release once
 * the new mappings are durable.
 *
 * Return: bytes done (> 0), or -errno.
 */
static int64_t write_allocating(HbQcow2 *s, uint64_t off, uint64_t n, uint64_t entry,
                            const struct iovec *iov, int niov, uint64_t iov_off,
                            GArray *freed)
{
    uint64_t gcl = off & ~s->cluster_mask;
    uint64_t in_cluster = off - gcl;
    uint64_t nclusters = hb_qcow2_size_to_clusters(s, in_cluster + n);
    bool reuse = entry_is_zero(s, entry) && (entry & QCOW2_OFLAG_COPIED) &&
                 (entry & QCOW2_OFFSET_MASK) && nclusters == 1;
    int64_t host;
    int ret;

    if (reuse) {
        host = entry & QCOW2_OFFSET_MASK;
        if ((host & s->cluster_mask) || hb_qcow2_overlaps_metadata(s, host, 0) ||
            hb_qcow2_overlaps_l2(s, host, s->cluster_size)) {
            return found_corruption(s);
        }
    } else {
        uint64_t got;
        host = hb_qcow2_alloc_clusters(s, nclusters, &got);
        if (host < 0) {
            return (int)host;
        }
        if (got < nclusters) {
            /* Only whole-cluster runs ask for more than one. */
            nclusters = got;
            n = got * s->cluster_size;
        }
    }

    /*
     * The new clusters are referenced by nothing but this request, and the
     * old mappings cannot change while the range is in flight: the data
     * needs no lock.
     */
    HbQcow2AllocRange inflight = { .start = gcl, .end = gcl + nclusters * s->cluster_size };
    hb_qcow2_allocs_add(s, &inflight);
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_writer_unlock(&s->map_lock);
    ret = write_new_clusters(s, host, off, n, nclusters, entry, iov, niov, iov_off);
    g_rw_lock_writer_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    hb_qcow2_allocs_remove(s, &inflight);
    if (ret < 0) {
        /* Nothing maps the new clusters yet: give them back rather than leak them. */
        if (!reuse) {
            hb_qcow2_free_range(s, (uint64_t)host, nclusters * s->cluster_size);
        }
        return ret;
    }
    for (uint64_t i = 0; i < nclusters; i++) {
        uint64_t old = entry;
        if (i > 0) {
            ret = hb_qcow2_get_l2_entry(s, gcl + i * s->cluster_size, &old);
            if (ret < 0) {
                return ret;
            }
        }
        if (!reuse) {
            uint64_t range[2];
            entry_host_range(s, old, &range[0], &range[1]);
            if (range[1]) {
                g_array_append_vals(freed, range, 2);
            }
        }
        ret = hb_qcow2_set_l2_entry(s, gcl + i * s->cluster_size,
                                    ((uint64_t)host + i * s->cluster_size) |
                                    QCOW2_OFLAG_COPIED);
        if (ret < 0) {
            return ret;
        }
    }
    return (int64_t)n;
}

/*
 * With pass-discard-request, punch the host clusters of @freed whose
 * refcount dropped to 0 (a compressed cluster's host cluster may still be
 * shared).  Best effort: a file that cannot discard keeps the space.
 */
static void discard_free_clusters(HbQcow2 *s, GArray *freed)
{
    for (guint i = 0; i + 1 < freed->len; i += 2) {
        uint64_t off = g_array_index(freed, uint64_t, i);
        uint64_t len = g_array_index(freed, uint64_t, i + 1);
        uint64_t first = off >> s->hdr.cluster_bits;
        uint64_t last = (off + len - 1) >> s->hdr.cluster_bits;

        for (uint64_t c = first; c <= last; c++) {
            uint64_t rc;
            if (hb_qcow2_get_refcount(s, c, &rc) == 0 && rc == 0) {
                s->io.pdiscard(s->io.opaque, c << s->hdr.cluster_bits, s->cluster_size);
            }
        }
    }
}

/*
 * With both locks held, after the mappings naming @freed were changed:
 * make that durable before the host ranges are released (release_freed()).
 */
static int prepare_release(HbQcow2 *s, GArray *freed)
{
    if (freed->len == 0) {
        return 0;
    }
    zcache_drop(s);
    return hb_qcow2_flush_metadata(s);
}

/*
 * With no lock held, after prepare_release(): release the host ranges
 * whose references were dropped.  Fast-path I/O (qcow2-fast.c) that
 * looked up the old mappings may still be running on them; it is waited
 * out first, without our locks, so that an I/O thread is never held up
 * behind the wait.  Until then the ranges keep their references (a crash
 * leaks them), so nothing can allocate them again.
 */
static int release_freed(HbQcow2 *s, GArray *freed)
{
    int ret = 0;

    if (freed->len == 0) {
        return 0;
    }
    hb_qcow2_fence_fast(s);
    g_mutex_lock(&s->meta_lock);
    for (guint i = 0; ret == 0 && i + 1 < freed->len; i += 2) {
        ret = hb_qcow2_free_range(s, g_array_index(freed, uint64_t, i),
                                  g_array_index(freed, uint64_t, i + 1));
    }
    if (ret == 0 && s->discard_passthrough && s->io.pdiscard) {
        discard_free_clusters(s, freed);
    }
    g_mutex_unlock(&s->meta_lock);
    hb_qcow2_unfence_fast(s);
    g_array_set_size(freed, 0);
    return ret;
}

static int write_slow(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                      const struct iovec *iov, int niov, uint64_t pos)
{
    g_autoptr(GArray) freed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    int ret = 0;

    g_rw_lock_writer_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    while (pos < bytes && ret == 0) {
        uint64_t off = offset + pos;
        uint64_t n = MIN(bytes - pos, s->cluster_size - (off & s->cluster_mask));
        uint64_t entry;

        ret = hb_qcow2_get_l2_entry(s, off, &entry);
        if (ret < 0) {
            break;
        }
        if (entry_is_owned_data(s, entry)) {
            if (entry & s->cluster_mask & QCOW2_OFFSET_MASK) {
                ret = -EIO;
                break;
            }
            ret = write_in_place(s, (entry & QCOW2_OFFSET_MASK) +
                                 (off & s->cluster_mask), n, iov, niov, pos);
        } else {
            /* Extend a run of whole clusters that need no copy-on-write. */
            if ((off & s->cluster_mask) == 0 && n == s->cluster_size &&
                entry_is_unallocated(s, entry)) {
                uint64_t next;
                while (pos + n + s->cluster_size <= bytes && n < (64ull << 20) &&
                       hb_qcow2_get_l2_entry(s, off + n, &next) == 0 &&
                       entry_is_unallocated(s, next) &&
                       (next & QCOW2_OFLAG_ZERO) == (entry & QCOW2_OFLAG_ZERO)) {
                    n += s->cluster_size;
                }
            }
            uint64_t gcl = off & ~s->cluster_mask;
            if (hb_qcow2_allocs_wait(s, gcl, (off + n + s->cluster_mask) & ~s->cluster_mask)) {
                continue;   /* another write allocated there meanwhile: look again */
            }
            int64_t done = write_allocating(s, off, n, entry, iov, niov, pos, freed);
            ret = done < 0 ? (int)done : 0;
            n = done < 0 ? n : (uint64_t)done;
        }
        pos += n;
    }
    if (ret == 0) {
        ret = prepare_release(s, freed);
    }
    mark_corrupt(s);
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_writer_unlock(&s->map_lock);
    return ret == 0 ? release_freed(s, freed) : ret;
}

/**
 * hb_qcow2_pwritev() - write guest data, allocating clusters as needed.
 * @fua: make the data and its metadata durable before returning
 * Return: 0 or -errno.
 */
int hb_qcow2_pwritev(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                     const struct iovec *iov, int niov, bool fua)
{
    uint64_t pos = 0;
    int ret = 0;

    if (s->read_only) {
        return -EROFS;
    }
    if (g_atomic_int_get(&s->corrupt_found)) {
        return -EIO;
    }
    g_rw_lock_reader_lock(&s->map_lock);
    while (pos < bytes && ret == 0) {
        uint64_t off = offset + pos;
        uint64_t n = MIN(bytes - pos, s->cluster_size - (off & s->cluster_mask));
        uint64_t entry;

        g_mutex_lock(&s->meta_lock);
        ret = hb_qcow2_get_l2_entry(s, off, &entry);
        g_mutex_unlock(&s->meta_lock);
        if (ret < 0 || !entry_is_owned_data(s, entry)) {
            break;
        }
        if (entry & QCOW2_OFFSET_MASK & s->cluster_mask) {
            ret = -EIO;
            break;
        }
        ret = write_in_place(s, (entry & QCOW2_OFFSET_MASK) + (off & s->cluster_mask),
                             n, iov, niov, pos);
        pos += n;
    }
    g_rw_lock_reader_unlock(&s->map_lock);
    if (ret == 0 && pos < bytes) {
        ret = write_slow(s, offset, bytes, iov, niov, pos);
    } else if (ret < 0 && g_atomic_int_get(&s->corrupt_found) == 1) {
        g_mutex_lock(&s->meta_lock);
        mark_corrupt(s);
        g_mutex_unlock(&s->meta_lock);
    }
    if (ret == 0 && fua) {
        ret = hb_qcow2_flush(s);
    }
    return ret;
}

/*
 * Change the mapping of every whole cluster in [@offset, @offset + @bytes):
 * @zero: make it read as zeroes (else: discard), @unmap: release its host
 * cluster, @to_backing (with neither zero nor a v2 no-op): leave it to the
 * backing file, whatever that reads.  Partial clusters are left to the
 * caller.
 */
static int remap_clusters(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                          bool zero, bool unmap, bool to_backing)
{
    g_autoptr(GArray) freed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    uint64_t start = (offset + s->cluster_mask) & ~s->cluster_mask;
    uint64_t end = (offset + bytes) & ~s->cluster_mask;
    bool has_backing = s->backing.preadv != NULL;
    int ret = 0;

    if (offset + bytes == hb_qcow2_virtual_size(s)) {
        end = (offset + bytes + s->cluster_mask) & ~s->cluster_mask;
    }
    if (g_atomic_int_get(&s->corrupt_found)) {
        return -EIO;
    }
    g_rw_lock_writer_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    /* Held from here to the end: no allocation can start over the range. */
    hb_qcow2_allocs_wait(s, start, end);
    for (uint64_t off = start; off < end && ret == 0; off += s->cluster_size) {
        uint64_t entry, nentry, range[2];

        ret = hb_qcow2_get_l2_entry(s, off, &entry);
        if (ret < 0) {
            break;
        }
        entry_host_range(s, entry, &range[0], &range[1]);
        if (!zero && !to_backing && s->hdr.version < 3 && has_backing) {
            continue;  /* v2 cannot hide backing data: discard is a no-op */
        }
        if (zero && entry_is_owned_data(s, entry) && !unmap) {
            nentry = (entry & QCOW2_OFFSET_MASK) | QCOW2_OFLAG_COPIED | QCOW2_OFLAG_ZERO;
            range[1] = 0;
        } else if (zero && entry_is_zero(s, entry) && !unmap) {
            continue;
        } else {
            nentry = !to_backing && (has_backing || zero) ? QCOW2_OFLAG_ZERO : 0;
        }
        if (nentry == entry) {
            continue;
        }
        ret = hb_qcow2_set_l2_entry(s, off, nentry);
        if (ret == 0 && range[1]) {
            g_array_append_vals(freed, range, 2);
        }
    }
    if (ret == 0) {
        ret = prepare_release(s, freed);
    }
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_writer_unlock(&s->map_lock);
    return ret == 0 ? release_freed(s, freed) : ret;
}

/* Whether the cluster at @offset already reads as zeroes (so zeroing part of it is a no-op). */
static bool cluster_reads_zero(HbQcow2 *s, uint64_t offset)
{
    uint64_t entry;
    bool zero = false;

    g_mutex_lock(&s->meta_lock);
    if (hb_qcow2_get_l2_entry(s, offset, &entry) == 0) {
        zero = entry_is_zero(s, entry) ||
               (entry_is_unallocated(s, entry) &&
                (!s->backing.preadv ||
                 (offset & ~s->cluster_mask) >= (uint64_t)MAX(s->backing.length, 0)));
    }
    g_mutex_unlock(&s->meta_lock);
    return zero;
}

static int write_zero_buffer(HbQcow2 *s, uint64_t offset, uint64_t bytes)
{
    g_autofree uint8_t *z = NULL;
    int ret = 0;

    if (bytes == 0) {
        return 0;
    }
    if (bytes <= s->cluster_size - (offset & s->cluster_mask) &&
        cluster_reads_zero(s, offset)) {
        return 0;
    }
    z = g_try_malloc0(MIN(bytes, 1u << 20));
    if (!z) {
        return -ENOMEM;
    }
    while (bytes && ret == 0) {
        uint64_t n = MIN(bytes, 1u << 20);
        struct iovec iov = { .iov_base = z, .iov_len = n };
        ret = hb_qcow2_pwritev(s, offset, n, &iov, 1, false);
        offset += n;
        bytes -= n;
    }
    return ret;
}

/**
 * hb_qcow2_pwrite_zeroes() - make a range read as zeroes.  Whole clusters
 * get the zero flag (v3), keeping their host cluster unless @may_unmap;
 * partial clusters (and v2 images) are written with zero buffers.
 * Return: 0 or -errno.
 */
int hb_qcow2_pwrite_zeroes(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                           bool may_unmap)
{
    uint64_t start = (offset + s->cluster_mask) & ~s->cluster_mask;
    uint64_t end = (offset + bytes) & ~s->cluster_mask;
    int ret;

    if (s->read_only) {
        return -EROFS;
    }
    if (offset + bytes == hb_qcow2_virtual_size(s)) {
        end = (offset + bytes + s->cluster_mask) & ~s->cluster_mask;
    }
    if (s->hdr.version < 3 || start >= end) {
        return write_zero_buffer(s, offset, bytes);
    }
    ret = write_zero_buffer(s, offset, start - offset);
    if (ret == 0) {
        ret = remap_clusters(s, start, end - start, true, may_unmap, false);
    }
    if (ret == 0 && end < offset + bytes) {
        ret = write_zero_buffer(s, end, offset + bytes - end);
    }
    return ret;
}

/**
 * hb_qcow2_pdiscard() - drop whole clusters of the range; they read as
 * zeroes afterwards (partial clusters are left untouched).
 * Return: 0 or -errno.
 */
int hb_qcow2_pdiscard(HbQcow2 *s, uint64_t offset, uint64_t bytes)
{
    if (s->read_only) {
        return -EROFS;
    }
    return remap_clusters(s, offset, bytes, false, true, false);
}

/**
 * hb_qcow2_make_empty() - unmap every cluster, so that the image reads as
 * its backing file (zeroes without one): qemu-img commit's last step.
 * Host clusters are freed; durable after hb_qcow2_flush().
 * Return: 0 or -errno.
 */
int hb_qcow2_make_empty(HbQcow2 *s)
{
    if (s->read_only) {
        return -EROFS;
    }
    return remap_clusters(s, 0, hb_qcow2_virtual_size(s), false, true, true);
}

/**
 * hb_qcow2_flush() - write back the caches in crash-safe order and flush.
 * Return: 0 or -errno.
 */
int hb_qcow2_flush(HbQcow2 *s)
{
    int ret;

    if (s->read_only) {
        return 0;
    }
    g_mutex_lock(&s->meta_lock);
    mark_corrupt(s);
    ret = hb_qcow2_flush_metadata(s);
    g_mutex_unlock(&s->meta_lock);
    return ret;
}
