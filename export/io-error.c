/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/io-error.c — BLOCK_IO_ERROR for failed guest requests, rate-limited per export. */
#include "export/io-error.h"

#include <errno.h>

#include "qapi-events.h"
#include "util/log.h"

/* The window word: the second in the high bits, the events sent in the low 8. */
#define COUNT_BITS 8
#define COUNT_MASK ((UINT64_C(1) << COUNT_BITS) - 1)

G_STATIC_ASSERT(HB_EXPORT_IO_ERROR_RATE > 0 && HB_EXPORT_IO_ERROR_RATE <= COUNT_MASK);

/* Take one event of the current second's allowance; false if none is left. */
static bool take_event(HbExportIoErrors *r, int64_t now_us)
{
    uint64_t second = (uint64_t)(now_us / G_USEC_PER_SEC);
    uint64_t cur = __atomic_load_n(&r->window, __ATOMIC_RELAXED);
    uint64_t next;

    do {
        /* A thread with an older clock reading counts in the newer second. */
        if (second > cur >> COUNT_BITS) {
            next = second << COUNT_BITS | 1;
        } else if ((cur & COUNT_MASK) >= HB_EXPORT_IO_ERROR_RATE) {
            return false;
        } else {
            next = cur + 1;
        }
    } while (!__atomic_compare_exchange_n(&r->window, &cur, next, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return true;
}

bool hb_export_io_error_at(HbExportIoErrors *r, bool is_write, int err, int64_t now_us)
{
    if (!take_event(r, now_us)) {
        __atomic_add_fetch(&r->suppressed, 1, __ATOMIC_RELAXED);
        return false;
    }
    /* g_strerror() is thread-safe and keeps one string per errno value. */
    hb_log(HB_LOG_WARNING, "node '%s': %s failed: %s (the guest got an I/O error)",
           r->node_name, is_write ? "write" : "read", g_strerror(-err));
    qapi_event_send_block_io_error("", r->node_name,
                                   is_write ? QAPI_IO_OPERATION_TYPE_WRITE
                                            : QAPI_IO_OPERATION_TYPE_READ,
                                   QAPI_BLOCK_ERROR_ACTION_REPORT,
                                   true, err == -ENOSPC, g_strerror(-err));
    return true;
}

void hb_export_io_error(HbExportIoErrors *r, bool is_write, int err)
{
    hb_export_io_error_at(r, is_write, err, g_get_monotonic_time());
}

uint64_t hb_export_io_errors_suppressed(const HbExportIoErrors *r)
{
    return __atomic_load_n(&r->suppressed, __ATOMIC_RELAXED);
}
