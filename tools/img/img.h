/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/img.h — what hotblock-img's subcommands share. */
#ifndef HB_TOOLS_IMG_H
#define HB_TOOLS_IMG_H

/*
 * Every format-specific action goes through the driver table: create is
 * HbDriver.create, info is the node's query structures, convert is plain
 * node I/O.  A new format needs no code here beyond its table entry.
 * Images are opened as block graphs exactly as the daemon opens them, so
 * "json:{...}" filenames describe whole graphs (a luks node with a
 * detached header, say).  One file per subcommand.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/node.h"

#define HB_IMG_COPY_CHUNK (1024 * 1024)

/* The long options of a subcommand that opens one image read-only (getopt_long). */
#define HB_IMG_LOPTS_READER \
    { "help", no_argument, NULL, 'h' }, \
    { "object", required_argument, NULL, 'j' }, \
    { "image-opts", no_argument, NULL, 'i' }, \
    { "force-share", no_argument, NULL, 'U' }

extern const char *hb_img_prog;

typedef struct HbImgOpenSpec {
    const char *fmt;       /* -f, or NULL to probe */
    bool image_opts;       /* @name is key=value options */
    bool read_only;
    bool force_share;
    const char *key_secret;/* added to a luks root without one */
    bool no_backing;       /* a qcow2 root from a file name: "backing": null */
    const char *cache;     /* -t/-T: none, writeback, unsafe, directsync, writethrough */
    const char *aio;       /* the file nodes' aio (threads, io_uring), or NULL: their default */
} HbImgOpenSpec;

void hb_img_usage(FILE *f);
/* Print @name's synopsis and what it does (COMMAND --help) to stdout. */
void hb_img_cmd_help(const char *name);
/* Print "hotblock-img: [@context: ]message", free @err; return 1. */
int hb_img_fail(GError *err, const char *context);
/* Print a usage error (@fmt with one %s) and the --help hint; return 1. */
int hb_img_usage_error(const char *fmt, const char *arg);
const char *hb_img_output_and_one_image(int argc, char **argv, const char *output);
bool hb_img_add_object(const char *text, GError **errp);
/* --object's getopt case: true, or false having printed why (exit 1). */
bool hb_img_object_option(const char *text);
/* The one image name after the options, or NULL after qemu-img's usage error. */
const char *hb_img_one_image(int argc, char **argv);
bool hb_img_parse_size(const char *s, int64_t *out);
/* qemu-img's two-line complaint about a size it could not parse (@what: "start offset"); return 1. */
int hb_img_bad_size(const char *what);
/* -p: qemu-img's progress line, "    (42.00/100%)" and a carriage return, when @on. */
void hb_img_progress(bool on, uint64_t done, uint64_t total);
/* qemu-img's human sizes: "1.5 MiB" (three significant digits, binary units). */
char *hb_img_size_to_str(uint64_t val);
bool hb_img_parse_create_opts(const char *text, GHashTable *opts, GError **errp);
const HbDriver *hb_img_driver_by_name(const char *fmt, GError **errp);
bool hb_img_create_image(const char *fmt, const char *filename, int64_t size,
                         GHashTable *opts, GError **errp);
bool hb_img_create_option(int c, const char *arg, GHashTable *opts, GError **errp);
/* -o help (create, convert): @fmt's creation options in qemu-img's layout; the exit status. */
int hb_img_create_opts_help(const char *fmt);
/* The format's name from the file's magic: "raw" when none matches. */
const char *hb_img_probe_format(const char *filename);
/* False (naming @fmt) unless hotblock has a driver for @fmt; the caller names the file. */
bool hb_img_format_supported(const char *fmt, GError **errp);

/**
 * hb_img_format_known_elsewhere() - whether @fmt is an image format QEMU
 * has and hotblock does not (vmdk, vdi, vhdx, qed, vpc, parallels, dmg,
 * qcow, ...): one to name as such rather than as unknown.
 */
bool hb_img_format_known_elsewhere(const char *fmt);
/*
 * Print "hotblock-img: Could not open '@name': message" as qemu-img does,
 * with qemu-img's hint when a lock was in the way; free @err; return 1.
 */
int hb_img_open_fail(GError *err, const char *name);
HbNode *hb_img_open_image(const char *name, const HbImgOpenSpec *spec, GError **errp);
/* -t/-T: false (with qemu-img's "Invalid cache option: X") unless a cache mode. */
bool hb_img_cache_mode_valid(const char *mode, GError **errp);

int hb_img_cmd_info(int argc, char **argv);
int hb_img_cmd_check(int argc, char **argv);
int hb_img_cmd_create(int argc, char **argv);
int hb_img_cmd_convert(int argc, char **argv);
int hb_img_cmd_resize(int argc, char **argv);
int hb_img_cmd_compare(int argc, char **argv);
int hb_img_cmd_measure(int argc, char **argv);
int hb_img_cmd_snapshot(int argc, char **argv);
int hb_img_cmd_dd(int argc, char **argv);
int hb_img_cmd_amend(int argc, char **argv);

/* amend-qcow2.c: amend's qcow2 options (compat, lazy_refcounts, refcount_bits, size). */
bool hb_img_amend_qcow2(HbNode *node, GHashTable *opts, GError **errp);
void hb_img_amend_qcow2_help(void);
int hb_img_cmd_map(int argc, char **argv);
int hb_img_cmd_rebase(int argc, char **argv);
int hb_img_cmd_commit(int argc, char **argv);
int hb_img_cmd_bench(int argc, char **argv);

#endif
