/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/opts-take.c — see opts-take.h. */
#include "util/opts-take.h"

char *hb_opts_take_str(GHashTable *opts, const char *key)
{
    char *v = g_strdup(g_hash_table_lookup(opts, key));

    g_hash_table_remove(opts, key);
    return v;
}
