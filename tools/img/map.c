/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/map.c — the map subcommand: an image's extents (data, zeroes, backing depth) as qemu-img map prints them. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>

#include "tools/img/img.h"

/*
 * The answers come from hb_node_block_status_chain() (block/block-status.c);
 * this file only walks the range in steps of at most 1 GiB, as qemu-img
 * does, joins neighbouring answers that say the same thing (and, with an
 * offset, continue each other in the same file) and prints them.
 */

#define MAP_STEP (1024 * 1024 * 1024ull)

typedef struct MapEntry {
    uint64_t start, length;
    HbBlockExtent ext;
} MapEntry;

static bool has_offset(const MapEntry *e)
{
    return e->ext.flags & HB_BS_OFFSET_VALID;
}

static bool mergeable(const MapEntry *a, const MapEntry *b)
{
    const unsigned same = HB_BS_DATA | HB_BS_ZERO | HB_BS_ALLOCATED | HB_BS_OFFSET_VALID;

    if (a->length == 0 || (a->ext.flags & same) != (b->ext.flags & same) ||
        a->ext.depth != b->ext.depth) {
        return false;
    }
    return !has_offset(a) ||
           (a->ext.file == b->ext.file && a->ext.map + a->length == b->ext.map);
}

/* One entry; false (after saying why) where human output cannot show it. */
static bool dump(const MapEntry *e, bool json, bool more, const char *name)
{
    unsigned f = e->ext.flags;

    if (json) {
        printf("{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %u,"
               " \"present\": %s, \"zero\": %s, \"data\": %s", e->start, e->length,
               e->ext.depth, (f & HB_BS_ALLOCATED) ? "true" : "false",
               (f & HB_BS_ZERO) ? "true" : "false", (f & HB_BS_DATA) ? "true" : "false");
        if (has_offset(e)) {
            printf(", \"offset\": %" PRIu64, e->ext.map);
        }
        printf(more ? "},\n" : "}");
        return true;
    }
    if (!(f & HB_BS_DATA)) {
        return true;    /* human output lists only where data lies */
    }
    if (!has_offset(e)) {
        fflush(stdout);
        fprintf(stderr, "%s: %s: File contains external, encrypted or compressed clusters.\n",
                hb_img_prog, name);
        return false;
    }
    g_autofree char *file = hb_node_filename(e->ext.file);
    printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->length,
           e->ext.map, file);
    return true;
}

/*
 * @next: the @bytes from @next->start to the end of the last sector of
 * @node, whose data ends at @real_end: zeroes, as QEMU's file driver
 * answers past the end of a file, at the offsets that continue those of
 * the node's last byte.
 */
static void tail_past_eof(HbNode *node, uint64_t real_end, MapEntry *next, uint64_t bytes)
{
    HbBlockExtent last;

    next->length = next->ext.bytes = bytes;
    next->ext.flags = HB_BS_ALLOCATED | HB_BS_ZERO;
    if (real_end && hb_node_block_status_chain(node, real_end - 1, 1, &last) == 0 &&
        (last.flags & HB_BS_OFFSET_VALID)) {
        next->ext.flags |= HB_BS_OFFSET_VALID;
        next->ext.file = last.file;
        next->ext.map = last.map + 1 + (next->start - real_end);
    }
}

static int map_image(HbNode *node, const char *name, bool json, int64_t start,
                     int64_t max_length)
{
    int64_t len = hb_node_get_length(node);
    if (len < 0) {
        fprintf(stderr, "%s: %s: Could not get the image's length: %s\n", hb_img_prog,
                name, g_strerror((int)-len));
        return 1;
    }
    /*
     * QEMU counts a node's length in 512-byte sectors: a 1000-byte raw
     * file maps 1024 bytes, the last 24 read as zeroes past the end of
     * the file (see tail_past_eof()).
     */
    uint64_t real_end = (uint64_t)len;
    uint64_t end = (real_end + 511) & ~511ull;
    if (max_length >= 0 && (uint64_t)max_length < end - MIN(end, (uint64_t)start)) {
        end = (uint64_t)start + (uint64_t)max_length;
    }
    MapEntry curr = { .start = (uint64_t)start };
    MapEntry next;

    if (json) {
        printf("[");
    } else {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    }
    for (uint64_t off = (uint64_t)start; off < end; off += next.length) {
        next = (MapEntry){ .start = off };
        if (off >= real_end) {
            tail_past_eof(node, real_end, &next, end - off);
            goto add;
        }
        uint64_t want = MIN(MAP_STEP, MIN(end, real_end) - off);
        int ret = hb_node_block_status_chain(node, off, want, &next.ext);
        if (ret < 0) {
            fflush(stdout);
            fprintf(stderr, "%s: %s: Could not read file metadata: %s\n", hb_img_prog, name,
                    g_strerror(-ret));
            return 1;
        }
        next.length = next.ext.bytes;
add:
        if (mergeable(&curr, &next)) {
            curr.length += next.length;
            continue;
        }
        if (curr.length && !dump(&curr, json, true, name)) {
            return 1;
        }
        curr = next;
    }
    if (!dump(&curr, json, false, name)) {
        return 1;
    }
    if (json) {
        printf("]\n");
    }
    return 0;
}

int hb_img_cmd_map(int argc, char **argv)
{
    enum { OPT_OUTPUT = 256, OPT_START, OPT_MAX_LEN };
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "start-offset", required_argument, NULL, OPT_START },
        { "max-length", required_argument, NULL, OPT_MAX_LEN },
        { NULL, 0, NULL, 0 },
    };
    HbImgOpenSpec spec = { .read_only = true };
    const char *output = "human";
    int64_t start = 0, max_length = -1;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': spec.fmt = optarg; break;
        case 'U': spec.force_share = true; break;
        case 'i': spec.image_opts = true; break;
        case OPT_OUTPUT: output = optarg; break;
        case OPT_START:
            if (!hb_img_parse_size(optarg, &start)) {
                return hb_img_bad_size("start offset");
            }
            break;
        case OPT_MAX_LEN:
            if (!hb_img_parse_size(optarg, &max_length)) {
                return hb_img_bad_size("max length");
            }
            break;
        case 'j':
            if (!hb_img_object_option(optarg)) {
                return 1;
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    const char *name = hb_img_output_and_one_image(argc, argv, output);
    if (!name) {
        return 1;
    }
    g_autoptr(HbNode) node = hb_img_open_image(name, &spec, &err);
    if (!node) {
        return hb_img_open_fail(err, name);
    }
    return map_image(node, name, g_str_equal(output, "json"), start, max_length);
}
