/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/lib/mem-read.h — a volume kept in memory, read and written as the
 * LUKS code reads and writes a node. */
#ifndef HB_TESTS_MEM_READ_H
#define HB_TESTS_MEM_READ_H

#include <errno.h>
#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/**
 * hbt_mem_read() - copy @len bytes at @off of the @size bytes at @data
 * into @buf, as a HbLuks1ReadFn does: -EIO (nothing copied) for any byte
 * past the end, with no overflow in the check.
 */
static inline int hbt_mem_read(const uint8_t *data, size_t size, uint64_t off, void *buf,
                               size_t len)
{
    if (off > size || len > size - off) {
        return -EIO;
    }
    memcpy(buf, data + off, len);
    return 0;
}

/**
 * hbt_mem_write() - write @len bytes at @off into @b as a HbLuks1WriteFn
 * does, growing it (with zeros) to cover them.
 */
static inline int hbt_mem_write(GByteArray *b, uint64_t off, const void *buf, size_t len)
{
    if (off + len > b->len) {
        guint old = b->len;
        g_byte_array_set_size(b, (guint)(off + len));
        memset(b->data + old, 0, b->len - old);
    }
    memcpy(b->data + off, buf, len);
    return 0;
}

#endif
