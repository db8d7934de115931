/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-alloc-inflight.c — guest ranges whose allocating write is writing its data with no lock held. */

#include "qcow2-int.h"

/*
 * Theory of operation
 *
 * An allocating write has three phases (qcow2-io.c, write_allocating()):
 * with map_lock exclusive and meta_lock held it picks host clusters; with
 * no lock held it copies the old contents it must keep (copy-on-write) and
 * writes the data there; with both locks held again it points the L2
 * entries at the new clusters.  Dropping the locks for the middle phase is
 * what lets allocating writes to different clusters overlap their data I/O,
 * as they must to keep a device busy.
 *
 * While the data is written, the guest clusters concerned still map to
 * their old contents, which this write is replacing: nobody else may
 * change those mappings meanwhile, or two writers would allocate the same
 * guest cluster and one's data would be lost, or a discard would be undone.
 * The range is therefore entered here, under meta_lock, before the locks
 * are dropped, and every path that changes a mapping (another allocating
 * write, a discard, zeroing) first waits until no range it covers is in
 * flight (hb_qcow2_allocs_wait()).  Reads and in-place writes never touch
 * clusters in flight: such a cluster is not yet owned data, so they either
 * read its old contents (which is what a write not yet completed shows) or
 * go the allocating way and wait.
 *
 * The host clusters being written are referenced by nothing on disk yet:
 * a crash in the middle phase leaks them, which is what the image's crash
 * rules allow (qcow2-int.h).
 */

/* Whether [@start, @end) meets a range in flight; meta_lock held. */
static bool overlaps(const HbQcow2 *s, uint64_t start, uint64_t end)
{
    for (const HbQcow2AllocRange *r = s->allocs; r; r = r->next) {
        if (r->start < end && start < r->end) {
            return true;
        }
    }
    return false;
}

/**
 * hb_qcow2_allocs_add() - enter @r (start and end set) as in flight.
 * @s: the image; meta_lock held
 * @r: caller's storage, until hb_qcow2_allocs_remove()
 */
void hb_qcow2_allocs_add(HbQcow2 *s, HbQcow2AllocRange *r)
{
    r->next = s->allocs;
    s->allocs = r;
}

/**
 * hb_qcow2_allocs_remove() - @r is done: wake whoever waits for it.
 * @s: the image; meta_lock held
 * @r: a range entered with hb_qcow2_allocs_add()
 */
void hb_qcow2_allocs_remove(HbQcow2 *s, HbQcow2AllocRange *r)
{
    HbQcow2AllocRange **p = &s->allocs;

    while (*p != r) {
        g_assert(*p);
        p = &(*p)->next;
    }
    *p = r->next;
    g_cond_broadcast(&s->alloc_cond);
}

/**
 * hb_qcow2_allocs_wait() - wait until no range in flight meets [@start, @end).
 * @s: the image; map_lock held exclusively and meta_lock held
 * @start: first guest byte (cluster aligned by callers)
 * @end: one past the last
 *
 * If it must wait, it drops both locks (the writer in flight needs them to
 * finish) and takes them again, in their order, before it returns.
 *
 * Return: true if it waited: whatever the caller read under the locks
 * before may have changed and must be read again.
 */
bool hb_qcow2_allocs_wait(HbQcow2 *s, uint64_t start, uint64_t end)
{
    if (!overlaps(s, start, end)) {
        return false;
    }
    do {
        g_rw_lock_writer_unlock(&s->map_lock);
        while (overlaps(s, start, end)) {
            g_cond_wait(&s->alloc_cond, &s->meta_lock);
        }
        g_mutex_unlock(&s->meta_lock);
        g_rw_lock_writer_lock(&s->map_lock);
        g_mutex_lock(&s->meta_lock);
    } while (overlaps(s, start, end));
    return true;
}
