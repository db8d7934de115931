/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/throttle.c — the "throttle" filter: its file child, within a throttle group's limits. */
#include "block/aio.h"
#include "block/node.h"
#include "block/throttle-group.h"
#include "util/error.h"

#include <errno.h>
#include <stddef.h>

/*
 * Theory of operation
 *
 * Every read, write, write-zeroes and discard asks the group how long it
 * must wait (block/throttle-group.h: it is accounted at once).  A request
 * with no wait goes to the file child at once.  Otherwise it sleeps on a
 * timer of the submitting thread's completion context (block/aio.h) and
 * goes down when the timer fires: the I/O thread goes on serving its
 * ring meanwhile, and the request completes on that thread as any other.
 * A timer fires at least every HB_THROTTLE_RECHECK_NS, so a waiter sees
 * new limits (qom-set) within that time and waits again under them.
 * Flushes are not limited (QEMU's neither).
 *
 * The synchronous calls (threads without a completion context, requests
 * the node layer sends to the I/O pool, such as unaligned writes) are
 * accounted but never wait: no pool thread or main loop ever sleeps for
 * a limit.
 *
 * A throttled request stays in the node's inflight count while it waits.
 * Whoever waits for the node's requests to end (a drain, deleting an
 * export) brackets the wait with hb_node_drained_begin()/_end(): in
 * between, new requests go at once (unaccounted) and a waiter goes
 * when its timer next fires (within HB_THROTTLE_RECHECK_NS), as QEMU lifts
 * the limits while it drains.
 */

typedef struct ThrottleState {
    HbChild *file;
    HbThrottleGroup *group;
    gint drained;           /* atomic: inside drained_begin/_end, nesting */
} ThrottleState;

typedef struct ThrottleReq {
    HbAioTimer timer;       /* first: the timer's callback finds us */
    HbIoReq child;
    HbIoReq *parent;
    HbNode *node;
    int64_t release_ns;     /* when it may go */
    int gen;                /* the limits' generation release_ns is from */
} ThrottleReq;

static bool throttle_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsThrottle *to = opts->u.throttle;
    ThrottleState *s = g_new0(ThrottleState, 1);

    s->group = hb_throttle_group_ref(to->throttle_group);
    if (!s->group) {
        hb_error_set(errp, "Throttle group '%s' does not exist", to->throttle_group);
        g_free(s);
        return false;
    }
    /* A filter takes what a format takes of its file: see raw.c. */
    unsigned perm = HB_PERM_CONSISTENT_READ | (node->read_only ? 0 : HB_PERM_WRITE);
    unsigned shared = HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED |
                      (node->read_only ? HB_PERM_RESIZE : 0);
    s->file = hb_node_open_child(node, "file", to->file, perm, shared, errp);
    if (!s->file) {
        hb_throttle_group_unref(s->group);
        g_free(s);
        return false;
    }
    node->request_alignment = 1;   /* the child pads for itself */
    node->opaque = s;
    return true;
}

static void throttle_close(HbNode *node)
{
    ThrottleState *s = node->opaque;

    hb_throttle_group_unref(s->group);
    g_free(s);
    node->opaque = NULL;
}

static int64_t throttle_get_length(HbNode *node)
{
    ThrottleState *s = node->opaque;

    return hb_node_get_length(s->file->node);
}

/* A filter: its file's bytes, unthrottled (status reads no data). */
static int throttle_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                                 uint64_t *pnum, uint64_t *map, HbNode **file)
{
    ThrottleState *s = node->opaque;

    *pnum = bytes;
    *map = offset;
    *file = s->file->node;
    return HB_BS_FORWARD;
}

/* The synchronous way: counted, never waiting (see the theory). */
static void account_only(HbNode *node, bool is_write, uint64_t bytes)
{
    ThrottleState *s = node->opaque;
    int gen;

    hb_throttle_group_reserve(s->group, is_write, bytes, &gen);
}

static int throttle_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                           const struct iovec *iov, int niov, unsigned flags)
{
    ThrottleState *s = node->opaque;

    account_only(node, false, bytes);
    return hb_node_preadv(s->file->node, offset, bytes, iov, niov, flags);
}

static int throttle_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                            const struct iovec *iov, int niov, unsigned flags)
{
    ThrottleState *s = node->opaque;

    account_only(node, true, bytes);
    return hb_node_pwritev(s->file->node, offset, bytes, iov, niov, flags);
}

static int throttle_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    ThrottleState *s = node->opaque;

    account_only(node, true, bytes);
    return hb_node_pdiscard(s->file->node, offset, bytes);
}

