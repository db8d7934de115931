/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/lib/ring-fixture.h — guest memory, split rings and a memory disk (synchronous or asynchronous) for unit tests and fuzzers. */
#ifndef HB_TESTS_RING_FIXTURE_H
#define HB_TESTS_RING_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost/guest-mem.h"
#include "vhost/virtio-blk.h"
#include "vhost/virtqueue.h"

/*
 * A test plays the guest (and the front-end): it owns a buffer standing
 * for guest memory, puts one split ring in it and writes descriptors and
 * avail entries there, while the code under test reads them through a
 * memory table and an HbVirtq.  HbtRing says where that ring lives; the
 * helpers below give typed pointers to its parts, start an HbVirtq on it
 * as SET_VRING_ADDR would, and make heads available.
 */

/**
 * struct HbtRing - one split ring inside test guest memory.
 * @ram: our pointer to the memory the ring lives in
 * @gpa: the guest-physical address of @ram[0]
 * @uva: the front-end address of @ram[0] (what SET_VRING_ADDR carries)
 * @num: ring size, a power of two
 * @desc_off: offset of the descriptor table in @ram
 * @avail_off: offset of the available ring in @ram
 * @used_off: offset of the used ring in @ram
 */
typedef struct HbtRing {
    uint8_t *ram;
    uint64_t gpa;
    uint64_t uva;
    unsigned num;
    uint64_t desc_off;
    uint64_t avail_off;
    uint64_t used_off;
} HbtRing;

/**
 * hbt_guest_mem_add() - add @size bytes at @host to @mem as one region.
 * @mem: the memory table
 * @host: our pointer to the region (not mapped from an fd)
 * @size: its length
 * @gpa: its guest-physical address
 * @uva: its front-end address
 *
 * Return: what hb_guest_mem_add() returns.
 */
int hbt_guest_mem_add(HbGuestMem *mem, uint8_t *host, uint64_t size, uint64_t gpa,
                      uint64_t uva);

/**
 * hbt_elem_in_guest_mem() - whether every iovec of @e lies inside one
 * region of @mem (what hb_virtq_pop() must guarantee).
 * @mem: the memory table @e was popped against
 * @e: a popped request
 *
 * Return: true if so; false after printing the first iovec outside.
 */
bool hbt_elem_in_guest_mem(const HbGuestMem *mem, const HbVirtqElem *e);

/**
 * hbt_ring_packed() - describe a ring of @num entries packed at the start
 * of @ram: the descriptor table, the available ring right after it and
 * the used ring at the next 4-byte boundary, as the spec aligns them.
 * @r: filled in
 * @ram: see struct HbtRing
 * @gpa: see struct HbtRing
 * @uva: see struct HbtRing
 * @num: see struct HbtRing
 */
void hbt_ring_packed(HbtRing *r, uint8_t *ram, uint64_t gpa, uint64_t uva, unsigned num);

/**
 * hbt_ring_start() - attach @vq to @r, translating the ring's front-end
 * addresses through @mem as SET_VRING_ADDR does.
 * @r: the ring
 * @mem: a table in which the ring's addresses are mapped
 * @vq: its negotiated flags and inflight state are kept (hb_virtq_init())
 * @base: the first available index to serve
 *
 * Return: 0, -EFAULT if a ring part is not inside one region of @mem, or
 * what hb_virtq_init() returns.
 */
int hbt_ring_start(const HbtRing *r, const HbGuestMem *mem, HbVirtq *vq, uint16_t base);

/**
 * hbt_ring_desc() - descriptor @i of @r's table.
 * @r: the ring
 * @i: an index, not checked against @r->num
 * Return: our pointer to it.
 */
HbVringDesc *hbt_ring_desc(const HbtRing *r, unsigned i);

/**
 * hbt_ring_avail() - the available ring of @r.
 * @r: the ring
 * Return: our pointer to it.
 */
HbVringAvail *hbt_ring_avail(const HbtRing *r);

/**
 * hbt_ring_used() - the used ring of @r.
 * @r: the ring
 * Return: our pointer to it.
 */
HbVringUsed *hbt_ring_used(const HbtRing *r);

/**
 * hbt_ring_make_avail() - publish @head as the next available entry of
 * @r, as a driver does (entry first, then the index, with release order).
 * @r: the ring
 * @head: the head descriptor's index
 */
void hbt_ring_make_avail(const HbtRing *r, uint16_t head);

/**
 * hbt_ring_set_desc() - fill in descriptor @i of @r's table, as
 * hbt_desc_set() does.
 * @r: the ring
 * @i: an index, not checked against @r->num
 * @gpa: buffer address
 * @len: buffer length
 * @flags: HB_VRING_DESC_F_*
 * @next: the next descriptor's index, with HB_VRING_DESC_F_NEXT
 */
void hbt_ring_set_desc(const HbtRing *r, unsigned i, uint64_t gpa, uint32_t len,
                       uint16_t flags, uint16_t next);

/**
 * hbt_desc_set() - fill in descriptor @d (host endian, as the tests use).
 * @d: the descriptor, in a ring or in an indirect table
 * @gpa: buffer address
 * @len: buffer length
 * @flags: HB_VRING_DESC_F_*
 * @next: the next descriptor's index, with HB_VRING_DESC_F_NEXT
 */
void hbt_desc_set(HbVringDesc *d, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next);

