/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/create.c — the create subcommand, with qemu-img 7.2's rules for backing files. */

#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "tools/img/img.h"

#include "util/error.h"

/*
 * The options each format takes here.  -o help lists them alphabetically
 * (this table's order), in qemu-img's layout.  The "Formatting" line
 * lists, in @rank order (the order of the format's option list in QEMU,
 * then hotblock's own), every one that was given or has a @def.
 */
typedef struct CreateOptHelp {
    const char *fmt;
    const char *opt;        /* "name=<type>" */
    const char *what;
    int rank;
    const char *def;        /* printed when not given; NULL: not printed */
} CreateOptHelp;

static const CreateOptHelp create_opts_help[] = {
    { "raw", "preallocation=<str>", "Preallocation mode (allowed values: off, falloc, full)", 2 },
    { "raw", "size=<size>", "Virtual disk size", 1 },
    { "qcow2", "backing_file=<str>", "File name of a base image", 7 },
    { "qcow2", "backing_fmt=<str>", "Image format of the base image", 8 },
    { "qcow2", "cluster_size=<size>", "qcow2 cluster size", 1, "65536" },
    { "qcow2", "compat=<str>", "Compatibility level (v2 [0.10] or v3 [1.1])", 6 },
    { "qcow2", "compression_type=<str>",
      "Compression method used for image cluster compression (allowed values: zlib)", 4, "zlib" },
    { "qcow2", "extended_l2=<bool (on/off)>", "Extended L2 tables (allowed values: off)", 2, "off" },
    { "qcow2", "lazy_refcounts=<bool (on/off)>", "Postpone refcount updates", 9, "off" },
    { "qcow2", "preallocation=<str>",
      "Preallocation mode (allowed values: off, metadata, falloc, full)", 3 },
    { "qcow2", "refcount_bits=<num>", "Width of a reference count entry in bits", 10, "16" },
    { "qcow2", "size=<size>", "Virtual disk size", 5 },
    { "luks", "cipher-alg=<str>", "Name of encryption cipher algorithm", 3 },
    { "luks", "cipher-mode=<str>", "Name of encryption cipher mode", 4 },
    { "luks", "detached-header=<bool (on/off)>", "Create a detached LUKS header (no payload)", 10 },
    { "luks", "format=<str>", "LUKS version to write: luks1 (default) or luks2", 11 },
    { "luks", "hash-alg=<str>", "Name of encryption hash algorithm", 7 },
    { "luks", "iter-time=<num>", "Time to spend in PBKDF in milliseconds", 8 },
    { "luks", "ivgen-alg=<str>", "Name of IV generator algorithm", 5 },
    { "luks", "ivgen-hash-alg=<str>", "Name of IV generator hash algorithm", 6 },
    { "luks", "key-secret=<str>", "ID of secret providing LUKS passphrase", 2 },
    { "luks", "pbkdf=<str>", "LUKS2 keyslot KDF: argon2id (default), argon2i, pbkdf2", 12 },
    { "luks", "pbkdf-memory=<num>", "LUKS2 Argon2 memory in KiB (default: benchmarked)", 13 },
    { "luks", "pbkdf-parallel=<num>", "LUKS2 Argon2 threads (default: min(4, CPUs))", 14 },
    { "luks", "preallocation=<str>",
      "Preallocation mode of the payload (allowed values: off, metadata, falloc, full)", 9 },
    { "luks", "sector-size=<num>", "LUKS2 encryption sector size: 512 (default) to 4096", 15 },
    { "luks", "size=<size>", "Virtual disk size", 1 },
};

/* @e's option name: its "name=<type>" up to the '='. */
static char *opt_name(const CreateOptHelp *e)
{
    return g_strndup(e->opt, (gsize)(strchr(e->opt, '=') - e->opt));
}

/* @fmt's entry for option @name, or NULL. */
static const CreateOptHelp *find_opt(const char *fmt, const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(create_opts_help); i++) {
        const CreateOptHelp *e = &create_opts_help[i];
        g_autofree char *n = opt_name(e);
        if (g_str_equal(e->fmt, fmt) && g_str_equal(n, name)) {
            return e;
        }
    }
    return NULL;
}

/* As qemu-img, an option @fmt does not have is refused before anything is printed. */
static bool check_opt_names(const char *fmt, GHashTable *opts, GError **errp)
{
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        /* qemu-img says that of a backing file first, whatever else is wrong. */
        if (g_str_equal(key, "backing_file") && !find_opt(fmt, key)) {
            hb_error_set(errp, "Backing file not supported for file format '%s'", fmt);
            return false;
        }
    }
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!find_opt(fmt, key)) {
            hb_error_set(errp, "Invalid parameter '%s'", (const char *)key);
            return false;
        }
    }
    return true;
}

/* -f luks -o detached-header=on: a header alone, which takes no size. */
static bool detached_header(const char *fmt, GHashTable *opts)
{
    const char *v = g_hash_table_lookup(opts, "detached-header");

    return g_str_equal(fmt, "luks") && v &&
           (g_str_equal(v, "on") || g_str_equal(v, "true") || g_str_equal(v, "yes"));
}

