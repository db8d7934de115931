/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/snapshot.c — the snapshot subcommand: listing a qcow2 image's internal snapshots as qemu-img does. */

#include <getopt.h>
#include <time.h>

#include "tools/img/img.h"

#include "block/qcow2/qcow2.h"

/* qemu-img's columns: ID, TAG, VM SIZE, DATE, VM CLOCK, ICOUNT. */
static void print_snapshot(const HbQcow2SnapshotInfo *si)
{
    g_autofree char *vm = hb_img_size_to_str(si->vm_state_size);
    time_t t = (time_t)si->date_sec;
    struct tm tm;
    char date[32] = "";
    uint64_t ms = si->vm_clock_nsec / 1000000;
    g_autofree char *clock = g_strdup_printf("%02u:%02u:%02u.%03u",
                                             (unsigned)(ms / 3600000),
                                             (unsigned)(ms / 60000 % 60),
                                             (unsigned)(ms / 1000 % 60),
                                             (unsigned)(ms % 1000));
    g_autofree char *icount = si->icount >= 0
                              ? g_strdup_printf("%" G_GINT64_FORMAT, si->icount) : g_strdup("");

    if (localtime_r(&t, &tm)) {
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    }
    printf("%-9s %-16s %8s%20s%13s%11s\n", si->id, si->name, vm, date, clock, icount);
}

int hb_img_cmd_snapshot(int argc, char **argv)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { NULL, 0, NULL, 0 },
    };
    HbImgOpenSpec spec = { .read_only = true, .no_backing = true };
    bool list = false, quiet = false;
    const char *other = NULL;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:lqUc:a:d:", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': spec.fmt = optarg; break;
        case 'l': list = true; break;
        case 'q': quiet = true; break;
        case 'U': spec.force_share = true; break;
        case 'i': spec.image_opts = true; break;
        case 'c': other = "-c"; break;
        case 'a': other = "-a"; break;
        case 'd': other = "-d"; break;
        case 'j':
            if (!hb_img_add_object(optarg, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    if (optind != argc - 1) {
        return hb_img_usage_error("%s", "Expecting one image file name");
    }
    const char *name = argv[optind];
    if (other) {
        /* Internal snapshots live inside the image a VM writes: hotblock keeps none. */
        fprintf(stderr, "%s: %s: snapshot %s is not supported: hotblock does not take "
                "or apply internal snapshots (only -l lists them)\n", hb_img_prog, name, other);
        return 1;
    }
    if (!list) {
        return hb_img_usage_error("%s", "snapshot needs -l");
    }
    /* Open as info does: the image's locks, and its format checked. */
    g_autoptr(HbNode) node = hb_img_open_image(name, &spec, &err);
    if (!node) {
        return hb_img_open_fail(err, name);
    }
    const char *fmt = spec.fmt ? spec.fmt : hb_img_probe_format(name);
    if (spec.image_opts || g_str_has_prefix(name, "json:") || !g_str_equal(fmt, "qcow2")) {
        return 0;   /* only qcow2 has internal snapshots: none to list */
    }
    g_autoptr(GArray) snaps = hb_qcow2_list_snapshots(name, &err);
    if (!snaps) {
        return hb_img_fail(err, name);
    }
    if (snaps->len && !quiet) {
        printf("Snapshot list:\n%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE",
               "DATE", "VM CLOCK", "ICOUNT");
        for (guint i = 0; i < snaps->len; i++) {
            print_snapshot(&g_array_index(snaps, HbQcow2SnapshotInfo, i));
        }
    }
    return 0;
}
