/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/object-types.c — the registry of object-add types implemented above crypto/. */
#include "util/object-types.h"

#include <string.h>

static GPtrArray *types;   /* const HbObjectType *, registration order */

void hb_object_type_register(const HbObjectType *type)
{
    g_assert(!hb_object_type_find(type->name));
    if (!types) {
        types = g_ptr_array_new();
    }
    g_ptr_array_add(types, (gpointer)type);
}

const HbObjectType *hb_object_type_find(const char *name)
{
    for (guint i = 0; types && i < types->len; i++) {
        const HbObjectType *t = types->pdata[i];
        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}

const HbObjectType *hb_object_type_owner(const char *id)
{
    for (guint i = 0; types && i < types->len; i++) {
        const HbObjectType *t = types->pdata[i];
        if (t->exists(id)) {
            return t;
        }
    }
    return NULL;
}
