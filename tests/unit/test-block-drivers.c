/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-drivers.c — file, raw, null-co, luks edge cases through the node API. */
#include "test-block-common.h"
#include "block/info.h"
#include "crypto/secret.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;

static HbNode *must_open(const char *j)
{
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);

    g_assert_no_error(err);
    return n;
}

static void test_file_short(void)
{
    g_autofree char *path = make_file(tmpdir, "short.img", 1000);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"raw\",\"node-name\":\"s\",\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}", path);
    HbNode *n = must_open(j);
    guchar buf[2048];

    g_assert_cmpint(hb_node_get_length(n), ==, 1000);
    g_assert_cmpint(hb_node_pread(n, 0, buf, 1000), ==, 0);
    for (int i = 0; i < 1000; i++) {
        g_assert_cmpint(buf[i], ==, i % 251);
    }
    /* Past the end of a (non-growable) raw node: refused, nothing read. */
    g_assert_cmpint(hb_node_pread(n, 990, buf, 20), ==, -EINVAL);
    g_assert_cmpint(hb_node_pwrite(n, 1000, buf, 1, 0), ==, -EINVAL);
    g_assert_cmpint(hb_node_pread(n, UINT64_MAX - 1, buf, 4), ==, -EINVAL);
    g_assert_cmpint(hb_node_pread(n, 1000, buf, 0), ==, 0);
    /* The file node under it reads zeroes past EOF (formats grow files). */
    HbNode *f = hb_node_child(n, "file")->node;
    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(hb_node_pread(f, 900, buf, 200), ==, 0);
    g_assert_cmpint(buf[0], ==, 900 % 251);
    g_assert_cmpint(buf[150], ==, 0);
    hb_node_unref(n);
}

static void test_raw_window(void)
{
    g_autofree char *path = make_file(tmpdir, "win.img", 8192);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"raw\",\"node-name\":\"w\",\"offset\":1000,\"size\":3000,"
        "\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", path);
    HbNode *n = must_open(j);
    guchar buf[4096];

    g_assert_cmpint(hb_node_get_length(n), ==, 3000);
    g_assert_cmpint(hb_node_pread(n, 0, buf, 10), ==, 0);
    g_assert_cmpint(buf[0], ==, 1000 % 251);
    memset(buf, 0x5a, sizeof(buf));
    g_assert_cmpint(hb_node_pwrite(n, 2990, buf, 10, HB_REQ_FUA), ==, 0);
    g_assert_cmpint(hb_node_pwrite(n, 2995, buf, 10, 0), ==, -EINVAL);
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 0, 4, 0), ==, 0);
    hb_node_unref(n);

    g_autofree gchar *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 8192);
    g_assert_cmpint((guchar)data[999], ==, 999 % 251);
    g_assert_cmpint(data[1000], ==, 0);
    g_assert_cmpint(data[1003], ==, 0);
    g_assert_cmpint((guchar)data[1004], ==, 1004 % 251);
    g_assert_cmpint((guchar)data[3989], ==, 3989 % 251);
    g_assert_cmpint(data[3990], ==, 0x5a);
    g_assert_cmpint(data[3999], ==, 0x5a);
    g_assert_cmpint((guchar)data[4000], ==, 4000 % 251);
}

