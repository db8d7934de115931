/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/opts-take.h — taking options out of a `-o key=value,...` table, so
 * that what is left over can be refused by name. */
#ifndef HB_UTIL_OPTS_TAKE_H
#define HB_UTIL_OPTS_TAKE_H

#include <glib.h>

/**
 * hb_opts_take_str() - remove @key from @opts (string keys and values)
 * Return: a copy of its value (g_free it), or NULL when it was absent.
 */
char *hb_opts_take_str(GHashTable *opts, const char *key);

#endif
