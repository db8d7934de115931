/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/null.c — "null-co": writes vanish, reads are zeroes or untouched. */
#include "block/iov.h"
#include "block/aio.h"
#include "block/node.h"
#include "util/error.h"

#include <errno.h>
#include <time.h>

typedef struct NullState {
    int64_t size;
    uint64_t latency_ns;
    bool read_zeroes;
} NullState;

static bool null_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsNull *no = opts->u.null_co;
    NullState *s = g_new0(NullState, 1);

    s->size = no->has_size ? no->size : (int64_t)1 << 30;
    if (s->size < 0) {
        hb_error_set(errp, "Parameter 'size' expects a non-negative value");
        g_free(s);
        return false;
    }
    s->latency_ns = no->has_latency_ns ? no->latency_ns : 0;
    s->read_zeroes = no->has_read_zeroes && no->read_zeroes;
    node->opaque = s;
    return true;
}

static void null_close(HbNode *node)
{
    g_free(node->opaque);
    node->opaque = NULL;
}

static int64_t null_get_length(HbNode *node)
{
    return ((NullState *)node->opaque)->size;
}

static void null_delay(NullState *s)
{
    if (s->latency_ns) {
        struct timespec ts = {
            .tv_sec = s->latency_ns / 1000000000u,
            .tv_nsec = s->latency_ns % 1000000000u,
        };
        while (nanosleep(&ts, &ts) == -1) {
            /* interrupted: sleep the rest */
        }
    }
}

static int null_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    NullState *s = node->opaque;

    null_delay(s);
    if (s->read_zeroes) {
        hb_iov_memset(iov, niov, 0, 0, bytes);
    }
    return 0;
}

static int null_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                        const struct iovec *iov, int niov, unsigned flags)
{
    null_delay(node->opaque);
    return 0;
}

static int null_flush(HbNode *node)
{
    return 0;
}

static int null_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    return 0;
}

static int null_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                              unsigned flags)
{
    null_delay(node->opaque);
    return 0;
}

/* A request held for latency-ns on its thread's clock. */
typedef struct NullDelayed {
    HbAioTimer timer;       /* first: the timer's callback finds us */
    HbIoReq *req;
    bool read_zeroes;
} NullDelayed;

static void null_finish(HbIoReq *req, bool read_zeroes, int ret)
{
    if (ret == 0 && req->op == HB_IO_READ && read_zeroes) {
        hb_iov_memset(req->iov, req->niov, 0, 0, req->bytes);
    }
    req->cb.done(&req->cb, ret);
}

static void null_delay_done(HbAioCb *cb, int ret)
{
    NullDelayed *d = (NullDelayed *)cb;

    /* ret is not 0 only when the thread's timers are cancelled as it stops. */
    null_finish(d->req, d->read_zeroes, ret);
    g_free(d);
}

/*
 * Without a latency every request finishes at once.  With one, it
 * finishes on a timer of the submitting thread's completion context, as
 * QEMU's null-co sleeps a coroutine: many requests wait at once without
 * a thread each, so a deep queue against a fixed latency measures the
 * path above the storage.  A thread without a context (a tool, the main
 * thread) leaves it to the pool, whose workers sleep it (null_delay).
 */
static int null_submit(HbNode *node, HbIoReq *req)
{
    NullState *s = node->opaque;

    if (s->latency_ns) {
        HbAioCtx *ctx = hb_aio_ctx_current();
        if (!ctx) {
            return -ENOTSUP;
        }
        NullDelayed *d = g_new0(NullDelayed, 1);    /* the timer starts disarmed */
        d->timer.cb.done = null_delay_done;
        d->req = req;
        d->read_zeroes = s->read_zeroes;
        int64_t now = hb_aio_now_ns();
        /* latency-ns may be up to INT64_MAX: the deadline saturates there. */
        int64_t deadline = s->latency_ns > (uint64_t)(INT64_MAX - now)
                           ? INT64_MAX : now + (int64_t)s->latency_ns;
        hb_aio_ctx_timer_arm(ctx, &d->timer, deadline);
        return 0;
    }
    null_finish(req, s->read_zeroes, 0);
    return 0;
}

static char *null_filename(HbNode *node)
{
    return g_strdup("null-co://");
}

/* QEMU's null-co answers no bdrv_get_info(): ImageInfo has no dirty-flag. */
static bool null_get_info(HbNode *node, HbDriverInfo *info)
{
    return false;
}

/*
 * As QEMU's null-co: with read-zeroes the bytes are zeroes at their own
 * offset; without, they are neither data nor zeroes (reads leave the
 * buffer as it was), so nothing is allocated.
 */
static int null_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                             uint64_t *pnum, uint64_t *map, HbNode **file)
{
    NullState *s = node->opaque;

    *pnum = bytes;
    *map = offset;
    *file = node;
    return HB_BS_OFFSET_VALID | (s->read_zeroes ? HB_BS_ZERO : 0);
}

const HbDriver hb_driver_null = {
    .name = "null-co",
    .is_format = false,
    .open = null_open,
    .close = null_close,
    .get_length = null_get_length,
    .preadv = null_preadv,
    .pwritev = null_pwritev,
    .flush = null_flush,
    .submit = null_submit,
    .pdiscard = null_pdiscard,
    .pwrite_zeroes = null_pwrite_zeroes,
    .block_status = null_block_status,
    .filename = null_filename,
    .get_info = null_get_info,
};
