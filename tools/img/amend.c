/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/amend.c — the amend subcommand: qemu-img amend's syntax for
 * LUKS keyslots (LUKS1 and LUKS2), its -o options, texts and exit codes.
 * The rules themselves are block/luks-amend.c's, on the opened node. */

#include <getopt.h>

#include "block/luks-amend.h"
#include "tools/img/img.h"
#include "util/error.h"
#include "util/opts-take.h"

static int print_amend_help(void)
{
    printf("Amend options for 'luks':\n"
           "  iter-time=<num>        - Time to spend in PBKDF in milliseconds\n"
           "  keyslot=<num>          - Select a single keyslot to modify explicitly\n"
           "  new-secret=<str>       - New secret to set in the matching keyslots. "
           "Empty string to erase\n"
           "  old-secret=<str>       - Select all keyslots that match this password\n"
           "  state=<str>            - Select new state of affected keyslots "
           "(active/inactive)\n");
    return 0;
}

static bool take_int(GHashTable *opts, const char *key, bool *has, int64_t *out, GError **errp)
{
    g_autofree char *v = hb_opts_take_str(opts, key);
    char *end = NULL;

    if (!v) {
        return true;
    }
    *out = g_ascii_strtoll(v, &end, 10);
    if (!*v || *end || *out < INT32_MIN || *out > INT32_MAX) {
        hb_error_set(errp, "Parameter '%s' expects a number", key);
        return false;
    }
    *has = true;
    return true;
}

/* The secrets -o names, looked up (they belong to this thread here). */
typedef struct AmendSecrets {
    HbSecretBuf *new_secret, *old_secret;
} AmendSecrets;

static void amend_secrets_clear(AmendSecrets *as)
{
    hb_secret_buf_free(as->new_secret);
    hb_secret_buf_free(as->old_secret);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AmendSecrets, amend_secrets_clear)

/* The -o table as HbLuksAmendOpts, its secrets in @as. */
static bool amend_opts(GHashTable *opts, HbLuksAmendOpts *o, AmendSecrets *as, GError **errp)
{
    g_autofree char *state = hb_opts_take_str(opts, "state");
    int64_t slot = 0;


    if (!take_int(opts, "keyslot", &o->has_keyslot, &slot, errp) ||
        !take_int(opts, "iter-time", &o->has_iter_time, &o->iter_time_ms, errp)) {
        return false;
    }
    o->keyslot = (int)slot;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!g_str_equal(key, "new-secret") && !g_str_equal(key, "old-secret")) {
            hb_error_set(errp, "Invalid parameter '%s'", (char *)key);
            return false;
        }
    }
    if (!state) {
        hb_error_set(errp, "Parameter 'state' is missing");
        return false;
    }
    if (!g_str_equal(state, "active") && !g_str_equal(state, "inactive")) {
        hb_error_set(errp, "Parameter 'state' does not accept value '%s'", state);
        return false;
    }
    o->active = g_str_equal(state, "active");
    /* Last, as qemu-img: a bad option is named before a missing secret. */
    if (!hb_secret_lookup_utf8_opt(g_hash_table_lookup(opts, "new-secret"),
                                   &as->new_secret, errp) ||
        !hb_secret_lookup_utf8_opt(g_hash_table_lookup(opts, "old-secret"),
                                   &as->old_secret, errp)) {
        return false;
    }
    o->new_secret = as->new_secret;
    o->old_secret = as->old_secret;
    return true;
}

int hb_img_cmd_amend(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { "image-opts", no_argument, NULL, 'i' },
        { "force", no_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    HbImgOpenSpec spec = { .no_backing = true };
    bool have_opts = false;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:o:q", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': spec.fmt = optarg; break;
        case 'q': break;     /* amend prints nothing but errors anyway */
        case 'i': spec.image_opts = true; break;
        case 'F':
            /* qemu-img's --force only lets the last keyslot be erased,
             * which the LUKS code here always refuses. */
            return hb_img_usage_error("%s", "--force (erasing the last keyslot) is not "
                                      "supported");
        case 'o':
        case 'j':
            have_opts |= c == 'o';
            if (!hb_img_create_option(c, optarg, opts, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    if (!have_opts) {
        return hb_img_usage_error("%s", "Must specify options (-o)");
    }
    if (g_hash_table_contains(opts, "help")) {
        if (spec.fmt && g_str_equal(spec.fmt, "qcow2")) {
            hb_img_amend_qcow2_help();
            return 0;
        }
        return print_amend_help();
    }
    if (argc - optind != 1) {
        return hb_img_usage_error("%s", "Expecting one image file name");
    }
    const char *name = argv[optind];
    HbLuksAmendOpts o = { 0 };
    g_auto(AmendSecrets) as = { 0 };
    g_autoptr(HbNode) node = hb_img_open_image(name, &spec, &err);
    if (!node) {
        return hb_img_open_fail(err, name);
    }
    if (g_str_equal(node->drv->name, "qcow2")) {
        return hb_img_amend_qcow2(node, opts, &err) ? 0 : hb_img_fail(err, NULL);
    }
    /* The format first, as qemu-img: its options mean nothing elsewhere. */
    if (!hb_luks_amend_supported(node, &err) || !amend_opts(opts, &o, &as, &err) ||
        !hb_luks_amend_begin(node, &err)) {
        return hb_img_fail(err, NULL);
    }
    bool ok = hb_luks_amend_keyslots(node, &o, &err);
    hb_luks_amend_end(node);
    return ok ? 0 : hb_img_fail(err, NULL);
}
