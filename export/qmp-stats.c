/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/qmp-stats.c — query-blockstats and block-latency-histogram-set. */
#include "block/acct.h"
#include "block/node.h"
#include "export/export.h"
#include "qapi-commands.h"
#include "util/error.h"

/*
 * QEMU accounts guest requests at the BlockBackend a device uses; here
 * the export is that backend, so an export entry carries the export's
 * counters over its node's entry (wr_highest_offset, the file below,
 * the backing chain).  Node entries carry only what the node layer
 * keeps, as QEMU's do.
 */

typedef struct StatsAcc {
    QapiBlockStatsList **tail;
    int64_t now_ns;
} StatsAcc;

static void append(StatsAcc *acc, QapiBlockStats *s)
{
    QapiBlockStatsList *e = g_new0(QapiBlockStatsList, 1);

    e->value = s;
    *acc->tail = e;
    acc->tail = &e->next;
}

static void node_entry(HbNode *node, void *opaque)
{
    append(opaque, hb_node_query_stats(node, false));
}

static void export_entry(HbExport *exp, void *opaque)
{
    StatsAcc *acc = opaque;
    QapiBlockStats *s = hb_node_query_stats(hb_export_node(exp), true);

    s->device = g_strdup(hb_export_id(exp));
    if (hb_export_is_device(exp)) {
        s->qdev = g_strdup(hb_export_id(exp));
    }
    hb_block_acct_query(hb_export_acct(exp), s->stats, acc->now_ns);
    append(acc, s);
}

bool qmp_query_blockstats(QapiQueryBlockstatsArgs *args, QapiBlockStatsList **ret,
                          GError **errp)
{
    StatsAcc acc = { .tail = ret, .now_ns = hb_block_acct_now() };

    (void)errp;
    *ret = NULL;
    if (args->has_query_nodes && args->query_nodes) {
        hb_node_foreach(node_entry, &acc);
    } else {
        hb_export_foreach(export_entry, &acc);
    }
    return true;
}

bool qmp_block_latency_histogram_set(QapiBlockLatencyHistogramSetArgs *args,
                                     GError **errp)
{
    HbExport *exp = hb_export_find(args->id);
    const QapiUint64List *rd = args->boundaries_read ? args->boundaries_read
                                                     : args->boundaries;
    const QapiUint64List *wr = args->boundaries_write ? args->boundaries_write
                                                      : args->boundaries;
    const QapiUint64List *fl = args->boundaries_flush ? args->boundaries_flush
                                                      : args->boundaries;

    if (!exp) {
        hb_error_set_code(errp, HB_ERROR_DEVICE_NOT_FOUND,
                          "Device '%s' not found", args->id);
        return false;
    }
    /* All checked before any is set: a bad list changes nothing. */
    if (!hb_block_acct_check_bounds(rd)) {
        hb_error_set(errp, "Device '%s' set read boundaries fail", args->id);
        return false;
    }
    if (!hb_block_acct_check_bounds(wr)) {
        hb_error_set(errp, "Device '%s' set write boundaries fail", args->id);
        return false;
    }
    if (!hb_block_acct_check_bounds(fl)) {
        hb_error_set(errp, "Device '%s' set flush boundaries fail", args->id);
        return false;
    }
    HbBlockAcct *a = hb_export_acct(exp);
    if (!rd && !wr && !fl) {
        for (int t = 0; t < HB_ACCT__MAX; t++) {
            hb_block_acct_set_histogram(a, t, NULL);
        }
        return true;
    }
    if (rd) {
        hb_block_acct_set_histogram(a, HB_ACCT_READ, rd);
    }
    if (wr) {
        hb_block_acct_set_histogram(a, HB_ACCT_WRITE, wr);
    }
    if (fl) {
        hb_block_acct_set_histogram(a, HB_ACCT_FLUSH, fl);
    }
    return true;
}
