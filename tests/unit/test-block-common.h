/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-common.h — helpers shared by the block unit tests. */
#ifndef HB_TEST_BLOCK_COMMON_H
#define HB_TEST_BLOCK_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "block/node.h"
#include "crypto/secret.h"
#include "qapi-json.h"

/* Options from JSON text, as QMP would deliver them after validation. */
static inline QapiBlockdevOptions *opts_from_json(const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) j = json_from_string(text, &err);
    QapiBlockdevOptions *o = NULL;

    g_assert_no_error(err);
    g_assert_true(qapi_from_json_BlockdevOptions(j, false, &o, &err));
    g_assert_no_error(err);
    return o;
}

/* Open from JSON; NULL and *errp on failure. */
static inline HbNode *open_json(const char *text, GError **errp)
{
    g_autoptr(QapiBlockdevOptions) o = opts_from_json(text);

    return hb_node_open(o, errp);
}

static inline int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* A temporary file of @size bytes filled with byte i % 251 at offset i. */
static inline char *make_file(const char *dir, const char *name, size_t size)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autofree guchar *buf = g_malloc(size ? size : 1);

    for (size_t i = 0; i < size; i++) {
        buf[i] = (guchar)(i % 251);
    }
    g_assert_true(g_file_set_contents(path, (char *)buf, size, NULL));
    return path;
}

/* Register secret @id holding @data. */
static inline void add_secret(const char *id, const char *data)
{
    g_autoptr(GError) err = NULL;
    HbSecretOptions so = { .id = id, .data = data };

    g_assert_true(hb_secret_add(&so, &err));
    g_assert_no_error(err);
}

/* A LUKS1 image at @path (key-secret "sec0", 10 ms of PBKDF2), header only if @detached. */
static inline void luks_create(const char *path, int64_t size, bool detached)
{
    g_autoptr(GHashTable) o = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    g_autoptr(GError) err = NULL;

    g_hash_table_insert(o, g_strdup("key-secret"), g_strdup("sec0"));
    g_hash_table_insert(o, g_strdup("iter-time"), g_strdup("10"));
    if (detached) {
        g_hash_table_insert(o, g_strdup("detached-header"), g_strdup("on"));
    }
    g_assert_true(hb_driver_for(QAPI_BLOCKDEV_DRIVER_LUKS)->create(path, size, o, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(g_hash_table_size(o), ==, 0);
}

#endif