static void test_direct_unaligned(void)
{
    g_autofree char *path = make_file(tmpdir, "direct.img", 65536);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"d\",\"cache\":{\"direct\":true},"
        "\"filename\":\"%s\"}", path);
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);

    if (!n && err && strstr(err->message, "Invalid argument")) {
        g_test_fail_printf("O_DIRECT unsupported in %s", tmpdir);
        return;
    }
    g_assert_no_error(err);
    g_assert_cmpuint(n->request_alignment, >=, 512);
    g_assert_true(n->cache_direct);

    /* Odd offset, odd length, odd buffer address, two segments. */
    g_autofree guchar *mem = g_malloc(8192);
    guchar *src = mem + 3;
    for (int i = 0; i < 3000; i++) {
        src[i] = (guchar)(i * 7);
    }
    struct iovec iov[2] = { { src, 1001 }, { src + 1001, 1999 } };
    g_assert_cmpint(hb_node_pwritev(n, 777, 3000, iov, 2, 0), ==, 0);
    guchar *back = mem + 4001;
    g_assert_cmpint(hb_node_pread(n, 777, back, 3000), ==, 0);
    g_assert_cmpmem(src, 3000, back, 3000);
    /* Neighbours survived the read-modify-write. */
    g_assert_cmpint(hb_node_pread(n, 770, back, 7), ==, 0);
    for (int i = 0; i < 7; i++) {
        g_assert_cmpint(back[i], ==, (770 + i) % 251);
    }
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 5, 10, 0), ==, 0);
    g_assert_cmpint(hb_node_flush(n), ==, 0);
    hb_node_unref(n);

    g_autofree gchar *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 65536);
    g_assert_cmpmem(data + 777, 3000, src, 3000);
    g_assert_cmpint((guchar)data[776], ==, 776 % 251);
    g_assert_cmpint((guchar)data[3777], ==, 3777 % 251);
    g_assert_cmpint(data[5], ==, 0);
    g_assert_cmpint(data[14], ==, 0);
    g_assert_cmpint((guchar)data[15], ==, 15);
}

static void test_null(void)
{
    HbNode *n = must_open("{\"driver\":\"null-co\",\"node-name\":\"n\","
                          "\"size\":1048576,\"read-zeroes\":true}");
    guchar buf[512];

    memset(buf, 1, sizeof(buf));
    g_assert_cmpint(hb_node_get_length(n), ==, 1048576);
    g_assert_cmpint(hb_node_pwrite(n, 0, buf, 512, 0), ==, 0);
    g_assert_cmpint(hb_node_pread(n, 0, buf, 512), ==, 0);
    g_assert_cmpint(buf[0], ==, 0);
    g_assert_cmpint(hb_node_pread(n, 1048576 - 256, buf, 512), ==, -EINVAL);
    hb_node_unref(n);
}

static void test_discard_policy(void)
{
    g_autofree char *path = make_file(tmpdir, "disc.img", 1 << 20);
    g_autofree char *ji = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"di\",\"filename\":\"%s\"}", path);
    g_autofree char *ju = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"du\",\"discard\":\"unmap\","
        "\"filename\":\"%s\"}", path);
    guchar buf[16];

    /* discard=ignore (the default): data stays. */
    HbNode *n = must_open(ji);
    int64_t before = hb_node_get_allocated_size(n);
    g_assert_cmpint(hb_node_pdiscard(n, 0, 1 << 20), ==, 0);
    g_assert_cmpint(hb_node_pread(n, 4096, buf, 16), ==, 0);
    g_assert_cmpint(buf[1], ==, 4097 % 251);
    hb_node_unref(n);

    /* discard=unmap: whole blocks go; ragged ends stay. */
    n = must_open(ju);
    g_assert_cmpint(hb_node_pdiscard(n, 100, (1 << 20) - 200), ==, 0);
    g_assert_cmpint(hb_node_get_allocated_size(n), <, before);
    g_assert_cmpint(hb_node_get_length(n), ==, 1 << 20);
    g_assert_cmpint(hb_node_pread(n, 4096, buf, 16), ==, 0);
    g_assert_cmpint(buf[1], ==, 0);
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 0, 4096, HB_REQ_MAY_UNMAP), ==, 0);
    g_assert_cmpint(hb_node_pread(n, 0, buf, 16), ==, 0);
    g_assert_cmpint(buf[5], ==, 0);
    hb_node_unref(n);
}

/*
 * On a block device, write-zeroes without a fallback is refused rather
 * than left to BLKZEROOUT, which writes the zeroes itself where the device
 * cannot zero cheaply (qcow2 then writes its new cluster whole, one write
 * instead of two); with a fallback, the range reads as zeroes.  Needs a
 * loop device (root, losetup): skipped without one.
 */