/*
 * qemu-img's "Formatting 'FILE', fmt=FMT name=value ..." line, printed
 * before the image is made: sizes as numbers of bytes, the rest as given.
 */
static void print_formatting(const char *filename, const char *fmt, GHashTable *opts,
                             int64_t size)
{
    int last_rank = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(create_opts_help); i++) {
        last_rank = MAX(last_rank, create_opts_help[i].rank);
    }
    printf("Formatting '%s', fmt=%s", filename, fmt);
    for (int rank = 1; rank <= last_rank; rank++) {
        for (size_t i = 0; i < G_N_ELEMENTS(create_opts_help); i++) {
            const CreateOptHelp *e = &create_opts_help[i];
            if (e->rank != rank || !g_str_equal(e->fmt, fmt)) {
                continue;
            }
            g_autofree char *name = opt_name(e);
            const char *v = g_hash_table_lookup(opts, name);
            int64_t n;
            if (g_str_equal(name, "size")) {
                if (size >= 0) {
                    printf(" size=%" G_GINT64_FORMAT, size);
                }
            } else if (v && g_str_has_suffix(e->opt, "<size>") && hb_img_parse_size(v, &n)) {
                printf(" %s=%" G_GINT64_FORMAT, name, n);
            } else if (v || e->def) {
                printf(" %s=%s", name, v ? v : e->def);
            }
        }
    }
    printf("\n");
    fflush(stdout);         /* before any error on stderr, as qemu-img's */
}

int hb_img_create_opts_help(const char *fmt)
{
    GError *err = NULL;

    if (!hb_img_driver_by_name(fmt, &err)) {
        return hb_img_fail(err, NULL);
    }
    printf("Supported %s options:\n", fmt);
    for (size_t i = 0; i < G_N_ELEMENTS(create_opts_help); i++) {
        if (g_str_equal(create_opts_help[i].fmt, fmt)) {
            printf("  %-22s - %s\n", create_opts_help[i].opt, create_opts_help[i].what);
        }
    }
    printf("\nThe protocol level may support further options.\n"
           "Specify the target filename to include those options.\n");
    return 0;
}

/*
 * -o preallocation for raw: off (sparse), falloc (posix_fallocate) or full
 * (zeroes written).  Taken out of @opts here, the file driver's work in
 * QEMU; *@mode is NULL for off.
 */
static bool take_raw_prealloc(GHashTable *opts, char **mode, GError **errp)
{
    *mode = g_strdup(g_hash_table_lookup(opts, "preallocation"));
    g_hash_table_remove(opts, "preallocation");
    if (!*mode || g_str_equal(*mode, "off")) {
        g_clear_pointer(mode, g_free);
        return true;
    }
    if (g_str_equal(*mode, "falloc") || g_str_equal(*mode, "full")) {
        return true;
    }
    if (g_str_equal(*mode, "metadata")) {
        hb_error_set(errp, "Unsupported preallocation mode: metadata");
    } else {
        hb_error_set(errp, "invalid parameter value: %s", *mode);
    }
    return false;
}

