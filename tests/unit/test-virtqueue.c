/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-virtqueue.c — split rings against a fake memory table and hostile guests. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "tests/lib/ring-fixture.h"

#define MEM_SIZE (1u << 20)
#define GPA_BASE 0x100000ull
#define UVA_BASE 0x7f0000000000ull
#define NUM 16
#define DESC_OFF 0x0
#define AVAIL_OFF 0x400
#define USED_OFF 0x800
#define BUF_OFF 0x10000

typedef struct Fixture {
    uint8_t *ram;
    HbGuestMem mem;
    HbtRing ring;
    HbVirtq vq;
    HbVirtqElem *elem;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->ram = g_malloc0(MEM_SIZE);
    memset(&f->mem, 0, sizeof(f->mem));
    g_assert_cmpint(hbt_guest_mem_add(&f->mem, f->ram, MEM_SIZE, GPA_BASE, UVA_BASE), ==, 0);
    f->ring = (HbtRing){
        .ram = f->ram, .gpa = GPA_BASE, .uva = UVA_BASE, .num = NUM,
        .desc_off = DESC_OFF, .avail_off = AVAIL_OFF, .used_off = USED_OFF,
    };
    memset(&f->vq, 0, sizeof(f->vq));
    f->vq.indirect = true;
    f->vq.event_idx = true;
    g_assert_cmpint(hbt_ring_start(&f->ring, &f->mem, &f->vq, 0), ==, 0);
    f->elem = g_new0(HbVirtqElem, 1);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_free(f->elem);
    g_free(f->ram);
}

/* Every iovec must point inside the fake RAM. */
static void assert_iov_inside(Fixture *f)
{
    g_assert_true(hbt_elem_in_guest_mem(&f->mem, f->elem));
}

static void test_simple_chain(Fixture *f, gconstpointer data)
{
    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 1);
    hbt_ring_set_desc(&f->ring, 1, GPA_BASE + BUF_OFF + 0x1000, 4096,
                      HB_VRING_DESC_F_NEXT | HB_VRING_DESC_F_WRITE, 2);
    hbt_ring_set_desc(&f->ring, 2, GPA_BASE + BUF_OFF + 0x3000, 1, HB_VRING_DESC_F_WRITE, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 1);
    g_assert_cmpuint(f->elem->head, ==, 0);
    g_assert_cmpuint(f->elem->out_num, ==, 1);
    g_assert_cmpuint(f->elem->in_num, ==, 2);
    g_assert_cmpuint(f->elem->out_len, ==, 16);
    g_assert_cmpuint(f->elem->in_len, ==, 4097);
    g_assert_true(f->elem->iov[0].iov_base == f->ram + BUF_OFF);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 0);

    hb_virtq_push(&f->vq, 0, 4097);
    g_assert_cmpuint(hbt_ring_used(&f->ring)->idx, ==, 1);
    g_assert_cmpuint(hbt_ring_used(&f->ring)->ring[0].id, ==, 0);
    g_assert_cmpuint(hbt_ring_used(&f->ring)->ring[0].len, ==, 4097);
}

static void test_avail_idx_too_far(Fixture *f, gconstpointer data)
{
    hbt_ring_avail(&f->ring)->idx = NUM + 1;
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -EINVAL);
}

static void test_head_out_of_range(Fixture *f, gconstpointer data)
{
    hbt_ring_make_avail(&f->ring, NUM);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -EINVAL);
}

static void test_loop(Fixture *f, gconstpointer data)
{
    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 1);
    hbt_ring_set_desc(&f->ring, 1, GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -ELOOP);
}

static void test_self_loop(Fixture *f, gconstpointer data)
{
    hbt_ring_set_desc(&f->ring, 3, GPA_BASE + BUF_OFF, 0, HB_VRING_DESC_F_NEXT, 3);
    hbt_ring_make_avail(&f->ring, 3);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -ELOOP);
}