static void test_blockdev_zeroes_no_fallback(void)
{
    g_autofree char *path = make_file(tmpdir, "loop.img", 1 << 20);
    g_autofree char *argv_str = g_strdup_printf("losetup --find --show '%s'", path);
    g_autofree char *out = NULL;
    int status = -1;
    guchar buf[16];

    if (!g_spawn_command_line_sync(argv_str, &out, NULL, &status, NULL) || status != 0 ||
        !out || !g_str_has_prefix(out, "/dev/loop")) {
        g_test_skip("no loop device here (losetup)");
        return;
    }
    g_strstrip(out);
    /* The file driver opens block devices too (QEMU's host_device). */
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"bd\",\"filename\":\"%s\"}", out);
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);
    g_autofree char *detach = g_strdup_printf("losetup -d '%s'", out);

    /*
     * Detached at once: the kernel keeps it until the node closes it, and
     * a failing assertion below leaves no loop device behind.
     */
    g_assert_true(g_spawn_command_line_sync(detach, NULL, NULL, &status, NULL));
    g_assert_no_error(err);
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 0, 4096, HB_REQ_NO_FALLBACK), ==, -ENOTSUP);
    g_assert_cmpint(hb_node_pread(n, 4096, buf, 16), ==, 0);
    g_assert_cmpint(buf[1], ==, 4097 % 251);               /* nothing written */
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 4096, 4096, 0), ==, 0);
    g_assert_cmpint(hb_node_pread(n, 4096, buf, 16), ==, 0);
    g_assert_cmpint(buf[1], ==, 0);
    hb_node_unref(n);
}

static void (*saved_sigxfsz)(int);
static struct rlimit saved_fsize;

/*
 * Let this process grow no file past @limit bytes: a write or fallocate
 * beyond it fails with EFBIG (SIGXFSZ ignored, or it would kill us).  That
 * is the one "the file system said no" a test can cause without filling a
 * file system.  Return: false if the limit cannot be set (skip the test).
 */
static bool fsize_limit(rlim_t limit)
{
    struct rlimit lim;

    if (getrlimit(RLIMIT_FSIZE, &saved_fsize) < 0 || saved_fsize.rlim_max < limit) {
        return false;
    }
    saved_sigxfsz = signal(SIGXFSZ, SIG_IGN);
    g_assert_true(saved_sigxfsz != SIG_ERR);
    lim = saved_fsize;
    lim.rlim_cur = limit;
    if (setrlimit(RLIMIT_FSIZE, &lim) < 0) {
        signal(SIGXFSZ, saved_sigxfsz);
        return false;
    }
    return true;
}

static void fsize_unlimit(void)
{
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &saved_fsize), ==, 0);
    signal(SIGXFSZ, saved_sigxfsz);
}

/* Whether the file system can zero a range of @path (not tmpfs). */
static bool can_zero_range(const char *path)
{
    int fd = open(path, O_RDWR);

    g_assert_cmpint(fd, >=, 0);
    int r = fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096);
    close(fd);
    return r == 0;
}

/*
 * Only "cannot zero this way" is -ENOTSUP: a real failure of the file
 * system (ENOSPC, EIO, EFBIG) is the caller's error, with or without a
 * fallback (which would fail the same way).
 */
static void test_file_zeroes_real_error(void)
{
    g_autofree char *path = make_file(tmpdir, "efbig.img", 1 << 20);

    if (!can_zero_range(path)) {
        g_test_skip("the file system cannot zero a range (tmpfs)");
        return;
    }
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"zf\",\"filename\":\"%s\"}", path);
    HbNode *n = must_open(j);

    if (!fsize_limit(1 << 20)) {
        hb_node_unref(n);
        g_test_skip("cannot lower RLIMIT_FSIZE");
        return;
    }
    int ret = hb_node_pwrite_zeroes(n, 2 << 20, 4096, HB_REQ_NO_FALLBACK);
    int ret_fallback = hb_node_pwrite_zeroes(n, 2 << 20, 4096, 0);
    fsize_unlimit();
    if (ret == 0) {
        hb_node_unref(n);
        g_test_skip("the file system does not apply RLIMIT_FSIZE to fallocate");
        return;
    }
    g_assert_cmpint(ret, ==, -EFBIG);
    g_assert_cmpint(ret_fallback, ==, -EFBIG);
    g_assert_cmpint(hb_node_get_length(n), ==, 1 << 20);
    hb_node_unref(n);
}

