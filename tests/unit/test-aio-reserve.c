/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-aio-reserve.c — io_uring rings made before the sandbox, taken and given back by threads. */
#include "block/aio.h"

#include <errno.h>
#include <liburing.h>

static int nop_ret = 1;

static void nop_done(HbAioCb *cb, int ret)
{
    nop_ret = ret;
}

typedef struct Took {
    HbAioCtx **ctx;
    bool ring;
} Took;

/* What an I/O thread does when it starts: take a context, as it would. */
static gpointer take(gpointer opaque)
{
    Took *t = opaque;

    *t->ctx = hb_aio_ctx_new(true, NULL);
    t->ring = hb_aio_ctx_has_uring(*t->ctx);
    return NULL;
}

static bool take_on_thread(HbAioCtx **ctx)
{
    Took t = { ctx, false };
    g_thread_join(g_thread_new("take", take, &t));
    return t.ring;
}

/*
 * Two rings reserved: two threads get one each, a third gets none (and
 * no ring of its own: after a reserve no ring is ever set up), and a ring
 * given back serves the next thread, from another thread than made or
 * enabled it.
 */
static void test_reserve(void)
{
    HbAioCtx *a = NULL, *b = NULL, *c = NULL, *d = NULL;

    if (hb_aio_uring_probe() < 0) {
        g_test_skip("io_uring is not available here");
        return;
    }
    g_assert_true(hb_aio_reserve_rings(2, NULL));
    g_assert_true(take_on_thread(&a));
    g_assert_true(take_on_thread(&b));
    g_assert_false(take_on_thread(&c));
    g_assert_cmpint(hb_aio_ctx_uring_error(c), ==, -EBUSY);
    hb_aio_ctx_free(a);
    g_assert_true(take_on_thread(&d));

    /* The ring works for its new owner: a NOP through it completes. */
    HbAioCb cb = { .done = nop_done };
    struct io_uring_sqe *sqe = hb_aio_ctx_get_sqe(d, &cb);
    g_assert_nonnull(sqe);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &cb);
    while (nop_ret == 1) {
        hb_aio_ctx_wait(d, 1000000);
    }
    g_assert_cmpint(nop_ret, ==, 0);
    hb_aio_ctx_free(b);
    hb_aio_ctx_free(c);
    hb_aio_ctx_free(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/aio/reserve", test_reserve);
    return g_test_run();
}
