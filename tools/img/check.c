/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/check.c — the check subcommand (qcow2), with qemu-img check's exit statuses. */

#include <getopt.h>

#include "tools/img/img.h"

#include "block/qcow2/qcow2.h"

/* qemu-img check's exit statuses. */
enum {
    CHECK_CLEAN = 0,
    CHECK_FAILED = 1,
    CHECK_CORRUPT = 2,
    CHECK_LEAKS = 3,
    CHECK_UNSUPPORTED = 63,
};

/* An ImageCheck counter: present only when not zero, as qemu-img prints it. */
static void add_nonzero(JsonBuilder *b, const char *name, uint64_t v)
{
    if (v) {
        json_builder_set_member_name(b, name);
        json_builder_add_int_value(b, (gint64)v);
    }
}

static void print_check_json(const char *filename, const HbQcow2CheckResult *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    /* ImageCheck's members; counters that are zero are left out, as QEMU does. */
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "filename");
    json_builder_add_string_value(b, filename);
    json_builder_set_member_name(b, "format");
    json_builder_add_string_value(b, "qcow2");
    json_builder_set_member_name(b, "check-errors");
    json_builder_add_int_value(b, (gint64)r->check_errors);
    add_nonzero(b, "image-end-offset", r->image_end_offset);
    add_nonzero(b, "corruptions", r->corruptions);
    add_nonzero(b, "leaks", r->leaks);
    add_nonzero(b, "total-clusters", r->total_clusters);
    add_nonzero(b, "allocated-clusters", r->allocated_clusters);
    add_nonzero(b, "fragmented-clusters", r->fragmented_clusters);
    add_nonzero(b, "compressed-clusters", r->compressed_clusters);
    add_nonzero(b, "leaks-fixed", r->leaks_fixed);
    add_nonzero(b, "corruptions-fixed", r->corruptions_fixed);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, true);
    printf("%s\n", text);
}

static void print_check_human(const HbQcow2CheckResult *r)
{
    if (r->leaks_fixed || r->corruptions_fixed) {
        printf("The following inconsistencies were found and repaired:\n\n"
               "    %" G_GUINT64_FORMAT " leaked clusters\n"
               "    %" G_GUINT64_FORMAT " corruptions\n\n"
               "Double checking the fixed image now...\n",
               r->leaks_fixed, r->corruptions_fixed);
    }
    if (r->corruptions) {
        printf("\n%" G_GUINT64_FORMAT " errors were found on the image.\n"
               "Data may be corrupted, or further writes to the image may "
               "corrupt it.\n", r->corruptions);
    }
    if (r->leaks) {
        printf("\n%" G_GUINT64_FORMAT " leaked clusters were found on the image.\n"
               "This means waste of disk space, but no harm to data.\n",
               r->leaks);
    }
    if (r->check_errors) {
        printf("\n%" G_GUINT64_FORMAT " internal errors have occurred during "
               "the check.\n", r->check_errors);
    }
    if (!r->corruptions && !r->leaks && !r->check_errors) {
        printf("No errors were found on the image.\n");
    }
    if (r->total_clusters && r->allocated_clusters) {
        double alloc = (double)r->allocated_clusters;
        printf("%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " = %0.2f%% allocated, %0.2f%% "
               "fragmented, %0.2f%% compressed clusters\n",
               r->allocated_clusters, r->total_clusters,
               100.0 * alloc / (double)r->total_clusters,
               100.0 * (double)r->fragmented_clusters / alloc,
               100.0 * (double)r->compressed_clusters / alloc);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" G_GUINT64_FORMAT "\n", r->image_end_offset);
    }
}

/*
 * A repair writes the image as qemu-img check -r does, holding QEMU's
 * write lock so that no other process (a VM, hotblockd, qemu-io, even a
 * reader) has it open meanwhile.  The lock is taken on the file alone: a
 * qcow2 node would refuse a dirty or corrupt image, which is what a
 * repair is for, and would write its header on its own.
 */
static HbChild *hold_for_repair(const char *name, GError **errp)
{
    HbImgOpenSpec spec = { .fmt = "file" };
    g_autoptr(HbNode) file = hb_img_open_image(name, &spec, errp);

    if (!file) {
        return NULL;
    }
    /* The user's edge holds its own reference on the node. */
    return hb_node_attach_user(file, HB_NODE_ANONYMOUS_USER,
                               HB_PERM_CONSISTENT_READ | HB_PERM_WRITE,
                               HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED, errp);
}

