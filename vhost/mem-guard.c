/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/mem-guard.c — a SIGBUS handler that turns a truncated shared page into a dropped connection. */
#include "vhost/mem-guard.h"

#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A connection maps at most 32 regions and an inflight buffer: 480 full ones. */
#define GUARD_SLOTS 16384

typedef struct GuardSlot {
    unsigned seq;           /* odd while written */
    uintptr_t start;        /* 0: free */
    uintptr_t end;
    int *flag;
} GuardSlot;

static GuardSlot slots[GUARD_SLOTS];
static GMutex slots_lock;   /* writers only; the handler never locks */
static size_t page_size;    /* sysconf() is not async-signal-safe: read once */

/* Read slot @i as the handler does; false if it is free or being written. */
static bool slot_read(unsigned i, uintptr_t *start, uintptr_t *end, int **flag)
{
    GuardSlot *s = &slots[i];
    unsigned seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

    if (seq & 1) {
        return false;
    }
    *start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
    *end = __atomic_load_n(&s->end, __ATOMIC_RELAXED);
    *flag = __atomic_load_n(&s->flag, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return *start && __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq;
}

static void slot_write(GuardSlot *s, uintptr_t start, uintptr_t end, int *flag)
{
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&s->start, start, __ATOMIC_RELAXED);
    __atomic_store_n(&s->end, end, __ATOMIC_RELAXED);
    __atomic_store_n(&s->flag, flag, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* Put zeroes at @addr: a small page, or a huge one if the mapping is hugetlbfs. */
static bool patch_page(uintptr_t addr, uintptr_t start, uintptr_t end)
{
    const size_t sizes[] = { page_size, 2u << 20, 1u << 30 };

    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        uintptr_t page = addr & ~(uintptr_t)(sizes[i] - 1);
        if (page < start || page + sizes[i] > end) {
            break;
        }
        if (mmap((void *)page, sizes[i], PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
            return true;
        }
    }
    return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *ucontext)
{
    uintptr_t addr = (uintptr_t)si->si_addr;
    int saved_errno = errno;

    /* Only an access past the end of a file is ours to repair. */
    for (unsigned i = 0; si->si_code == BUS_ADRERR && i < GUARD_SLOTS; i++) {
        uintptr_t start, end;
        int *flag;

        if (slot_read(i, &start, &end, &flag) && addr >= start && addr < end) {
            if (patch_page(addr, start, end)) {
                __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
                errno = saved_errno;
                return;     /* the access is retried and now succeeds */
            }
            break;
        }
    }
    /*
     * Not ours: die as without the handler.  A fault is retried on return
     * and raises SIGBUS again; one sent by kill() is raised here.
     */
    signal(SIGBUS, SIG_DFL);
    if (si->si_code <= 0) {
        raise(SIGBUS);
    }
    errno = saved_errno;
}

static gpointer install_handler(gpointer unused)
{
    struct sigaction sa;
    long ps = sysconf(_SC_PAGESIZE);

    page_size = ps > 0 ? (size_t)ps : 4096;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    return NULL;
}

int hb_mem_guard_add(void *start, size_t len, int *fault_flag)
{
    static GOnce once = G_ONCE_INIT;
    int ret = -ENOSPC;

    g_once(&once, install_handler, NULL);
    g_mutex_lock(&slots_lock);
    for (unsigned i = 0; i < GUARD_SLOTS; i++) {
        if (!slots[i].start) {
            slot_write(&slots[i], (uintptr_t)start, (uintptr_t)start + len, fault_flag);
            ret = 0;
            break;
        }
    }
    g_mutex_unlock(&slots_lock);
    return ret;
}

void hb_mem_guard_remove(void *start)
{
    g_mutex_lock(&slots_lock);
    for (unsigned i = 0; i < GUARD_SLOTS; i++) {
        if (slots[i].start == (uintptr_t)start) {
            slot_write(&slots[i], 0, 0, NULL);
            break;
        }
    }
    g_mutex_unlock(&slots_lock);
}