static void test_next_out_of_range(Fixture *f, gconstpointer data)
{
    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, NUM);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -EINVAL);
}

static void test_bad_addresses(Fixture *f, gconstpointer data)
{
    static const struct { uint64_t addr; uint32_t len; } bad[] = {
        { 0, 16 },                                  /* below the region */
        { GPA_BASE + MEM_SIZE, 1 },                 /* just past it */
        { GPA_BASE + MEM_SIZE - 8, 16 },            /* straddles the end */
        { UINT64_MAX - 8, 64 },                     /* wraps */
        { UVA_BASE, 16 },                           /* a uva is no gpa */
    };

    teardown(f, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        setup(f, NULL);
        hbt_ring_set_desc(&f->ring, 0, bad[i].addr, bad[i].len, 0, 0);
        hbt_ring_make_avail(&f->ring, 0);
        g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -EFAULT);
        teardown(f, NULL);
    }
    setup(f, NULL);
}

static void test_readable_after_writable(Fixture *f, gconstpointer data)
{
    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + BUF_OFF, 1,
                      HB_VRING_DESC_F_WRITE | HB_VRING_DESC_F_NEXT, 1);
    hbt_ring_set_desc(&f->ring, 1, GPA_BASE + BUF_OFF, 16, 0, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -EINVAL);
}

static HbVringDesc *table_at(Fixture *f, uint64_t off)
{
    return (HbVringDesc *)(f->ram + off);
}

static void test_indirect(Fixture *f, gconstpointer data)
{
    HbVringDesc *t = table_at(f, 0x8000);

    hbt_desc_set(&t[0], GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 1);
    hbt_desc_set(&t[1], GPA_BASE + BUF_OFF + 512, 512,
                 HB_VRING_DESC_F_NEXT | HB_VRING_DESC_F_WRITE, 2);
    hbt_desc_set(&t[2], GPA_BASE + BUF_OFF + 2048, 1, HB_VRING_DESC_F_WRITE, 0);
    hbt_ring_set_desc(&f->ring, 5, GPA_BASE + 0x8000, 3 * sizeof(HbVringDesc),
                      HB_VRING_DESC_F_INDIRECT, 0);
    hbt_ring_make_avail(&f->ring, 5);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 1);
    g_assert_cmpuint(f->elem->head, ==, 5);
    g_assert_cmpuint(f->elem->out_num, ==, 1);
    g_assert_cmpuint(f->elem->in_num, ==, 2);
    assert_iov_inside(f);
}

static void test_indirect_hostile(Fixture *f, gconstpointer data)
{
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        bool nested, looped, no_feature;
        int expect;
    } cases[] = {
        { GPA_BASE + 0x8000, 48, HB_VRING_DESC_F_INDIRECT | HB_VRING_DESC_F_NEXT, .expect = -EINVAL },
        { GPA_BASE + 0x8000, 0, HB_VRING_DESC_F_INDIRECT, .expect = -EINVAL },
        { GPA_BASE + 0x8000, 40, HB_VRING_DESC_F_INDIRECT, .expect = -EINVAL },
        { GPA_BASE + MEM_SIZE - 16, 48, HB_VRING_DESC_F_INDIRECT, .expect = -EFAULT },
        { GPA_BASE + 0x8000, 48, HB_VRING_DESC_F_INDIRECT, .nested = true, .expect = -EINVAL },
        { GPA_BASE + 0x8000, 48, HB_VRING_DESC_F_INDIRECT, .looped = true, .expect = -ELOOP },
        { GPA_BASE + 0x8000, 48, HB_VRING_DESC_F_INDIRECT, .no_feature = true, .expect = -EINVAL },
        { GPA_BASE + 0x8000, 16u * 2048, HB_VRING_DESC_F_INDIRECT, .expect = -EINVAL },
    };

    teardown(f, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        HbVringDesc *t;

        setup(f, NULL);
        t = table_at(f, 0x8000);
        hbt_desc_set(&t[0], GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 1);
        hbt_desc_set(&t[1], GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 2);
        hbt_desc_set(&t[2], GPA_BASE + BUF_OFF, 1, HB_VRING_DESC_F_WRITE, 0);
        if (cases[i].nested) {
            hbt_desc_set(&t[1], GPA_BASE + 0x9000, 48, HB_VRING_DESC_F_INDIRECT, 0);
        }
        if (cases[i].looped) {
            t[2].flags = HB_VRING_DESC_F_NEXT;
            t[2].next = 0;
        }
        f->vq.indirect = !cases[i].no_feature;
        hbt_ring_set_desc(&f->ring, 0, cases[i].addr, cases[i].len, cases[i].flags, 0);
        hbt_ring_make_avail(&f->ring, 0);
        g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, cases[i].expect);
        teardown(f, NULL);
    }
    setup(f, NULL);
}