/* How many unwritten extents (zeroed by fallocate, not yet written) @path has. */
static unsigned unwritten_extents(const char *path)
{
    const unsigned max = 64;
    g_autofree struct fiemap *fm = g_malloc0(sizeof(*fm) + max * sizeof(struct fiemap_extent));
    int fd = open(path, O_RDONLY);
    unsigned n = 0;

    fm->fm_length = FIEMAP_MAX_OFFSET;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = max;
    g_assert_cmpint(fd, >=, 0);
    if (ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
        for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
            n += !!(fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN);
        }
    }
    close(fd);
    return n;
}

static uint64_t file_size(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return (uint64_t)st.st_size;
}

static void test_luks_attached(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "att.luks", NULL);
    luks_create(path, 1 << 20, false);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"luks\",\"node-name\":\"l\",\"key-secret\":\"sec0\","
        "\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", path);
    HbNode *n = must_open(j);
    g_assert_cmpint(hb_node_get_length(n), ==, 1 << 20);

    guchar plain[1536], copy[1536], back[1536];
    for (unsigned i = 0; i < sizeof(plain); i++) {
        plain[i] = (guchar)(i * 13 + 1);
    }
    memcpy(copy, plain, sizeof(plain));
    g_assert_cmpint(hb_node_pwrite(n, 4096, plain, sizeof(plain), 0), ==, 0);
    /* Never encrypt in the caller's buffer. */
    g_assert_cmpmem(plain, sizeof(plain), copy, sizeof(plain));
    g_assert_cmpint(hb_node_pread(n, 4096, back, sizeof(back)), ==, 0);
    g_assert_cmpmem(plain, sizeof(plain), back, sizeof(back));
    /* Unaligned: read-modify-write through whole sectors. */
    g_assert_cmpint(hb_node_pwrite(n, 4096 + 100, "abc", 3, 0), ==, 0);
    g_assert_cmpint(hb_node_pread(n, 4096 + 98, back, 7), ==, 0);
    g_assert_cmpmem(back + 2, 3, "abc", 3);
    g_assert_cmpint(back[0], ==, plain[98]);
    g_assert_cmpint(back[6], ==, plain[104]);
    g_assert_cmpint(hb_node_pread(n, (1 << 20) - 512, back, 1024), ==, -EINVAL);

    g_autoptr(QapiImageInfo) info = hb_node_image_info(n);
    g_assert_cmpstr(info->format, ==, "luks");
    g_assert_nonnull(info->format_specific);
    g_assert_cmpint(info->format_specific->type, ==, QAPI_IMAGE_INFO_SPECIFIC_KIND_LUKS);
    QapiQCryptoBlockInfoLUKS *l = info->format_specific->u.luks->data;
    g_assert_cmpstr(l->cipher_alg, ==, "aes-256");
    g_assert_false(l->detached_header);
    g_assert_cmpint(l->payload_offset, >, 0);
    g_assert_true(l->slots->value->active);
    hb_node_unref(n);

    /* The ciphertext on disk is not the plaintext. */
    g_autofree gchar *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_true(memcmp(data + l->payload_offset + 4096, plain, 512) != 0);
}

