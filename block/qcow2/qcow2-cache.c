/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-cache.c — write-back cache of metadata tables (L2 tables, refcount blocks). */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * Tables are kept in on-disk (big-endian) form so a write-back is a plain
 * write.  A slot and its table buffer are allocated when a table is first
 * loaded and there is neither an empty slot nor the limit reached; only
 * then is the least recently used table evicted.  A pointer from
 * hb_qcow2_cache_get() stays valid until the next get on the same cache
 * (table buffers never move); all callers hold meta_lock.  A cache with a
 * dependency (the L2 cache depends on the refcount cache) writes back and
 * flushes that dependency before writing any of its own tables.
 */

/**
 * hb_qcow2_cache_init() - an empty cache of at most @limit tables of
 * @table_size bytes.  Nothing is allocated here: a slot and its table
 * buffer are allocated when a table is first loaded into it, so the memory
 * a cache costs is what its image's I/O has used, never what was asked.
 * @c: cache
 * @limit: the most tables it may hold (hb_qcow2_cache_set_limit())
 * @table_size: bytes per table (the cluster size)
 */
void hb_qcow2_cache_init(HbQcow2Cache *c, unsigned limit, size_t table_size)
{
    memset(c, 0, sizeof(*c));
    c->limit = MAX(limit, 1);
    c->table_size = table_size;
}

/**
 * hb_qcow2_cache_set_limit() - let @c hold at most @limit tables from now
 * on.  A lower limit frees nothing: the slots in use stay, only no new one
 * is added (a smaller cache is always correct, just slower).
 * @c: cache
 * @limit: at least 1
 */
void hb_qcow2_cache_set_limit(HbQcow2Cache *c, unsigned limit)
{
    c->limit = MAX(limit, 1);
}

/* hb_qcow2_cache_tables() - how many table buffers @c holds now. */
unsigned hb_qcow2_cache_tables(const HbQcow2Cache *c)
{
    return c->used;
}

/* hb_qcow2_cache_limit() - the most table buffers @c may hold. */
unsigned hb_qcow2_cache_limit(const HbQcow2Cache *c)
{
    return c->limit;
}

/* hb_qcow2_cache_destroy() - free the slots; dirty contents are dropped. */
void hb_qcow2_cache_destroy(HbQcow2Cache *c)
{
    for (unsigned i = 0; i < c->used; i++) {
        g_free(c->entries[i].table);
    }
    g_free(c->entries);
    c->entries = NULL;
    c->used = 0;
    c->alloc = 0;
}

/*
 * A new empty slot with its table buffer, if the limit allows one and the
 * memory is there; NULL otherwise (the caller evicts instead).  Moves
 * @c->entries, never a table buffer.
 */
static HbQcow2CacheEntry *new_slot(HbQcow2Cache *c)
{
    HbQcow2CacheEntry *e;
    void *table;

    if (c->used >= c->limit) {
        return NULL;
    }
    if (c->used == c->alloc) {
        unsigned n = MIN(MAX(c->alloc * 2, 4u), c->limit);
        HbQcow2CacheEntry *grown = g_try_renew(HbQcow2CacheEntry, c->entries, n);
        if (!grown) {
            return NULL;
        }
        c->entries = grown;
        c->alloc = n;
    }
    table = g_try_malloc(c->table_size);
    if (!table) {
        return NULL;
    }
    e = &c->entries[c->used++];
    memset(e, 0, sizeof(*e));
    e->table = table;
    return e;
}

static bool cache_has_dirty(const HbQcow2Cache *c)
{
    for (unsigned i = 0; i < c->used; i++) {
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
 * hb_qcow2_cache_peek() - the table at host @offset if it is cached, with
 * no I/O (the asynchronous fast path must not wait for a table).
 * @c: cache
 * @offset: cluster-aligned host offset of the table
 *
 * Return: the big-endian table, valid as long as meta_lock is held, or
 * NULL when it is not in the cache.
 */
void *hb_qcow2_cache_peek(HbQcow2Cache *c, uint64_t offset)
{
    for (unsigned i = 0; i < c->used; i++) {
        HbQcow2CacheEntry *e = &c->entries[i];
        if (e->offset == offset) {
            e->lru = ++c->lru_clock;
            return e->table;
        }
    }
    return NULL;
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
    unsigned v = 0;  /* victim's index: new_slot() may move the entries */
    int ret;

    for (unsigned i = 0; i < c->used; i++) {
        HbQcow2CacheEntry *e = &c->entries[i];
        HbQcow2CacheEntry *old = &c->entries[v];
        if (e->offset == offset) {
            e->lru = ++c->lru_clock;
            if (fresh) {
                memset(e->table, 0, c->table_size);
            }
            *table = e->table;
            return 0;
        }
        if (i == 0 || (old->offset != 0 && (e->offset == 0 || e->lru < old->lru))) {
            v = i;
        }
    }
    /* An empty slot, else a new one, else the least recently used. */
    if (c->used == 0 || c->entries[v].offset != 0) {
        victim = new_slot(c);
    }
    if (!victim && c->used == 0) {
        return -ENOMEM;
    }
    victim = victim ? victim : &c->entries[v];
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
    for (unsigned i = 0; i < c->used; i++) {
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
    for (unsigned i = 0; i < c->used; i++) {
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
    for (unsigned i = 0; i < c->used; i++) {
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
