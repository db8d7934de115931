/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-cache.c — write-back cache of metadata tables (L2 tables, refcount blocks). */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * Tables are kept in on-disk (big-endian) form so a write-back is a plain
 * write.  A pointer from hb_qcow2_cache_get() stays valid until the next
 * get on the same cache; all callers hold meta_lock.  A cache with a
 * dependency (the L2 cache depends on the refcount cache) writes back and
 * flushes that dependency before writing any of its own tables.
 */

/**
 * hb_qcow2_cache_init() - allocate @n slots of @table_size bytes.
 * Return: false on allocation failure.
 */
bool hb_qcow2_cache_init(HbQcow2Cache *c, unsigned n, size_t table_size)
{
    memset(c, 0, sizeof(*c));
    c->entries = g_try_new0(HbQcow2CacheEntry, n);
    if (!c->entries) {
        return false;
    }
    c->n = n;
    c->table_size = table_size;
    for (unsigned i = 0; i < n; i++) {
        c->entries[i].table = g_try_malloc(table_size);
        if (!c->entries[i].table) {
            hb_qcow2_cache_destroy(c);
            return false;
        }
    }
    return true;
}

/* hb_qcow2_cache_destroy() - free the slots; dirty contents are dropped. */
void hb_qcow2_cache_destroy(HbQcow2Cache *c)
{
    if (!c->entries) {
        return;
    }
    for (unsigned i = 0; i < c->n; i++) {
        g_free(c->entries[i].table);
    }
    g_free(c->entries);
    c->entries = NULL;
    c->n = 0;
}

static bool cache_has_dirty(const HbQcow2Cache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->entries[i].dirty) {
            return true;
        }
    }
    return false;
}

static int write_entry(HbQcow2 *s, HbQcow2Cache *c, HbQcow2CacheEntry *e)
{
    int ret;

    if (!e->dirty) {
        return 0;
    }
    if (c->depends && (c->depends->unflushed || cache_has_dirty(c->depends))) {
        ret = hb_qcow2_cache_writeback(s, c->depends);
        if (ret == 0) {
            ret = hb_qcow2_io_flush(s);
        }
        if (ret < 0) {
            return ret;
        }
        c->depends->unflushed = false;
    }
    ret = hb_qcow2_io_pwrite(s, e->offset, e->table, c->table_size);
    if (ret == 0) {
        e->dirty = false;
        c->unflushed = true;
    }
    return ret;
}

/**
 * hb_qcow2_cache_get() - the table at host @offset, loading it if needed.
 * @s: image
 * @c: cache
 * @offset: cluster-aligned host offset of the table
 * @fresh: the table is newly allocated: zero it instead of reading
 * @table: out, big-endian table of cluster_size bytes
 *
 * Return: 0 or -errno (a dirty victim that could not be written stays).
 */
int hb_qcow2_cache_get(HbQcow2 *s, HbQcow2Cache *c, uint64_t offset,
                       bool fresh, void **table)
{
    HbQcow2CacheEntry *victim = NULL;
    int ret;

    for (unsigned i = 0; i < c->n; i++) {
        HbQcow2CacheEntry *e = &c->entries[i];
        if (e->offset == offset) {
            e->lru = ++c->lru_clock;
            if (fresh) {
                memset(e->table, 0, c->table_size);
            }
            *table = e->table;
            return 0;
        }
        if (!victim ||
            (victim->offset != 0 && (e->offset == 0 || e->lru < victim->lru))) {
            victim = e;
        }
    }
    ret = write_entry(s, c, victim);
    if (ret < 0) {
        return ret;
    }
    victim->offset = 0;
    if (fresh) {
        memset(victim->table, 0, c->table_size);
    } else {
        ret = hb_qcow2_io_pread(s, offset, victim->table, c->table_size);
        if (ret < 0) {
            return ret;
        }
    }
    victim->offset = offset;
    victim->lru = ++c->lru_clock;
    *table = victim->table;
    return 0;
}

/* hb_qcow2_cache_mark_dirty() - @table (from cache_get) must be written back. */
void hb_qcow2_cache_mark_dirty(HbQcow2Cache *c, void *table)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->entries[i].table == table) {
            c->entries[i].dirty = true;
            return;
        }
    }
}

/**
 * hb_qcow2_cache_writeback() - write every dirty table (no flush).
 * Return: 0 or the first -errno.
 */
int hb_qcow2_cache_writeback(HbQcow2 *s, HbQcow2Cache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        int ret = write_entry(s, c, &c->entries[i]);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* hb_qcow2_cache_forget() - drop the table at @offset (its cluster was freed). */
void hb_qcow2_cache_forget(HbQcow2Cache *c, uint64_t offset)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->entries[i].offset == offset) {
            c->entries[i].offset = 0;
            c->entries[i].dirty = false;
            c->entries[i].lru = 0;
        }
    }
}

/**
 * hb_qcow2_flush_metadata() - make all cached metadata durable, in order:
 * refcount blocks, flush, L2 tables, flush.
 * Return: 0 or -errno.
 */
int hb_qcow2_flush_metadata(HbQcow2 *s)
{
    int ret;

    if (s->read_only) {
        return 0;
    }
    /* Writing back the L2 cache first writes and flushes the refcounts. */
    ret = hb_qcow2_cache_writeback(s, &s->l2_cache);
    if (ret == 0) {
        ret = hb_qcow2_cache_writeback(s, &s->rb_cache);
    }
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret == 0) {
        s->rb_cache.unflushed = false;
        s->l2_cache.unflushed = false;
    }
    return ret;
}