static void test_luks_detached_shared_header(void)
{
    g_autofree char *hdr = g_build_filename(tmpdir, "hdr.luks", NULL);
    g_autofree char *p1 = make_file(tmpdir, "p1.img", 65536);
    g_autofree char *p2 = make_file(tmpdir, "p2.img", 65536);
    luks_create(hdr, -1, true);

    g_autofree char *jh = g_strdup_printf(
        "{\"driver\":\"raw\",\"node-name\":\"hdr\",\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}", hdr);
    HbNode *h = must_open(jh);
    g_autofree char *j1 = g_strdup_printf(
        "{\"driver\":\"luks\",\"node-name\":\"v1\",\"key-secret\":\"sec0\","
        "\"header\":\"hdr\",\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", p1);
    g_autofree char *j2 = g_strdup_printf(
        "{\"driver\":\"luks\",\"node-name\":\"v2\",\"key-secret\":\"sec0\","
        "\"header\":\"hdr\",\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", p2);
    HbNode *v1 = must_open(j1);
    HbNode *v2 = must_open(j2);
    g_assert_cmpint(hb_node_get_length(v1), ==, 65536);

    g_assert_cmpint(hb_node_pwrite(v1, 0, "one", 3, 0), ==, 0);
    g_assert_cmpint(hb_node_pwrite(v2, 0, "two", 3, 0), ==, 0);
    char b[4] = { 0 };
    g_assert_cmpint(hb_node_pread(v1, 0, b, 3), ==, 0);
    g_assert_cmpstr(b, ==, "one");
    g_assert_cmpint(hb_node_pread(v2, 0, b, 3), ==, 0);
    g_assert_cmpstr(b, ==, "two");

    /* Without a key: refused (QSD's text) unless the process allows
     * metadata-only opens (hotblock-img info); then read-only, no I/O. */
    g_autofree char *j3 = g_strdup_printf(
        "{\"driver\":\"luks\",\"node-name\":\"v3\",\"header\":\"hdr\","
        "\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", p1);
    g_autoptr(GError) err3 = NULL;
    int refs3 = h->refcnt;
    g_assert_null(open_json(j3, &err3));
    g_assert_cmpstr(err3->message, ==, "Parameter 'key-secret' is required for cipher");
    g_assert_cmpint(h->refcnt, ==, refs3);
    hb_luks_allow_metadata_only();
    HbNode *v3 = must_open(j3);
    g_assert_true(v3->read_only);
    g_assert_cmpint(hb_node_pread(v3, 0, b, 3), ==, -EPERM);
    g_autoptr(QapiImageInfo) info = hb_node_image_info(v3);
    g_assert_true(info->format_specific->u.luks->data->detached_header);
    g_assert_cmpint(info->format_specific->u.luks->data->payload_offset, ==, 0);
    hb_node_unref(v3);

    /* A wrong password leaves the graph as it was. */
    add_secret("bad", "wrong");
    g_autofree char *j4 = g_strdup_printf(
        "{\"driver\":\"luks\",\"node-name\":\"v4\",\"key-secret\":\"bad\","
        "\"header\":\"hdr\",\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", p2);
    g_autoptr(GError) err = NULL;
    int fds = count_fds();
    int refs = h->refcnt;
    g_assert_null(open_json(j4, &err));
    g_assert_nonnull(err);
    g_assert_cmpint(count_fds(), ==, fds);
    g_assert_cmpint(h->refcnt, ==, refs);

    g_assert_cmpint(h->refcnt, ==, 3);
    hb_node_unref(v1);
    hb_node_unref(v2);
    g_assert_cmpint(h->refcnt, ==, 1);
    hb_node_unref(h);
}

typedef struct Worker {
    HbNode *node;
    unsigned id;
    int errors;
} Worker;

/* Each thread owns an interleaved set of 4 KiB blocks, with odd offsets
 * inside them so node.c's read-modify-write runs concurrently too. */
static gpointer worker_run(gpointer opaque)
{
    Worker *w = opaque;
    guchar buf[4096], back[4096];

    for (unsigned round = 0; round < 8; round++) {
        for (unsigned b = w->id; b < 64; b += 4) {
            uint64_t off = (uint64_t)b * 4096 + 100;
            memset(buf, (int)(w->id * 16 + round), 3000);
            struct iovec iov[2] = { { buf, 1000 }, { buf + 1000, 2000 } };
            if (hb_node_pwritev(w->node, off, 3000, iov, 2, 0) != 0 ||
                hb_node_pread(w->node, off, back, 3000) != 0 ||
                memcmp(buf, back, 3000) != 0) {
                w->errors++;
            }
        }
    }
    return NULL;
}

static void run_concurrently(HbNode *n)
{
    Worker w[4];
    GThread *t[4];

    for (unsigned i = 0; i < 4; i++) {
        w[i] = (Worker){ .node = n, .id = i };
        t[i] = g_thread_new("io", worker_run, &w[i]);
    }
    for (unsigned i = 0; i < 4; i++) {
        g_thread_join(t[i]);
        g_assert_cmpint(w[i].errors, ==, 0);
    }
}

