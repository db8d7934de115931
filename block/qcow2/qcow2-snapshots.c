/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-snapshots.c — reading a qcow2 image's internal snapshot table (hotblock-img snapshot -l). */

#include "qcow2.h"
#include "qcow2-int.h"
#include "util/error.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* The fixed part of a snapshot table entry (docs/interop/qcow2.txt). */
typedef struct Entry {
    uint16_t id_str_size;
    uint16_t name_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint32_t vm_state_size;
    uint32_t extra_data_size;
} Entry;

#define ENTRY_LEN 40
#define EXTRA_MAX 1024          /* what QEMU accepts too: more is corruption */
#define MAX_SNAPSHOTS 65536     /* QEMU's limit */

static const HbQcow2FieldDesc entry_fields[] = {
    { 12, 2, offsetof(Entry, id_str_size) },
    { 14, 2, offsetof(Entry, name_size) },
    { 16, 4, offsetof(Entry, date_sec) },
    { 20, 4, offsetof(Entry, date_nsec) },
    { 24, 8, offsetof(Entry, vm_clock_nsec) },
    { 32, 4, offsetof(Entry, vm_state_size) },
    { 36, 4, offsetof(Entry, extra_data_size) },
};

static uint64_t be64_at(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return GUINT64_FROM_BE(v);
}

static bool read_at(int fd, uint64_t off, void *buf, size_t len, GError **errp)
{
    ssize_t n = pread(fd, buf, len, (off_t)off);

    if (n != (ssize_t)len) {
        hb_error_set_errno(errp, n < 0 ? errno : EIO, "Failed to read the snapshot table");
        return false;
    }
    return true;
}

void hb_qcow2_snapshot_info_free(HbQcow2SnapshotInfo *si)
{
    g_free(si->id);
    g_free(si->name);
}

/* One entry at *@pos, which moves past it (and its padding). */
static bool read_entry(int fd, uint64_t *pos, HbQcow2SnapshotInfo *si, GError **errp)
{
    uint8_t h[ENTRY_LEN], extra[EXTRA_MAX];
    Entry e;

    if (!read_at(fd, *pos, h, sizeof(h), errp)) {
        return false;
    }
    hb_qcow2_fields_decode(entry_fields, G_N_ELEMENTS(entry_fields), &e, h, sizeof(h));
    if (e.extra_data_size > EXTRA_MAX) {
        hb_error_set(errp, "Too much extra metadata in snapshot table entry");
        return false;
    }
    uint64_t p = *pos + ENTRY_LEN;
    if (!read_at(fd, p, extra, e.extra_data_size, errp)) {
        return false;
    }
    p += e.extra_data_size;
    si->vm_state_size = e.vm_state_size;
    /* Extra data: a 64-bit VM state size, the disk size, then icount. */
    if (e.extra_data_size >= 8) {
        si->vm_state_size = be64_at(extra);
    }
    si->icount = e.extra_data_size >= 24 ? (int64_t)be64_at(extra + 16) : -1;
    si->date_sec = e.date_sec;
    si->date_nsec = e.date_nsec;
    si->vm_clock_nsec = e.vm_clock_nsec;
    si->id = g_malloc0((size_t)e.id_str_size + 1);
    si->name = g_malloc0((size_t)e.name_size + 1);
    if (!read_at(fd, p, si->id, e.id_str_size, errp) ||
        !read_at(fd, p + e.id_str_size, si->name, e.name_size, errp)) {
        return false;
    }
    p += (uint64_t)e.id_str_size + e.name_size;
    *pos = (p + 7) & ~(uint64_t)7;
    return true;
}

GArray *hb_qcow2_list_snapshots(const char *path, GError **errp)
{
    uint8_t buf[72];        /* version 2's header: the snapshot fields end it */
    HbQcow2Header hdr = { 0 };
    HB_AUTOFD int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not open '%s'", path);
        return NULL;
    }
    if (!read_at(fd, 0, buf, sizeof(buf), errp)) {
        return NULL;
    }
    hb_qcow2_header_decode(&hdr, buf, sizeof(buf));
    if (hdr.magic != QCOW2_MAGIC) {
        hb_error_set(errp, "Image is not in qcow2 format");
        return NULL;
    }
    GArray *a = g_array_new(FALSE, TRUE, sizeof(HbQcow2SnapshotInfo));
    g_array_set_clear_func(a, (GDestroyNotify)hb_qcow2_snapshot_info_free);
    if (hdr.nb_snapshots > MAX_SNAPSHOTS) {
        hb_error_set(errp, "Too many snapshots");
        g_array_unref(a);
        return NULL;
    }
    uint64_t pos = hdr.snapshots_offset;
    for (uint32_t i = 0; i < hdr.nb_snapshots; i++) {
        HbQcow2SnapshotInfo si = { 0 };
        bool ok = read_entry(fd, &pos, &si, errp);
        g_array_append_val(a, si);
        if (!ok) {
            g_array_unref(a);
            return NULL;
        }
    }
    return a;
}