/**
 * struct HbtMemDisk - a disk in memory behind virtio-blk, for unit tests
 * and fuzz targets: any request outside it, or whose iovecs do not add up
 * to its byte count, aborts.
 * @data: the disk's bytes
 * @size: its length
 */
typedef struct HbtMemDisk {
    uint8_t *data;
    uint64_t size;
} HbtMemDisk;

/**
 * hbt_mem_disk_backend() - virtio-blk callbacks serving @d.
 * @d: the disk; it must outlive the backend
 * Return: the backend, with @d as its opaque pointer.
 */
HbVirtioBlkBackend hbt_mem_disk_backend(HbtMemDisk *d);

/* The order in which HbtAsyncQueue completes what it holds. */
enum {
    HBT_ASYNC_FIFO,
    HBT_ASYNC_LIFO,
    HBT_ASYNC_RANDOM,       /* seeded by HbtAsyncQueue.seed */
};

/**
 * struct HbtAsyncQueue - the state of an asynchronous memory disk
 * (hbt_mem_disk_async_backend()): the requests it holds, and the knobs
 * that say when and in which order it completes them.  Zero it, set the
 * knobs, then make the backend; the counters are read by the test.
 * @order: HBT_ASYNC_*
 * @seed: the pseudo-random generator's state (HBT_ASYNC_RANDOM, and which
 *     requests complete inline or fail when those knobs say "one in n");
 *     0 is taken as 1
 * @per_poll: at most this many completions per poll (0: no limit)
 * @idle_polls: this many polls that may not wait complete nothing between
 *     two that do (a device not ready yet); a poll that may wait always
 *     completes at least one held request
 * @service_us: the device serves one request at a time, each taking this
 *     long: a request is ready only that long after the previous
 *     completion (or its own submission, if the device was idle), and a
 *     poll that may wait sleeps until the first is ready, even past its
 *     wait_us (so that callers always make progress)
 * @copy_cost_us: each data transfer takes this long besides (where it
 *     runs: the submitter, the poll, or a worker thread)
 * @submit_delay_us: each submission on the owner thread takes this long
 *     (a slow submission path: the 100 ms budget tests use it)
 * @copy_at_submit: move the data when the request is submitted (as a
 *     write-back cache would), not when it completes
 * @inline_one_in: complete one submission in this many before submit
 *     returns (0: never), as a backend may
 * @fail_one_in: complete one request in this many with -EIO (0: never);
 *     with @fail_seq instead the choice is by submission number
 * @fail_seq: fail the requests whose submission number modulo @fail_one_in
 *     is @fail_one_in - 1, instead of pseudo-random ones
 * @owner: the thread that made the backend: a submission on any other
 *     thread (an offload worker) completes inline, as export/node-backend.c
 *     does on a thread without a completion context
 * @disk: the disk served (set by hbt_mem_disk_async_backend())
 * @head: the held requests, oldest first (private)
 * @tail: (private)
 * @queued: how many requests it holds now
 * @max_queued: the most it held at once
 * @submitted: requests submitted (any thread)
 * @completed: requests completed (any thread)
 * @failed: requests completed with -EIO
 * @offthread: requests submitted on a thread other than @owner
 */
typedef struct HbtAsyncIo HbtAsyncIo;
typedef struct HbtAsyncQueue {
    unsigned order;
    uint32_t seed;
    unsigned per_poll;
    unsigned idle_polls;
    unsigned service_us;
    unsigned copy_cost_us;
    unsigned submit_delay_us;
    bool copy_at_submit;
    unsigned inline_one_in;
    unsigned fail_one_in;
    bool fail_seq;
    void *owner;
    HbtMemDisk *disk;
    HbtAsyncIo *head, *tail;
    unsigned queued, max_queued;
    unsigned submitted, completed, failed, offthread;
    unsigned polls_or_fd;       /* poll_or_fd calls (the runner's sleeps on a kick) */
    /* private */
    unsigned idle_left;
    int64_t next_ready_ns;
} HbtAsyncQueue;

/**
 * hbt_mem_disk_async_backend() - virtio-blk callbacks serving @d
 * asynchronously: submit holds each request in @q (in its io->priv),
 * poll completes them as @q's knobs say, with hb_virtio_blk_io_done(), on
 * the thread that made the backend.
 * @d: the disk; it must outlive the backend
 * @q: zeroed, knobs set; it must outlive the backend, and hold nothing
 *     when the backend is dropped
 * Return: the backend, with @q as its opaque pointer; like
 * export/node-backend.c it has no synchronous callbacks.
 */
HbVirtioBlkBackend hbt_mem_disk_async_backend(HbtMemDisk *d, HbtAsyncQueue *q);

/**
 * hbt_async_queue_fuzz() - zero @q and set its knobs from @bits, for fuzz
 * targets: order, completions per poll, idle polls, inline completions,
 * data moved at submission, failures and the seed (no delays: fuzzing
 * wants executions per second).
 * @q: the queue, holding nothing
 * @bits: taken from the input (a hash of it, or bytes of it)
 */
void hbt_async_queue_fuzz(HbtAsyncQueue *q, uint32_t bits);

/**
 * hbt_fnv1a() - FNV-1a hash of @len bytes at @data: fuzz targets derive
 * knobs from their input with it.
 * @data: the bytes
 * @len: their number
 * Return: the hash.
 */
uint32_t hbt_fnv1a(const uint8_t *data, size_t len);

#endif