static void test_concurrent_io(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "conc.luks", NULL);
    luks_create(path, 256 * 1024, false);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"luks\",\"node-name\":\"c\",\"key-secret\":\"sec0\","
        "\"file\":{\"driver\":\"file\",\"cache\":{\"direct\":true},"
        "\"filename\":\"%s\"}}", path);
    HbNode *n = must_open(j);
    run_concurrently(n);
    g_assert_cmpint(n->inflight, ==, 0);
    hb_node_unref(n);

    g_autofree char *raw = make_file(tmpdir, "conc.raw", 256 * 1024);
    g_autofree char *jr = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"cr\",\"cache\":{\"direct\":true},"
        "\"filename\":\"%s\"}", raw);
    n = must_open(jr);
    run_concurrently(n);
    hb_node_unref(n);
}

/* ---- closing writes back; a failure to is reported ---- */

static int close_errors;
static int close_errno;

static void on_close_error(HbNode *node, int err)
{
    if (!close_errors++) {
        close_errno = err;   /* the first: the qcow2 node's write-back */
    }
}

static char *make_qcow2(const char *name)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    g_autoptr(GHashTable) o = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GError) err = NULL;

    g_assert_true(hb_driver_for(QAPI_BLOCKDEV_DRIVER_QCOW2)->create(path, 64 << 20, o, &err));
    g_assert_no_error(err);
    return path;
}

/* Point the process's descriptor of @path at /dev/full: writes get ENOSPC. */
static void make_writes_fail(const char *path)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    const char *e;
    int full = open("/dev/full", O_WRONLY);
    int hits = 0;

    g_assert_cmpint(full, >=, 0);
    while ((e = g_dir_read_name(d))) {
        g_autofree char *link = g_build_filename("/proc/self/fd", e, NULL);
        g_autofree char *target = g_file_read_link(link, NULL);
        if (target && g_str_equal(target, path)) {
            g_assert_cmpint(dup2(full, atoi(e)), >=, 0);
            hits++;
        }
    }
    close(full);
    g_assert_cmpint(hits, >, 0);
}

/* A qcow2 node over a file node on @path; @extra: more members, or "". */
static HbNode *open_qcow2(const char *path, const char *name, const char *extra)
{
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"qcow2\",\"node-name\":\"%s\",%s\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}", name, extra, path);

    return must_open(j);
}

static void write_4k(HbNode *n, uint64_t off, guchar fill)
{
    guchar buf[4096];

    memset(buf, fill, sizeof(buf));
    g_assert_cmpint(hb_node_pwrite(n, off, buf, sizeof(buf), 0), ==, 0);
}

/*
 * The qcow2 metadata of an acknowledged write sits in the L2 and refcount
 * caches until a flush: when closing cannot write it, the daemon must hear
 * of it (it logs and emits BLOCK_NODE_CLOSE_ERROR), never a silent success.
 */
static void test_close_error_reported(void)
{
    g_autofree char *path = make_qcow2("close-error.qcow2");
    HbNode *n = open_qcow2(path, "ce", "");

    write_4k(n, 1 << 20, 0x77);
    hb_node_set_close_error_handler(on_close_error);
    close_errors = 0;
    make_writes_fail(path);
    hb_node_unref(n);
    hb_node_set_close_error_handler(NULL);
    g_assert_cmpint(close_errors, >=, 1);
    g_assert_cmpint(close_errno, ==, -ENOSPC);
}

/*
 * cache.no-flush spares the disk sync, not the format's caches: after a
 * flush, the qcow2 metadata is in the file even if the process could write
 * nothing more (as QEMU's flush_to_os).  Before, a no-flush node kept its
 * L2 updates in memory until close.
 */