/* An indirect descriptor in the middle of a chain is refused. */
static void test_indirect_not_head(Fixture *f, gconstpointer data)
{
    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + BUF_OFF, 16, HB_VRING_DESC_F_NEXT, 1);
    hbt_ring_set_desc(&f->ring, 1, GPA_BASE + 0x8000, 48, HB_VRING_DESC_F_INDIRECT, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, -EINVAL);
}

static void test_straddling_regions(Fixture *f, gconstpointer data)
{
    /* A second region right after the first: one buffer, two iovecs. */
    g_autofree uint8_t *ram2 = g_malloc0(4096);
    HbGuestMemRegion r = {
        .gpa = GPA_BASE + MEM_SIZE, .size = 4096, .uva = UVA_BASE + MEM_SIZE + 8192,
        .host = ram2,
    };

    g_assert_cmpint(hb_guest_mem_add(&f->mem, &r), ==, 0);
    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + MEM_SIZE - 100, 200, 0, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 1);
    g_assert_cmpuint(f->elem->out_num, ==, 2);
    g_assert_cmpuint(f->elem->iov[0].iov_len, ==, 100);
    g_assert_true(f->elem->iov[1].iov_base == ram2);
    g_assert_cmpuint(f->elem->iov[1].iov_len, ==, 100);
    /* overlapping regions are refused */
    r.gpa = GPA_BASE + 4096;
    r.uva = 0x1000;
    g_assert_cmpint(hb_guest_mem_add(&f->mem, &r), ==, -EINVAL);
    g_assert_null(hb_guest_mem_gpa_to_ptr(&f->mem, GPA_BASE + MEM_SIZE - 100, 200));
    g_assert_nonnull(hb_guest_mem_uva_to_ptr(&f->mem, UVA_BASE, MEM_SIZE));
    g_assert_null(hb_guest_mem_uva_to_ptr(&f->mem, UVA_BASE, MEM_SIZE + 1));
    memset(&f->mem.regions[1], 0, sizeof(r));
    f->mem.nregions = 1;
}

static void test_notify(Fixture *f, gconstpointer data)
{
    HbVringAvail *a = hbt_ring_avail(&f->ring);
    uint16_t *used_event = &a->ring[NUM];

    hbt_ring_set_desc(&f->ring, 0, GPA_BASE + BUF_OFF, 1, HB_VRING_DESC_F_WRITE, 0);
    for (int i = 0; i < 3; i++) {
        hbt_ring_make_avail(&f->ring, 0);
    }
    *used_event = 0;   /* interrupt when entry 0 is used */
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 1);
        hb_virtq_push(&f->vq, 0, 1);
    }
    g_assert_true(hb_virtq_should_notify(&f->vq));     /* first one always */
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 1);
    hb_virtq_push(&f->vq, 0, 1);
    g_assert_false(hb_virtq_should_notify(&f->vq));    /* used_event 0 passed long ago */
    *used_event = 4;
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_cmpint(hb_virtq_pop(&f->vq, f->elem), ==, 1);
    hb_virtq_push(&f->vq, 0, 1);
    g_assert_true(hb_virtq_should_notify(&f->vq));     /* stepped over 4 */

    /* avail_event follows us; more work shows up as "pending" */
    g_assert_false(hb_virtq_enable_notify(&f->vq));
    g_assert_cmpuint(*(uint16_t *)&hbt_ring_used(&f->ring)->ring[NUM], ==, 5);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_true(hb_virtq_enable_notify(&f->vq));

    /* without EVENT_IDX: the NO_INTERRUPT flag rules */
    f->vq.event_idx = false;
    a->flags = HB_VRING_AVAIL_F_NO_INTERRUPT;
    g_assert_false(hb_virtq_should_notify(&f->vq));
    a->flags = 0;
    g_assert_true(hb_virtq_should_notify(&f->vq));
}