static int throttle_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                                  unsigned flags)
{
    ThrottleState *s = node->opaque;

    account_only(node, true, bytes);
    return hb_node_pwrite_zeroes(s->file->node, offset, bytes, flags);
}

static void child_done(HbAioCb *cb, int ret)
{
    ThrottleReq *tr = (ThrottleReq *)((char *)cb - offsetof(ThrottleReq, child.cb));
    HbIoReq *parent = tr->parent;

    g_free(tr);
    parent->cb.done(&parent->cb, ret);
}

static void go_down(ThrottleReq *tr)
{
    ThrottleState *s = tr->node->opaque;

    hb_node_submit(s->file->node, &tr->child);
}

/* Sleep until the release time, looking at the limits at least every RECHECK. */
static void arm(ThrottleReq *tr, int64_t now)
{
    int64_t at = MIN(tr->release_ns, now + HB_THROTTLE_RECHECK_NS);

    hb_aio_ctx_timer_arm(hb_aio_ctx_current(), &tr->timer, at);
}

static void timer_fired(HbAioCb *cb, int ret)
{
    ThrottleReq *tr = (ThrottleReq *)cb;
    ThrottleState *s = tr->node->opaque;
    int64_t now = hb_aio_now_ns();

    (void)ret;
    if (g_atomic_int_get(&s->drained)) {
        go_down(tr);
        return;
    }
    if (hb_throttle_group_generation(s->group) != tr->gen) {
        /* New limits: the buckets started over; wait again under them. */
        tr->release_ns = now + hb_throttle_group_reserve(s->group, tr->child.op != HB_IO_READ,
                                                         tr->child.bytes, &tr->gen);
    }
    if (tr->release_ns <= now) {
        go_down(tr);
        return;
    }
    arm(tr, now);
}

static int throttle_submit(HbNode *node, HbIoReq *req)
{
    ThrottleState *s = node->opaque;
    ThrottleReq *tr = g_new0(ThrottleReq, 1);

    tr->child = *req;
    tr->child.cb.done = child_done;
    tr->parent = req;
    tr->node = node;
    if (req->op == HB_IO_FLUSH) {
        go_down(tr);
        return 0;
    }
    /*
     * While drained, unaccounted: the ring goes on taking the guest's
     * requests at full speed until it stops, and a debt that large would
     * hold the next user of the group for a long time.
     */
    if (g_atomic_int_get(&s->drained)) {
        go_down(tr);
        return 0;
    }
    int64_t wait = hb_throttle_group_reserve(s->group, req->op != HB_IO_READ, req->bytes,
                                             &tr->gen);
    if (wait <= 0) {
        go_down(tr);
        return 0;
    }
    int64_t now = hb_aio_now_ns();
    tr->release_ns = now + wait;
    tr->timer.cb.done = timer_fired;
    arm(tr, now);
    return 0;
}

static void throttle_drained_begin(HbNode *node)
{
    g_atomic_int_inc(&((ThrottleState *)node->opaque)->drained);
}

static void throttle_drained_end(HbNode *node)
{
    g_atomic_int_dec_and_test(&((ThrottleState *)node->opaque)->drained);
}

/*
 * Capped at HB_THROTTLE_RECHECK_NS: whoever waits on this answer looks
 * again at least that often, and so sees new limits (qom-set) in time.
 */
static int64_t throttle_admission_wait_ns(HbNode *node, bool is_write)
{
    ThrottleState *s = node->opaque;

    if (g_atomic_int_get(&s->drained)) {
        return 0;
    }
    return MIN(hb_throttle_group_wait(s->group, is_write), HB_THROTTLE_RECHECK_NS);
}

static int throttle_truncate(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                             GError **errp)
{
    ThrottleState *s = node->opaque;

    return hb_node_truncate_prealloc(s->file->node, size, prealloc, errp);
}

const HbDriver hb_driver_throttle = {
    .name = "throttle",
    .is_format = true,
    .is_filter = true,
    .open = throttle_open,
    .close = throttle_close,
    .get_length = throttle_get_length,
    .preadv = throttle_preadv,
    .pwritev = throttle_pwritev,
    .pdiscard = throttle_pdiscard,
    .pwrite_zeroes = throttle_pwrite_zeroes,
    .submit = throttle_submit,
    .block_status = throttle_block_status,
    .truncate = throttle_truncate,
    .drained_begin = throttle_drained_begin,
    .drained_end = throttle_drained_end,
    .admission_wait_ns = throttle_admission_wait_ns,
};