static void test_no_flush_still_writes_metadata(void)
{
    g_autofree char *path = make_qcow2("no-flush.qcow2");
    HbNode *n = open_qcow2(path, "nf", "\"cache\":{\"no-flush\":true},");

    write_4k(n, 2 << 20, 0x42);
    g_assert_cmpint(hb_node_flush(n), ==, 0);
    make_writes_fail(path);   /* nothing more reaches the file */
    hb_node_set_close_error_handler(on_close_error);
    hb_node_unref(n);
    hb_node_set_close_error_handler(NULL);

    n = open_qcow2(path, "nf2", "\"read-only\":true,");
    guchar buf[4096];
    g_assert_cmpint(hb_node_pread(n, 2 << 20, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x42);
    g_assert_cmpint(buf[4095], ==, 0x42);
    hb_node_unref(n);
}

/* ---- reads past EOF: zeroes by capability, errors stay errors ---- */

/*
 * The file driver with reads that fail with -EIO when they reach past
 * EOF (where the file driver would return zeroes) or, with fail_all,
 * always: a disk error the qcow2 driver must not mistake for an end of file.
 */
static HbDriver faulty_file;
static bool faulty_fail_all;

static int faulty_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                         const struct iovec *iov, int niov, unsigned flags)
{
    if (faulty_fail_all || offset + bytes > (uint64_t)hb_node_get_length(node)) {
        return -EIO;
    }
    return hb_driver_for(QAPI_BLOCKDEV_DRIVER_FILE)->preadv(node, offset, bytes,
                                                            iov, niov, flags);
}

/* A 64 MiB qcow2 whose 8-byte L1 table (at 192 KiB) ends 4 bytes past EOF. */
static char *make_truncated_qcow2(const char *name)
{
    char *path = make_qcow2(name);

    g_assert_cmpint(truncate(path, (192 << 10) + 4), ==, 0);
    return path;
}

/*
 * qcow2 zeroes a new cluster through its file (fallocate) and writes only
 * the guest's bytes.  When the file fails that with a real error (here
 * EFBIG; on a full disk ENOSPC), the guest's write fails, and the next
 * allocation zeroes through the file again.  Before, the file driver
 * called every failure "unsupported", and qcow2, which then stops asking,
 * wrote every later new cluster whole for the rest of the image's life.
 * Seen through FIEMAP: a zeroed cluster leaves unwritten extents around the
 * guest's 4 KiB, a cluster written whole none.
 */