static void test_bad_ring_size(Fixture *f, gconstpointer data)
{
    HbVirtq vq = { 0 };
    g_assert_cmpint(hb_virtq_init(&vq, &f->mem, 0, f->ram, f->ram, f->ram, 0), ==, -EINVAL);
    g_assert_cmpint(hb_virtq_init(&vq, &f->mem, 24, f->ram, f->ram, f->ram, 0), ==, -EINVAL);
    g_assert_cmpint(hb_virtq_init(&vq, &f->mem, 2048, f->ram, f->ram, f->ram, 0), ==, -EINVAL);
}

/* Random garbage rings: pop must fail or stay inside guest memory, never crash. */
static void test_random_rings(Fixture *f, gconstpointer data)
{
    GRand *rand = g_rand_new_with_seed(42);
    unsigned ok = 0, bad = 0;

    for (int iter = 0; iter < 20000; iter++) {
        int ret;
        uint32_t *p = (uint32_t *)(f->ram + DESC_OFF);

        for (unsigned i = 0; i < NUM * sizeof(HbVringDesc) / 4; i++) {
            p[i] = g_rand_int(rand);
        }
        for (unsigned i = 0; i < NUM; i++) {
            HbVringDesc *d = hbt_ring_desc(&f->ring, i);
            /* bias towards plausible values so deep paths are exercised */
            if (g_rand_boolean(rand)) {
                d->addr = GPA_BASE + g_rand_int_range(rand, -4096, MEM_SIZE + 4096);
                d->len = g_rand_int_range(rand, 0, 70000);
                d->next %= NUM + 2;
                d->flags &= 7;
            }
        }
        f->vq.indirect = g_rand_boolean(rand);
        hbt_ring_make_avail(&f->ring, g_rand_int_range(rand, 0, NUM + 1));
        ret = hb_virtq_pop(&f->vq, f->elem);
        if (ret == 1) {
            assert_iov_inside(f);
            hb_virtq_push(&f->vq, f->elem->head, 0);
            ok++;
        } else {
            g_assert_cmpint(ret, <, 0);
            bad++;
            /* a broken ring is abandoned: start from a clean one */
            hbt_ring_avail(&f->ring)->idx = f->vq.last_avail_idx;
        }
    }
    g_assert_cmpuint(ok, >, 0);
    g_assert_cmpuint(bad, >, 0);
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/virtqueue/" name, Fixture, NULL, setup, fn, teardown)
    T("simple-chain", test_simple_chain);
    T("avail-idx-too-far", test_avail_idx_too_far);
    T("head-out-of-range", test_head_out_of_range);
    T("loop", test_loop);
    T("self-loop", test_self_loop);
    T("next-out-of-range", test_next_out_of_range);
    T("bad-addresses", test_bad_addresses);
    T("readable-after-writable", test_readable_after_writable);
    T("indirect", test_indirect);
    T("indirect-hostile", test_indirect_hostile);
    T("indirect-not-head", test_indirect_not_head);
    T("straddling-regions", test_straddling_regions);
    T("notify", test_notify);
    T("bad-ring-size", test_bad_ring_size);
    T("random-rings", test_random_rings);
    return g_test_run();
}
