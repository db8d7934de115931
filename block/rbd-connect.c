/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/rbd-connect.c — reach a Ceph cluster through librados and open an rbd image. */
#include "block/rbd-int.h"

#include <errno.h>
#include <string.h>

#include "crypto/secret.h"
#include "util/error.h"
#include "util/slow-job.h"

/*
 * Theory of operation
 *
 * librados' rados_connect() talks to the monitors and authenticates; with a
 * monitor that does not answer it waits for client_mount_timeout.  That
 * must never stop the main loop (every QMP client and the exports' control
 * would wait), so the whole sequence — create, configure, connect, open the
 * pool and the image — runs as a slow job (util/slow-job.h), bounded by
 * x-connect-timeout, while the loop turns.  Only plain values cross into
 * the job: the secret is looked up before on the main thread (the secret
 * registry is main-thread only), and the GError is set by the job.
 *
 * Configuration is applied in QEMU's order: the conf file (or Ceph's
 * default locations, whose absence is no error), then the options, which
 * override it.  The cephx key goes to librados as its "key" option and
 * nowhere else: no error text, log line or query output carries it.
 */

typedef struct ConnectJob {
    HbRbdConn *c;
    const QapiBlockdevOptionsRbd *o;
    const char *key;        /* NULL: none; locked memory owned by the caller */
    char *mon_host;         /* NULL: none */
    char *auth;             /* NULL: none */
    bool read_only;
    bool cache_direct;
    bool pool_only;         /* stop at the pool: blockdev-create makes the image */
    GError *err;
} ConnectJob;

static bool conf_set(ConnectJob *j, const char *opt, const char *val)
{
    int r = rados_conf_set(j->c->cluster, opt, val);

    if (r < 0) {
        /* Never echo the value: it may be the key. */
        hb_error_set_errno(&j->err, r, "invalid %s for rbd",
                           strcmp(opt, "key") ? opt : "key-secret");
        return false;
    }
    return true;
}

static bool configure(ConnectJob *j)
{
    const QapiBlockdevOptionsRbd *o = j->o;
    guint64 timeout = o->has_x_connect_timeout ? o->x_connect_timeout
                                               : HB_RBD_CONNECT_TIMEOUT_DEFAULT;
    char num[24];
    int r;

    r = rados_conf_read_file(j->c->cluster, o->conf);
    if (r < 0 && o->conf) {
        hb_error_set_errno(&j->err, r, "error reading conf file %s", o->conf);
        return false;
    }
    if (j->mon_host && !conf_set(j, "mon_host", j->mon_host)) {
        return false;
    }
    if (j->auth && !conf_set(j, "auth_client_required", j->auth)) {
        return false;
    }
    if (j->key && !conf_set(j, "key", j->key)) {
        return false;
    }
    /* As QEMU: librbd's own cache follows cache.direct. */
    if (!conf_set(j, "rbd_cache", j->cache_direct ? "false" : "true")) {
        return false;
    }
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, timeout);
    if (!conf_set(j, "client_mount_timeout", num) ||
        !conf_set(j, "rados_mon_op_timeout", num)) {
        return false;
    }
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT,
               o->has_x_osd_op_timeout ? o->x_osd_op_timeout : 0);
    return conf_set(j, "rados_osd_op_timeout", num);
}

static void connect_job(void *opaque)
{
    ConnectJob *j = opaque;
    HbRbdConn *c = j->c;
    const QapiBlockdevOptionsRbd *o = j->o;
    int r;

    r = rados_create(&c->cluster, o->user);
    if (r < 0) {
        hb_error_set_errno(&j->err, r, "error initializing");
        c->cluster = NULL;
        return;
    }
    if (!configure(j)) {
        goto fail_cluster;
    }
    r = rados_connect(c->cluster);
    if (r < 0) {
        hb_error_set_errno(&j->err, r, "error connecting");
        goto fail_cluster;
    }
    r = rados_ioctx_create(c->cluster, o->pool, &c->ioctx);
    if (r < 0) {
        hb_error_set_errno(&j->err, r, "error opening pool %s", o->pool);
        goto fail_cluster;
    }
    rados_ioctx_set_namespace(c->ioctx, o->namespace);
    if (j->pool_only) {
        return;
    }
    r = j->read_only ? rbd_open_read_only(c->ioctx, o->image, &c->image, o->snapshot)
                     : rbd_open(c->ioctx, o->image, &c->image, o->snapshot);
    if (r < 0) {
        hb_error_set_errno(&j->err, r, "error reading header from %s", o->image);
        rados_ioctx_destroy(c->ioctx);
        goto fail_cluster;
    }
    return;

fail_cluster:
    rados_shutdown(c->cluster);
    *c = (HbRbdConn){ 0 };
}