static bool raw_prealloc(const char *filename, const char *mode, int64_t size, GError **errp)
{
    int fd = open(filename, O_WRONLY | O_CLOEXEC);
    int ret = fd < 0 ? errno : 0;

    if (!ret && g_str_equal(mode, "falloc")) {
        ret = posix_fallocate(fd, 0, size);
    } else if (!ret) {
        g_autofree uint8_t *zero = g_malloc0(HB_IMG_COPY_CHUNK);
        for (int64_t off = 0; off < size && !ret; off += HB_IMG_COPY_CHUNK) {
            size_t n = (size_t)MIN((int64_t)HB_IMG_COPY_CHUNK, size - off);
            if (pwrite(fd, zero, n, off) != (ssize_t)n) {
                ret = errno ? errno : EIO;
            }
        }
        if (!ret && fsync(fd) < 0) {
            ret = errno;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    if (ret) {
        hb_error_set_errno(errp, ret, "Could not preallocate data for the new file");
        unlink(filename);
        return false;
    }
    return true;
}

/* The backing file's name as the new image will resolve it: next to @filename. */
static char *backing_path(const char *filename, const char *backing)
{
    if (g_path_is_absolute(backing) || g_str_has_prefix(backing, "json:")) {
        return g_strdup(backing);
    }
    g_autofree char *dir = g_path_get_dirname(filename);
    if (g_str_equal(dir, ".")) {
        return g_strdup(backing);   /* "base.qcow2" in messages, as qemu-img */
    }
    return g_build_filename(dir, backing, NULL);
}

/*
 * qemu-img 7.2 refuses a backing file without its format (probing it
 * each time the overlay opens is how a raw backing file that looks like
 * qcow2 turns into a security hole), and unless -u it opens the backing
 * file, so an overlay over a missing or unreadable one is never made.
 * Fills in *@size from the backing file when none was given.
 */
static bool check_backing(const char *filename, GHashTable *opts, bool unsafe,
                          int64_t *size, GError **errp)
{
    const char *backing = g_hash_table_lookup(opts, "backing_file");
    const char *bfmt = g_hash_table_lookup(opts, "backing_fmt");

    if (!backing) {
        return true;
    }
    g_autofree char *path = backing_path(filename, backing);
    if (!bfmt) {
        hb_error_set(errp, "Backing file specified without backing format\n"
                     "Detected format of %s.", hb_img_probe_format(path));
        return false;
    }
    if (unsafe) {
        if (*size < 0) {
            hb_error_set(errp, "Image creation needs a size parameter");
            return false;
        }
        return true;
    }
    /* As qemu-img: read-only, sharing everything, its own backing not followed. */
    if (!hb_img_driver_by_name(bfmt, errp)) {
        return false;
    }
    HbImgOpenSpec spec = { .fmt = bfmt, .read_only = true, .force_share = true,
                           .no_backing = true };
    GError *local = NULL;
    g_autoptr(HbNode) node = hb_img_open_image(path, &spec, &local);
    if (!node) {
        /* The file driver's errors name the file already. */
        bool named = g_str_has_prefix(local->message, "Could not open '");
        hb_error_set(errp, "%s%s%s%s\nCould not open backing image.",
                     named ? "" : "Could not open '", named ? "" : path,
                     named ? "" : "': ", local->message);
        g_error_free(local);
        return false;
    }
    if (*size < 0) {
        *size = hb_node_get_length(node);
    }
    return true;
}

int hb_img_cmd_create(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
    const char *fmt = "raw";
    bool quiet = false, unsafe = false;
    GError *err = NULL;
    int64_t size = -1;
    int c;

    while ((c = getopt_long(argc, argv, "hf:o:qb:F:u", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help("create"); return 0;
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'u': unsafe = true; break;
        case 'b':
            g_hash_table_insert(opts, g_strdup("backing_file"), g_strdup(optarg));
            break;
        case 'F':
            g_hash_table_insert(opts, g_strdup("backing_fmt"), g_strdup(optarg));
            break;
        case 'o':
        case 'j':
            if (!hb_img_create_option(c, optarg, opts, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    const char *help = g_hash_table_lookup(opts, "help");
    if (help || g_hash_table_contains(opts, "?")) {
        return hb_img_create_opts_help(fmt);
    }
    if (optind >= argc) {
        return hb_img_usage_error("%s", "Expecting image file name");
    }
    const char *filename = argv[optind++];
    if (optind < argc) {
        if (!hb_img_parse_size(argv[optind], &size)) {
            return hb_img_usage_error("Invalid image size specified: '%s'", argv[optind]);
        }
        optind++;
    }
    if (optind != argc) {
        return hb_img_usage_error("Unexpected argument: %s", argv[optind]);
    }
    if (hb_img_format_known_elsewhere(fmt)) {
        hb_error_set(&err, "hotblock-img does not create %s images (it creates raw, qcow2 "
                     "and luks); qemu-img create -f %s makes one", fmt, fmt);
        return hb_img_fail(err, filename);
    }
    if (!hb_img_driver_by_name(fmt, &err) || !check_opt_names(fmt, opts, &err)) {
        return hb_img_fail(err, filename);
    }
    /* SIZE, or -o size=: not both (qemu-img's text). */
    const char *osize = g_hash_table_lookup(opts, "size");
    if (osize && size >= 0) {
        hb_error_set(&err, "The image size must be specified only once");
        return hb_img_fail(err, filename);
    }
    if (osize && !hb_img_parse_size(osize, &size)) {
        return hb_img_bad_size("image size");
    }
    g_hash_table_remove(opts, "size");
    if (!check_backing(filename, opts, unsafe, &size, &err)) {
        return hb_img_fail(err, filename);
    }
    /* Every format here needs one, but a detached LUKS header. */
    if (size < 0 && !detached_header(fmt, opts)) {
        hb_error_set(&err, "Image creation needs a size parameter");
        return hb_img_fail(err, filename);
    }
    if (!quiet) {
        print_formatting(filename, fmt, opts, size);
    }
    /* qemu-img's sizes are whole sectors: 1000 makes a 1024-byte image. */
    if (size >= 0) {
        size = (int64_t)(((uint64_t)size + 511) & ~(uint64_t)511);
    }
    g_autofree char *prealloc = NULL;
    if (g_str_equal(fmt, "raw") && !take_raw_prealloc(opts, &prealloc, &err)) {
        return hb_img_fail(err, filename);
    }
    if (!hb_img_create_image(fmt, filename, size, opts, &err) ||
        (prealloc && !raw_prealloc(filename, prealloc, size, &err))) {
        return hb_img_fail(err, filename);
    }
    return 0;
}
