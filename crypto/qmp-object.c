/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/qmp-object.c — object-add/object-del/qom-list: QMP shapes to the
 * secret registry.  The only file of crypto/ that sees generated QAPI types.
 * The generated code's copies of a secret's text are wiped here, after use. */
#include <string.h>

#include "crypto/secret.h"
#include "qapi-commands.h"
#include "qapi-types.h"
#include "util/error.h"
#include "util/object-types.h"

/* Wipe and free a copy of secret text the generated code made; NULL-safe. */
static void wipe_free(char **str)
{
    if (*str) {
        explicit_bzero(*str, strlen(*str));
        g_free(*str);
        *str = NULL;
    }
}

bool qmp_object_add(QapiObjectOptions *args, GError **errp)
{
    /* Ids are one namespace (/objects), whichever layer holds the object. */
    if (hb_object_type_owner(args->id) || hb_secret_exists(args->id)) {
        hb_error_set(errp, "attempt to add duplicate property '%s' to object (type 'container')",
                     args->id);
        return false;
    }
    switch (args->qom_type) {
    case QAPI_OBJECT_TYPE_SECRET: {
        QapiSecretProperties *p = args->u.secret;
        HbSecretOptions so = {
            .id = args->id,
            .data = p->data,
            .file = p->file,
            .format = p->has_format && p->format == QAPI_Q_CRYPTO_SECRET_FORMAT_BASE64
                          ? HB_SECRET_FORMAT_BASE64 : HB_SECRET_FORMAT_RAW,
            .keyid = p->keyid,
            .iv = p->iv,
        };
        bool ok = hb_secret_add(&so, errp);
        /* The registry has its own locked copy; leave none in the heap. */
        wipe_free(&p->data);
        wipe_free(&p->iv);
        wipe_free(&p->keyid);
        return ok;
    }
    default: {
        /* Types of the layers above (util/object-types.h). */
        const HbObjectType *t = hb_object_type_find(QapiObjectType_str(args->qom_type));
        if (t) {
            return t->add(args->id, args, errp);
        }
        break;
    }
    }
    hb_error_set(errp, "Invalid parameter 'qom-type'");
    return false;
}

bool qmp_object_del(QapiObjectDelArgs *args, GError **errp)
{
    const HbObjectType *t = hb_object_type_owner(args->id);
    return t ? t->del(args->id, errp) : hb_secret_del(args->id, errp);
}

static void append(QapiObjectPropertyInfoList ***tail, const char *name, const char *type)
{
    QapiObjectPropertyInfoList *e = g_new0(QapiObjectPropertyInfoList, 1);
    e->value = g_new0(QapiObjectPropertyInfo, 1);
    e->value->name = g_strdup(name);
    e->value->type = g_strdup(type);
    **tail = e;
    *tail = &e->next;
}

/* The object tree as QEMU's qemu-storage-daemon shows it, minus what we lack:
 * "/" holds the "objects" container, which holds one child per secret. */
bool qmp_qom_list(QapiQomListArgs *args, QapiObjectPropertyInfoList **ret, GError **errp)
{
    QapiObjectPropertyInfoList *head = NULL, **tail = &head;
    const char *path = args->path;

    if (g_str_equal(path, "/")) {
        append(&tail, "type", "string");
        append(&tail, "objects", "child<container>");
    } else if (g_str_equal(path, "/objects") || g_str_equal(path, "/objects/")) {
        g_auto(GStrv) ids = hb_secret_list_ids();
        append(&tail, "type", "string");
        for (char **id = ids; *id; id++) {
            append(&tail, *id, "child<secret>");
        }
    } else if (g_str_has_prefix(path, "/objects/") && hb_secret_exists(path + 9)) {
        /* QEMU's property list for a secret, in its order. */
        static const char *const props[][2] = {
            { "type", "string" },   { "iv", "string" },
            { "keyid", "string" },  { "loaded", "bool" },
            { "format", "QCryptoSecretFormat" }, { "file", "string" },
            { "data", "string" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(props); i++) {
            append(&tail, props[i][0], props[i][1]);
        }
    } else {
        hb_error_set_code(errp, HB_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
        return false;
    }
    *ret = head;
    return true;
}

/*
 * The object a qom-get/qom-set path names: "/objects/<id>", or a bare
 * id (QEMU resolves a partial path when it is unambiguous, and ids are
 * unique here).  Return: the id, or NULL with DeviceNotFound.
 */
static const char *qom_path_id(const char *path, GError **errp)
{
    const char *id = g_str_has_prefix(path, "/objects/") ? path + 9 : path;

    if (*id && !strchr(id, '/') && (hb_object_type_owner(id) || hb_secret_exists(id))) {
        return id;
    }
    hb_error_set_code(errp, HB_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    return NULL;
}

/* Why @prop of object @id cannot be read or set, for types without hooks. */
static void qom_no_prop(const char *id, const char *prop, GError **errp)
{
    const HbObjectType *t = hb_object_type_owner(id);

    hb_error_set(errp, "Property '%s.%s' cannot be read or set in hotblock",
                 t ? t->name : "secret", prop);
}

bool qmp_qom_get(QapiQomGetArgs *args, JsonNode **ret, GError **errp)
{
    const char *id = qom_path_id(args->path, errp);
    const HbObjectType *t = id ? hb_object_type_owner(id) : NULL;

    if (!id) {
        return false;
    }
    if (!t || !t->prop_get) {
        qom_no_prop(id, args->property, errp);
        return false;
    }
    return t->prop_get(id, args->property, ret, errp);
}

bool qmp_qom_set(QapiQomSetArgs *args, GError **errp)
{
    const char *id = qom_path_id(args->path, errp);
    const HbObjectType *t = id ? hb_object_type_owner(id) : NULL;

    if (!id) {
        return false;
    }
    if (!t || !t->prop_set) {
        qom_no_prop(id, args->property, errp);
        return false;
    }
    return t->prop_set(id, args->property, args->value, errp);
}
