/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/io-error.h — BLOCK_IO_ERROR: a guest request failed in the storage below an export. */
#ifndef HB_EXPORT_IO_ERROR_H
#define HB_EXPORT_IO_ERROR_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Theory of operation
 *
 * A request that fails below an export (EIO from a dying disk, ENOSPC
 * from a full file system) completes with VIRTIO_BLK_S_IOERR; the export
 * and the daemon go on.  The management side learns of it through
 * BLOCK_IO_ERROR, with the fields QEMU sends for a device whose error
 * policy is "report": device "" (an export's volume has no device name),
 * the export's node, read or write (flush, discard and write-zeroes count
 * as writes), action "report", nospace, and the strerror text.
 *
 * A guest can fail requests as fast as it can submit them, so events are
 * rate-limited per export: at most HB_EXPORT_IO_ERROR_RATE in each second
 * of the monotonic clock (so never more than twice that in any sliding
 * second); the rest are counted as suppressed.  The state is one 64-bit
 * word updated with compare-and-swap: callable from any thread (every
 * ring's I/O thread, the offload workers) without a lock, and the event
 * itself is a small bounded allocation handed to the main loop
 * (qmp/event.c).  Nothing here logs.
 */

/* Events per export and second of the monotonic clock; more are suppressed. */
#define HB_EXPORT_IO_ERROR_RATE 10

/**
 * struct HbExportIoErrors - one export's error reporter.
 * @node_name: the export's node (borrowed: it outlives the reporter)
 * @window: atomic; second of the monotonic clock << 8 | events sent in it
 * @suppressed: atomic; errors not sent because of the rate limit, in total
 *
 * Zeroed memory plus @node_name is a valid reporter; nothing to free.
 */
typedef struct HbExportIoErrors {
    const char *node_name;
    uint64_t window;
    uint64_t suppressed;
} HbExportIoErrors;

/**
 * hb_export_io_error() - report a failed guest request as BLOCK_IO_ERROR.
 * @r: the export's reporter
 * @is_write: the request wrote (write, flush, discard, write-zeroes)
 * @err: the request's result, a negative errno
 *
 * Any thread.  Never blocks; sends the event unless the export's rate is
 * used up for this second, in which case the error is only counted.
 */
void hb_export_io_error(HbExportIoErrors *r, bool is_write, int err);

/**
 * hb_export_io_error_at() - hb_export_io_error() at a given time.
 * @r: the export's reporter
 * @is_write: as for hb_export_io_error()
 * @err: as for hb_export_io_error()
 * @now_us: the monotonic clock, in microseconds (tests pass their own)
 *
 * Return: true if the event was sent, false if it was suppressed.
 */
bool hb_export_io_error_at(HbExportIoErrors *r, bool is_write, int err, int64_t now_us);

/**
 * hb_export_io_errors_suppressed() - how many errors the rate limit kept quiet.
 * @r: the export's reporter
 *
 * Return: the count since the export was added.
 */
uint64_t hb_export_io_errors_suppressed(const HbExportIoErrors *r);

#endif
