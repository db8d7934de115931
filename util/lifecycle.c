/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/lifecycle.c — export directory and shutdown hooks. */
#include "util/lifecycle.h"

#include <dirent.h>
#include <glib.h>
#include <stdlib.h>
#include <unistd.h>

static char *export_dir;
static int export_dir_fd = -1;
static GSList *hooks;        /* stop serving; newest first */
static GSList *close_hooks;  /* then close storage; newest first */

void hb_set_export_dir(const char *dir, int dirfd)
{
    g_free(export_dir);
    export_dir = g_strdup(dir);
    if (export_dir_fd >= 0) {
        close(export_dir_fd);
    }
    export_dir_fd = dirfd;
}

int hb_export_dir_fd(void)
{
    return export_dir_fd;
}

const char *hb_export_dir(void)
{
    return export_dir;
}

static void add_hook(GSList **list, void (*fn)(void))
{
    for (GSList *l = *list; l; l = l->next) {
        if (l->data == (gpointer)fn) {
            return;    /* registered once, however often asked */
        }
    }
    *list = g_slist_prepend(*list, (gpointer)fn);
}

static void run_hooks(GSList **list)
{
    while (*list) {
        void (*fn)(void) = (void (*)(void))(*list)->data;
        *list = g_slist_delete_link(*list, *list);
        fn();
    }
}

void hb_at_shutdown(void (*fn)(void))
{
    add_hook(&hooks, fn);
}

void hb_at_shutdown_close(void (*fn)(void))
{
    add_hook(&close_hooks, fn);
}

void hb_run_shutdown_hooks(void)
{
    run_hooks(&hooks);
    run_hooks(&close_hooks);
    hb_set_export_dir(NULL, -1);
}

static GArray *inherited_fds;   /* int */

void hb_note_inherited_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    if (!inherited_fds) {
        inherited_fds = g_array_new(FALSE, FALSE, sizeof(int));
    }
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d)) {
            g_array_append_val(inherited_fds, fd);
        }
    }
    if (d) {
        closedir(d);
    }
}

bool hb_take_inherited_fd(int fd)
{
    for (guint i = 0; inherited_fds && i < inherited_fds->len; i++) {
        if (g_array_index(inherited_fds, int, i) == fd) {
            g_array_remove_index_fast(inherited_fds, i);
            return true;
        }
    }
    return false;
}
