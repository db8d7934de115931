/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/amend-qcow2.c — amend of a qcow2 image: qemu-img 7.2's -o options, texts and order. */

#include "block/qcow2/qcow2.h"
#include "tools/img/img.h"
#include "util/error.h"
#include "util/keyval.h"
#include "util/opts-take.h"
#include "util/size.h"

#include <string.h>

/* Options qemu-img takes at creation only: amend names them as such. */
static const char *const creation_only[] = {
    "cluster_size", "preallocation", "encryption", "encrypt.format", "compression_type",
    "extended_l2", NULL,
};

void hb_img_amend_qcow2_help(void)
{
    printf("Amend options for 'qcow2':\n"
           "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
           "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
           "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
           "  size=<size>            - Virtual disk size\n");
}

/* The -o table as HbQcow2AmendOpts and a size; false with @errp set. */
static bool parse(GHashTable *opts, HbQcow2AmendOpts *o, bool *has_size, uint64_t *size,
                  GError **errp)
{
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        for (unsigned i = 0; creation_only[i]; i++) {
            if (g_str_equal(key, creation_only[i])) {
                hb_error_set(errp, "Invalid parameter '%s'\n"
                             "This option is only supported for image creation", (char *)key);
                return false;
            }
        }
    }
    g_autofree char *compat = hb_opts_take_str(opts, "compat");
    g_autofree char *lazy = hb_opts_take_str(opts, "lazy_refcounts");
    g_autofree char *bits = hb_opts_take_str(opts, "refcount_bits");
    g_autofree char *sz = hb_opts_take_str(opts, "size");
    g_autofree char *backing = hb_opts_take_str(opts, "backing_file");
    g_autofree char *backing_fmt = hb_opts_take_str(opts, "backing_fmt");
    g_autofree char *data_file = hb_opts_take_str(opts, "data_file");

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (g_str_has_prefix(key, "encrypt.")) {
            hb_error_set(errp, "Can't amend encryption options - encryption not present");
        } else {
            hb_error_set(errp, "Invalid parameter '%s'", (char *)key);
        }
        return false;
    }
    *o = (HbQcow2AmendOpts){ .lazy_refcounts = -1 };
    if (compat) {
        if (g_str_equal(compat, "0.10") || g_str_equal(compat, "v2")) {
            o->version = 2;
        } else if (g_str_equal(compat, "1.1") || g_str_equal(compat, "v3")) {
            o->version = 3;
        } else {
            hb_error_set(errp, "Unknown compatibility level %s", compat);
            return false;
        }
    }
    if (lazy) {
        bool on;
        if (!hb_parse_bool(lazy, &on)) {
            hb_error_set(errp, "Parameter 'lazy_refcounts' expects 'on' or 'off'");
            return false;
        }
        o->lazy_refcounts = on;
    }
    if (bits) {
        char *end = NULL;
        gint64 v = g_ascii_strtoll(bits, &end, 10);
        if (!*bits || *end) {
            hb_error_set(errp, "Parameter 'refcount_bits' expects a number");
            return false;
        }
        if (v <= 0 || v > 64 || (v & (v - 1))) {
            hb_error_set(errp, "Refcount width must be a power of two and may not exceed 64 "
                         "bits");
            return false;
        }
        o->refcount_bits = (int)v;
    }
    if (sz) {
        if (!hb_parse_size(sz, size)) {
            hb_error_set(errp, "Parameter 'size' expects a non-negative number below 2^64\n"
                         "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                         "tera-, peta-\nand exabytes, respectively.");
            return false;
        }
        *has_size = true;
    }
    if (data_file) {
        hb_error_set(errp, "data-file can only be set for images that use an external data "
                     "file");
        return false;
    }
    if (backing || backing_fmt) {
        hb_error_set(errp, "Cannot amend the backing file\n"
                     "You can use 'qemu-img rebase' instead.");
        return false;
    }
    return true;
}

bool hb_img_amend_qcow2(HbNode *node, GHashTable *opts, GError **errp)
{
    HbQcow2AmendOpts o;
    bool has_size = false;
    uint64_t size = 0;

    if (!parse(opts, &o, &has_size, &size, errp)) {
        return false;
    }
    /*
     * QEMU's order: an upgrade first, a downgrade last (after the size,
     * so that what the new size needs, zero clusters, can still be
     * written out by it).
     */
    if (o.version == 2) {
        return (!has_size || hb_node_truncate(node, size, errp) == 0) &&
               hb_qcow2_node_amend(node, &o, errp);
    }
    return hb_qcow2_node_amend(node, &o, errp) &&
           (!has_size || hb_node_truncate(node, size, errp) == 0);
}