static int check_image(const char *name, unsigned fix, const char *output, bool quiet,
                       bool progress);

int hb_img_cmd_check(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, 'u' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    HbImgOpenSpec spec = { .read_only = true, .no_backing = true };
    const char *output = "human";
    const char *fmt = NULL;
    unsigned fix = 0;
    bool quiet = false, progress = false;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:pqUr:", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': fmt = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'r':
            if (g_str_equal(optarg, "leaks")) {
                fix = HB_QCOW2_FIX_LEAKS;
            } else if (g_str_equal(optarg, "all")) {
                fix = HB_QCOW2_FIX_LEAKS | HB_QCOW2_FIX_ERRORS;
            } else {
                return hb_img_usage_error("Unknown option value for -r (expecting 'leaks' "
                                          "or 'all'): %s", optarg);
            }
            break;
        case 'U': spec.force_share = true; break;
        case 'u': output = optarg; break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    const char *name = hb_img_output_and_one_image(argc, argv, output);
    if (!name) {
        return 1;
    }
    /* The progress line would break the JSON document on the same stream. */
    if (progress && g_str_equal(output, "json")) {
        fprintf(stderr, "%s: -p cannot be combined with --output=json\n", hb_img_prog);
        return CHECK_FAILED;
    }
    if (fmt && !hb_img_driver_by_name(fmt, &err)) {
        return hb_img_fail(err, NULL);
    }
    if (g_str_has_prefix(name, "json:")) {
        fprintf(stderr, "%s: check takes a plain image file name\n", hb_img_prog);
        return CHECK_FAILED;
    }
    if (!fmt) {
        if (access(name, R_OK) < 0) {
            fprintf(stderr, "%s: Could not open '%s': %s\n", hb_img_prog, name,
                    g_strerror(errno));
            return CHECK_FAILED;
        }
        fmt = hb_img_probe_format(name);
        if (!hb_img_format_supported(fmt, &err)) {
            return hb_img_open_fail(err, name);
        }
    }
    if (!g_str_equal(fmt, "qcow2")) {
        fprintf(stderr, "%s: This image format does not support checks\n", hb_img_prog);
        return CHECK_UNSUPPORTED;
    }
    if (fix && spec.force_share) {
        fprintf(stderr, "%s: Could not open '%s': force-share=on can only be used with "
                "read-only images\n", hb_img_prog, name);
        return CHECK_FAILED;
    }

    /*
     * Hold the image open as qemu-img check does, read-only and refusing
     * writers (unless -U): the locks make a check of an image some other
     * process is writing fail up front instead of reporting that
     * process's metadata in flux as leaks, which invites a harmful repair.
     */
    HbChild *lock = NULL;
    g_autoptr(HbNode) held = NULL;
    if (fix) {
        lock = hold_for_repair(name, &err);
    } else {
        spec.fmt = fmt;
        held = hb_img_open_image(name, &spec, &err);
    }
    if (!lock && !held) {
        return hb_img_open_fail(err, name);
    }
    int ret = check_image(name, fix, output, quiet, progress && !quiet);
    hb_node_detach_user(lock);
    return ret;
}

static void show_progress(void *opaque, uint64_t done, uint64_t total)
{
    hb_img_progress(true, done, total);
}

/* Check (and with @fix repair) @name, held open by the caller; the exit status. */
static int check_image(const char *name, unsigned fix, const char *output, bool quiet,
                       bool progress)
{
    GError *err = NULL;
    HbQcow2CheckResult res;
    g_autoptr(GString) report = g_string_new(NULL);
    const HbQcow2Progress show = { .fn = show_progress };
    bool ok = hb_qcow2_check_with_progress(name, fix, &res, report,
                                           progress ? &show : NULL, &err);

    if (progress) {
        printf("\n");      /* after the last progress line, as convert -p ends */
    }
    /* Per-cluster findings go to stderr, as qemu-img prints them. */
    fputs(report->str, stderr);
    if (!ok) {
        fprintf(stderr, "%s: Check failed: %s\n", hb_img_prog, err->message);
        g_error_free(err);
        return CHECK_FAILED;
    }
    if (g_str_equal(output, "json")) {
        print_check_json(name, &res);
    } else if (!quiet) {
        /* As qemu-img -q: the exit status says it all. */
        print_check_human(&res);
    }
    if (res.check_errors) {
        return CHECK_FAILED;
    }
    if (res.corruptions) {
        return CHECK_CORRUPT;
    }
    return res.leaks ? CHECK_LEAKS : CHECK_CLEAN;
}