static void test_qcow2_zeroes_again_after_error(void)
{
    g_autofree char *path = make_qcow2("zero-again.qcow2");
    HbNode *n = open_qcow2(path, "za", "");
    const uint64_t cl = 64 << 10;
    guchar buf[4096];

    write_4k(n, 4096, 0x11);
    unsigned zeroed = unwritten_extents(path);
    if (!zeroed) {
        hb_node_unref(n);
        g_test_skip("the file system shows no zeroed range (FIEMAP, tmpfs)");
        return;
    }
    if (!fsize_limit(file_size(path))) {
        hb_node_unref(n);
        g_test_skip("cannot lower RLIMIT_FSIZE");
        return;
    }
    memset(buf, 0x22, sizeof(buf));
    int ret = hb_node_pwrite(n, cl + 4096, buf, sizeof(buf), 0);
    fsize_unlimit();
    g_assert_cmpint(ret, ==, -EFBIG);

    g_assert_cmpuint(unwritten_extents(path), ==, zeroed);
    write_4k(n, 2 * cl + 4096, 0x33);
    g_assert_cmpuint(unwritten_extents(path), >, zeroed);      /* zeroed, not written whole */
    g_assert_cmpint(hb_node_pread(n, 2 * cl + 4096, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x33);
    g_assert_cmpint(hb_node_pread(n, 2 * cl, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0);
    hb_node_unref(n);
}

static void test_qcow2_child_read_error(void)
{
    g_autofree char *path = make_truncated_qcow2("eof-error.qcow2");
    g_autofree char *jf = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"ef\",\"read-only\":true,"
        "\"filename\":\"%s\"}", path);
    const char *jq = "{\"driver\":\"qcow2\",\"node-name\":\"eq\","
                     "\"read-only\":true,\"file\":\"ef\"}";
    g_autoptr(GError) err = NULL;
    HbNode *f = must_open(jf);
    guchar buf[4096];

    /* The file driver reads zeroes past EOF: the image opens, reads zeroes. */
    HbNode *q = must_open(jq);
    g_assert_cmpint(hb_node_pread(q, 0, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0);
    hb_node_unref(q);

    /* An error reading the L1 table is reported, not taken for zeroes. */
    faulty_file = *hb_driver_for(QAPI_BLOCKDEV_DRIVER_FILE);
    faulty_file.preadv = faulty_preadv;
    const HbDriver *real = f->drv;
    f->drv = &faulty_file;
    g_assert_null(open_json(jq, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "could not read the L1 table"));
    g_assert_nonnull(strstr(err->message, g_strerror(EIO)));
    f->drv = real;
    hb_node_unref(f);

    /* So is one reading guest data. */
    g_autofree char *dpath = make_qcow2("data-error.qcow2");
    HbNode *w = open_qcow2(dpath, "dw", "");
    write_4k(w, 0, 0x11);
    hb_node_unref(w);
    g_autofree char *jdf = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"df\",\"read-only\":true,"
        "\"filename\":\"%s\"}", dpath);
    f = must_open(jdf);
    q = must_open("{\"driver\":\"qcow2\",\"node-name\":\"dq\","
                  "\"read-only\":true,\"file\":\"df\"}");
    f->drv = &faulty_file;
    faulty_fail_all = true;
    g_assert_cmpint(hb_node_pread(q, 0, buf, sizeof(buf)), ==, -EIO);
    faulty_fail_all = false;
    f->drv = real;
    g_assert_cmpint(hb_node_pread(q, 0, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x11);
    hb_node_unref(q);
    hb_node_unref(f);
}

/*
 * Under a child without zero_past_eof (raw refuses reads past its end),
 * qcow2 cuts its reads at EOF itself: the truncated image still opens.
 */
static void test_qcow2_over_raw_truncated(void)
{
    g_autofree char *path = make_truncated_qcow2("eof-raw.qcow2");
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"qcow2\",\"node-name\":\"rq\",\"read-only\":true,"
        "\"file\":{\"driver\":\"raw\",\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}}", path);
    HbNode *n = must_open(j);
    HbNode *raw = hb_node_child(n, "file")->node;
    guchar buf[4096];

    g_assert_false(raw->drv->zero_past_eof);
    g_assert_cmpint(hb_node_pread(raw, 192 << 10, buf, 8), ==, -EINVAL);
    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(hb_node_pread(n, 0, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0);
    g_assert_cmpint(buf[4095], ==, 0);
    hb_node_unref(n);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("hb-drv-XXXXXX", NULL);
    add_secret("sec0", "abc123");
    g_test_add_func("/block/file/short", test_file_short);
    g_test_add_func("/block/raw/window", test_raw_window);
    g_test_add_func("/block/file/direct-unaligned", test_direct_unaligned);
    g_test_add_func("/block/null/basic", test_null);
    g_test_add_func("/block/file/discard-policy", test_discard_policy);
    g_test_add_func("/block/file/blockdev-zeroes-no-fallback", test_blockdev_zeroes_no_fallback);
    g_test_add_func("/block/file/zeroes-real-error", test_file_zeroes_real_error);
    g_test_add_func("/block/luks/attached", test_luks_attached);
    g_test_add_func("/block/luks/detached-shared-header", test_luks_detached_shared_header);
    g_test_add_func("/block/concurrent-io", test_concurrent_io);
    g_test_add_func("/block/close/error-reported", test_close_error_reported);
    g_test_add_func("/block/close/no-flush-writes-metadata", test_no_flush_still_writes_metadata);
    g_test_add_func("/block/qcow2/child-read-error", test_qcow2_child_read_error);
    g_test_add_func("/block/qcow2/zeroes-again-after-error", test_qcow2_zeroes_again_after_error);
    g_test_add_func("/block/qcow2/over-raw-truncated", test_qcow2_over_raw_truncated);
    int ret = g_test_run();
    hb_secret_clear_all();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    (void)!system(cmd);
    g_free(tmpdir);
    return ret;
}