/* "host:port,[v6]:port" from the server list, as mon_host takes it. */
static char *mon_host_of(const QapiInetSocketAddressBaseList *l)
{
    GString *s = g_string_new(NULL);

    for (; l; l = l->next) {
        const QapiInetSocketAddressBase *a = l->value;
        bool v6 = strchr(a->host, ':') != NULL;

        g_string_append_printf(s, "%s%s%s%s:%s", s->len ? "," : "",
                               v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
    }
    return g_string_free(s, FALSE);
}

/* "cephx;none" from auth-client-required. */
static char *auth_of(const QapiRbdAuthModeList *l)
{
    GString *s = g_string_new(NULL);

    for (; l; l = l->next) {
        g_string_append_printf(s, "%s%s", s->len ? ";" : "",
                               QapiRbdAuthMode_str(l->value));
    }
    return g_string_free(s, FALSE);
}

/*
 * The key librados takes is the base64 text of the secret's bytes, as
 * QEMU's qcrypto_secret_lookup_as_base64(): libvirt gives the secret with
 * format=base64 and the keyring's key as data, so the bytes are the key's
 * binary form.  Encoded into locked memory.
 */
static HbSecretBuf *key_of(const char *id, GError **errp)
{
    g_autoptr(HbSecretBuf) raw = hb_secret_lookup(id, errp);
    gint state = 0, save = 0;

    if (!raw) {
        return NULL;
    }
    HbSecretBuf *b64 = hb_secret_buf_new((raw->len / 3 + 1) * 4 + 4);
    gsize n = g_base64_encode_step(raw->data, raw->len, FALSE, (char *)b64->data,
                                   &state, &save);
    n += g_base64_encode_close(FALSE, (char *)b64->data + n, &state, &save);
    b64->data[n] = 0;
    return b64;
}

/* hb_rbd_connect(), or with @pool_only hb_rbd_connect_pool(). */
static bool connect_to(HbRbdConn *c, const QapiBlockdevOptionsRbd *o, bool read_only,
                       bool cache_direct, bool pool_only, GError **errp)
{
    g_autoptr(HbSecretBuf) key = NULL;
    g_autofree char *mon_host = o->server ? mon_host_of(o->server) : NULL;
    g_autofree char *auth = o->auth_client_required ? auth_of(o->auth_client_required) : NULL;

    if (o->key_secret) {
        key = key_of(o->key_secret, errp);
        if (!key) {
            return false;
        }
    }
    ConnectJob j = {
        .c = c, .o = o, .key = key ? (const char *)key->data : NULL,
        .mon_host = mon_host, .auth = auth, .read_only = read_only,
        .cache_direct = cache_direct, .pool_only = pool_only,
    };
    *c = (HbRbdConn){ 0 };
    hb_run_slow(connect_job, &j);
    if (j.err) {
        g_propagate_error(errp, j.err);
        return false;
    }
    return true;
}

bool hb_rbd_connect(HbRbdConn *c, const QapiBlockdevOptionsRbd *o,
                    bool read_only, bool cache_direct, GError **errp)
{
    return connect_to(c, o, read_only, cache_direct, false, errp);
}

bool hb_rbd_connect_pool(HbRbdConn *c, const QapiBlockdevOptionsRbd *o, GError **errp)
{
    return connect_to(c, o, false, true, true, errp);
}

void hb_rbd_disconnect(HbRbdConn *c)
{
    if (c->image) {
        rbd_close(c->image);
    }
    if (c->ioctx) {
        rados_ioctx_destroy(c->ioctx);
    }
    if (c->cluster) {
        rados_shutdown(c->cluster);
    }
    *c = (HbRbdConn){ 0 };
}
