/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/object-types.h — object-add types registered by the layers that implement them. */
#ifndef HB_UTIL_OBJECT_TYPES_H
#define HB_UTIL_OBJECT_TYPES_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

/*
 * object-add/object-del are dispatched where secrets live (crypto/), but
 * other layers create objects too (export/: iothreads), and crypto/ may
 * not include them.  A layer registers its qom-type here at startup; the
 * dispatcher looks the type up by name.  Main thread only.
 */
typedef struct HbObjectType {
    const char *name;       /* the qom-type, e.g. "iothread" */
    /* Create object @id; @props is the dispatcher's generated ObjectOptions. */
    bool (*add)(const char *id, const void *props, GError **errp);
    /* Remove object @id (it exists: see @exists). */
    bool (*del)(const char *id, GError **errp);
    /* Whether object @id is of this type. */
    bool (*exists)(const char *id);
    /*
     * qom-get/qom-set of property @prop of object @id (it exists).
     * Optional: a type without them has no property one can read or set.
     */
    bool (*prop_get)(const char *id, const char *prop, JsonNode **ret, GError **errp);
    bool (*prop_set)(const char *id, const char *prop, JsonNode *value, GError **errp);
} HbObjectType;

/**
 * hb_object_type_register() - make @type known to object-add/object-del.
 * @type: static; its name must not be registered yet
 */
void hb_object_type_register(const HbObjectType *type);

/**
 * hb_object_type_find() - the registered type named @name.
 * @name: a qom-type
 * Return: the type, or NULL.
 */
const HbObjectType *hb_object_type_find(const char *name);

/**
 * hb_object_type_owner() - the registered type that has an object @id.
 * @id: an object id
 * Return: the type, or NULL (no such object, or one of the dispatcher's own).
 */
const HbObjectType *hb_object_type_owner(const char *id);

#endif
