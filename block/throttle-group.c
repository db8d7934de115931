/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/throttle-group.c — leaky buckets, throttle-group objects, their limits (qom-get/-set). */
#include "block/throttle-group.h"

#include <limits.h>
#include <string.h>

#include "block/aio.h"
#include "qapi-json.h"
#include "util/error.h"
#include "util/object-types.h"

#define NS_PER_SEC 1000000000.0

struct HbThrottleGroup {
    char *name;
    int refcnt;                 /* the object's, and one per throttle node; main thread */
    GMutex lock;                /* guards ts */
    HbThrottleConfig user;      /* as set: what qom-get shows */
    HbThrottleState ts;
    gint generation;            /* atomic: bumped when the limits change */
};

/* ---- the buckets (QEMU's throttle.c, rules and texts) ---- */

void hb_throttle_config_init(HbThrottleConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < HB_THROTTLE__MAX; i++) {
        cfg->b[i].burst_length = 1;
    }
}

bool hb_throttle_config_enabled(const HbThrottleConfig *cfg)
{
    for (int i = 0; i < HB_THROTTLE__MAX; i++) {
        if (cfg->b[i].avg) {
            return true;
        }
    }
    return false;
}

static bool config_valid(const HbThrottleConfig *cfg, GError **errp)
{
    const HbLeakyBucket *b = cfg->b;
    bool bps = b[HB_THROTTLE_BPS_TOTAL].avg &&
               (b[HB_THROTTLE_BPS_READ].avg || b[HB_THROTTLE_BPS_WRITE].avg);
    bool ops = b[HB_THROTTLE_OPS_TOTAL].avg &&
               (b[HB_THROTTLE_OPS_READ].avg || b[HB_THROTTLE_OPS_WRITE].avg);
    bool bps_max = b[HB_THROTTLE_BPS_TOTAL].max &&
                   (b[HB_THROTTLE_BPS_READ].max || b[HB_THROTTLE_BPS_WRITE].max);
    bool ops_max = b[HB_THROTTLE_OPS_TOTAL].max &&
                   (b[HB_THROTTLE_OPS_READ].max || b[HB_THROTTLE_OPS_WRITE].max);

    if (bps || ops || bps_max || ops_max) {
        hb_error_set(errp, "bps/iops/max total values and read/write values"
                     " cannot be used at the same time");
        return false;
    }
    if (cfg->op_size && !b[HB_THROTTLE_OPS_TOTAL].avg &&
        !b[HB_THROTTLE_OPS_READ].avg && !b[HB_THROTTLE_OPS_WRITE].avg) {
        hb_error_set(errp, "iops size requires an iops value to be set");
        return false;
    }
    for (int i = 0; i < HB_THROTTLE__MAX; i++) {
        const HbLeakyBucket *k = &b[i];
        if (k->avg > HB_THROTTLE_VALUE_MAX || k->max > HB_THROTTLE_VALUE_MAX) {
            hb_error_set(errp, "bps/iops/max values must be within [0, %lld]",
                         HB_THROTTLE_VALUE_MAX);
            return false;
        }
        if (!k->burst_length) {
            hb_error_set(errp, "the burst length cannot be 0");
            return false;
        }
        if (k->burst_length > 1 && !k->max) {
            hb_error_set(errp, "burst length set without burst rate");
            return false;
        }
        if (k->max && k->burst_length > HB_THROTTLE_VALUE_MAX / k->max) {
            hb_error_set(errp, "burst length too high for this burst rate");
            return false;
        }
        if (k->max && !k->avg) {
            hb_error_set(errp, "bps_max/iops_max require corresponding"
                         " bps/iops values");
            return false;
        }
        if (k->max && k->max < k->avg) {
            hb_error_set(errp, "bps_max/iops_max cannot be lower than bps/iops");
            return false;
        }
    }
    return true;
}

/* One bucket's three members of ThrottleLimits, by name for the error text. */
static bool set_bucket(HbLeakyBucket *k, const char *name, bool has_avg, int64_t avg,
                       bool has_max, int64_t max, bool has_len, int64_t len,
                       GError **errp)
{
    /* Negative rates become huge and fail the range check, as in QEMU. */
    if (has_avg) {
        k->avg = (uint64_t)avg;
    }
    if (has_max) {
        k->max = (uint64_t)max;
    }
    if (has_len) {
        if (len < 0 || len > UINT_MAX) {
            hb_error_set(errp, "%s-max-length value must be in the range [0, %u]",
                         name, UINT_MAX);
            return false;
        }
        k->burst_length = (uint64_t)len;
    }
    return true;
}

/* The members of @l that are present into @c; only ranges are checked here. */
static bool apply(HbThrottleConfig *c, const QapiThrottleLimits *l, GError **errp)
{
    HbLeakyBucket *b = c->b;

    if (!set_bucket(&b[HB_THROTTLE_BPS_TOTAL], "bps-total", l->has_bps_total, l->bps_total,
                    l->has_bps_total_max, l->bps_total_max,
                    l->has_bps_total_max_length, l->bps_total_max_length, errp) ||
        !set_bucket(&b[HB_THROTTLE_BPS_READ], "bps-read", l->has_bps_read, l->bps_read,
                    l->has_bps_read_max, l->bps_read_max,
                    l->has_bps_read_max_length, l->bps_read_max_length, errp) ||
        !set_bucket(&b[HB_THROTTLE_BPS_WRITE], "bps-write", l->has_bps_write, l->bps_write,
                    l->has_bps_write_max, l->bps_write_max,
                    l->has_bps_write_max_length, l->bps_write_max_length, errp) ||
        !set_bucket(&b[HB_THROTTLE_OPS_TOTAL], "iops-total", l->has_iops_total, l->iops_total,
                    l->has_iops_total_max, l->iops_total_max,
                    l->has_iops_total_max_length, l->iops_total_max_length, errp) ||
        !set_bucket(&b[HB_THROTTLE_OPS_READ], "iops-read", l->has_iops_read, l->iops_read,
                    l->has_iops_read_max, l->iops_read_max,
                    l->has_iops_read_max_length, l->iops_read_max_length, errp) ||
        !set_bucket(&b[HB_THROTTLE_OPS_WRITE], "iops-write", l->has_iops_write, l->iops_write,
                    l->has_iops_write_max, l->iops_write_max,
                    l->has_iops_write_max_length, l->iops_write_max_length, errp)) {
        return false;
    }
    if (l->has_iops_size) {
        c->op_size = (uint64_t)l->iops_size;
    }
    return true;
}

bool hb_throttle_config_update(HbThrottleConfig *cfg, const QapiThrottleLimits *l,
                               GError **errp)
{
    HbThrottleConfig c = *cfg;

    if (!apply(&c, l, errp) || !config_valid(&c, errp)) {
        return false;
    }
    *cfg = c;
    return true;
}

QapiThrottleLimits *hb_throttle_config_limits(const HbThrottleConfig *cfg)
{
    QapiThrottleLimits *l = g_new0(QapiThrottleLimits, 1);
    const HbLeakyBucket *b = cfg->b;

#define GET(field, i) \
    l->has_##field = l->has_##field##_max = l->has_##field##_max_length = true; \
    l->field = (int64_t)b[i].avg; \
    l->field##_max = (int64_t)b[i].max; \
    l->field##_max_length = (int64_t)b[i].burst_length;
    GET(bps_total, HB_THROTTLE_BPS_TOTAL)
    GET(bps_read, HB_THROTTLE_BPS_READ)
    GET(bps_write, HB_THROTTLE_BPS_WRITE)
    GET(iops_total, HB_THROTTLE_OPS_TOTAL)
    GET(iops_read, HB_THROTTLE_OPS_READ)
    GET(iops_write, HB_THROTTLE_OPS_WRITE)
#undef GET
    l->has_iops_size = true;
    l->iops_size = (int64_t)cfg->op_size;
    return l;
}

void hb_throttle_state_set(HbThrottleState *ts, const HbThrottleConfig *cfg, int64_t now_ns)
{
    ts->cfg = *cfg;
    for (int i = 0; i < HB_THROTTLE__MAX; i++) {
        HbLeakyBucket *k = &ts->cfg.b[i];
        k->level = k->burst_level = 0;
        /* Without a burst rate, short bursts of avg / 10 still pass (QEMU). */
        if (k->avg && !k->max) {
            k->max = k->avg / 10;
        }
    }
    ts->previous_leak = now_ns;
}

static void leak(HbLeakyBucket *k, int64_t delta_ns)
{
    double out = (double)k->avg * (double)delta_ns / NS_PER_SEC;

    k->level = MAX(k->level - out, 0);
    if (k->burst_length > 1) {
        out = (double)k->max * (double)delta_ns / NS_PER_SEC;
        k->burst_level = MAX(k->burst_level - out, 0);
    }
}

/*
 * How long @k needs before a request may go: 0, or ns.  QEMU looks at the
 * burst bucket only while the main one is not full, since it accounts a
 * request when it goes and the main level then never outruns the burst.
 * With reservation (see the header) both fill at arrival, so the wait is
 * the longer of the two: the same release times.
 */
static int64_t bucket_wait(const HbLeakyBucket *k)
{
    double size, burst_size, extra;
    int64_t wait = 0;

    if (!k->avg) {
        return 0;
    }
    if (!k->max) {
        size = (double)k->avg / 10;
        burst_size = 0;
    } else {
        size = (double)k->max * (double)k->burst_length;
        burst_size = (double)k->max / 10;
    }
    extra = k->level - size;
    if (extra > 0) {
        wait = (int64_t)(extra * NS_PER_SEC / (double)k->avg);
    }
    if (k->burst_length > 1) {
        extra = k->burst_level - burst_size;
        if (extra > 0) {
            wait = MAX(wait, (int64_t)(extra * NS_PER_SEC / (double)k->max));
        }
    }
    return wait;
}

static void fill(HbLeakyBucket *k, double units)
{
    k->level += units;
    if (k->burst_length > 1) {
        k->burst_level += units;
    }
}

int64_t hb_throttle_state_wait(HbThrottleState *ts, bool is_write, int64_t now_ns)
{
    HbLeakyBucket *b = ts->cfg.b;
    HbThrottleBucketType bps = is_write ? HB_THROTTLE_BPS_WRITE : HB_THROTTLE_BPS_READ;
    HbThrottleBucketType ops = is_write ? HB_THROTTLE_OPS_WRITE : HB_THROTTLE_OPS_READ;
    const HbThrottleBucketType mine[] = { HB_THROTTLE_BPS_TOTAL, HB_THROTTLE_OPS_TOTAL, bps, ops };
    int64_t wait = 0;

    if (now_ns > ts->previous_leak) {
        for (int i = 0; i < HB_THROTTLE__MAX; i++) {
            leak(&b[i], now_ns - ts->previous_leak);
        }
        ts->previous_leak = now_ns;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(mine); i++) {
        wait = MAX(wait, bucket_wait(&b[mine[i]]));
    }
    return wait;
}

int64_t hb_throttle_state_reserve(HbThrottleState *ts, bool is_write, uint64_t bytes,
                                  int64_t now_ns)
{
    HbLeakyBucket *b = ts->cfg.b;
    HbThrottleBucketType bps = is_write ? HB_THROTTLE_BPS_WRITE : HB_THROTTLE_BPS_READ;
    HbThrottleBucketType ops = is_write ? HB_THROTTLE_OPS_WRITE : HB_THROTTLE_OPS_READ;
    int64_t wait = hb_throttle_state_wait(ts, is_write, now_ns);
    double units = 1.0;

    if (ts->cfg.op_size && bytes > ts->cfg.op_size) {
        units = (double)bytes / (double)ts->cfg.op_size;
    }
    fill(&b[HB_THROTTLE_BPS_TOTAL], (double)bytes);
    fill(&b[bps], (double)bytes);
    fill(&b[HB_THROTTLE_OPS_TOTAL], units);
    fill(&b[ops], units);
    return wait;
}

/* ---- groups ---- */

static GHashTable *groups;      /* id -> HbThrottleGroup *; main thread */

static HbThrottleGroup *find(const char *id)
{
    return groups ? g_hash_table_lookup(groups, id) : NULL;
}

bool hb_throttle_group_exists(const char *id)
{
    return find(id) != NULL;
}

bool hb_throttle_group_add(const char *id, const QapiThrottleLimits *limits, GError **errp)
{
    HbThrottleConfig cfg;

    hb_throttle_config_init(&cfg);
    if (limits && !hb_throttle_config_update(&cfg, limits, errp)) {
        return false;
    }
    HbThrottleGroup *g = g_new0(HbThrottleGroup, 1);
    g->name = g_strdup(id);
    g->refcnt = 1;
    g_mutex_init(&g->lock);
    g->user = cfg;
    hb_throttle_state_set(&g->ts, &cfg, hb_aio_now_ns());
    if (!groups) {
        groups = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(groups, g->name, g);
    return true;
}

HbThrottleGroup *hb_throttle_group_ref(const char *id)
{
    HbThrottleGroup *g = find(id);

    if (g) {
        g->refcnt++;
    }
    return g;
}

void hb_throttle_group_unref(HbThrottleGroup *g)
{
    if (g && --g->refcnt == 0) {
        g_mutex_clear(&g->lock);
        g_free(g->name);
        g_free(g);
    }
}

bool hb_throttle_group_del(const char *id, GError **errp)
{
    HbThrottleGroup *g = find(id);

    if (g->refcnt > 1) {
        hb_error_set(errp, "object '%s' is in use, can not be deleted", id);
        return false;
    }
    g_hash_table_remove(groups, id);
    hb_throttle_group_unref(g);
    return true;
}

QapiThrottleLimits *hb_throttle_group_get_limits(const char *id)
{
    HbThrottleGroup *g = find(id);

    return g ? hb_throttle_config_limits(&g->user) : NULL;
}

bool hb_throttle_group_set_limits(const char *id, const QapiThrottleLimits *l,
                                  GError **errp)
{
    HbThrottleGroup *g = find(id);
    HbThrottleConfig cfg = g->user;

    if (!hb_throttle_config_update(&cfg, l, errp)) {
        return false;
    }
    g->user = cfg;
    g_mutex_lock(&g->lock);
    hb_throttle_state_set(&g->ts, &cfg, hb_aio_now_ns());
    g_atomic_int_inc(&g->generation);
    g_mutex_unlock(&g->lock);
    return true;
}

int64_t hb_throttle_group_reserve(HbThrottleGroup *g, bool is_write, uint64_t bytes,
                                  int *gen)
{
    int64_t wait;

    g_mutex_lock(&g->lock);
    wait = hb_throttle_state_reserve(&g->ts, is_write, bytes, hb_aio_now_ns());
    *gen = g_atomic_int_get(&g->generation);
    g_mutex_unlock(&g->lock);
    return wait;
}

int64_t hb_throttle_group_wait(HbThrottleGroup *g, bool is_write)
{
    int64_t wait;

    g_mutex_lock(&g->lock);
    wait = hb_throttle_state_wait(&g->ts, is_write, hb_aio_now_ns());
    g_mutex_unlock(&g->lock);
    return wait;
}

int hb_throttle_group_generation(HbThrottleGroup *g)
{
    return g_atomic_int_get(&g->generation);
}

/* ---- the object type ---- */

/* The legacy flat x- members as a ThrottleLimits (QEMU's x-iops-total, ...). */
static QapiThrottleLimits flat_limits(const QapiThrottleGroupProperties *p)
{
    QapiThrottleLimits l = { 0 };

#define FLAT(f) \
    l.has_##f = p->has_x_##f, l.f = p->x_##f, \
    l.has_##f##_max = p->has_x_##f##_max, l.f##_max = p->x_##f##_max, \
    l.has_##f##_max_length = p->has_x_##f##_max_length, \
    l.f##_max_length = p->x_##f##_max_length
    FLAT(iops_total);
    FLAT(iops_read);
    FLAT(iops_write);
    FLAT(bps_total);
    FLAT(bps_read);
    FLAT(bps_write);
#undef FLAT
    l.has_iops_size = p->has_x_iops_size;
    l.iops_size = p->x_iops_size;
    return l;
}

static bool tg_add(const char *id, const void *props, GError **errp)
{
    const QapiThrottleGroupProperties *p = ((const QapiObjectOptions *)props)->u.throttle_group;
    QapiThrottleLimits flat = flat_limits(p);
    g_autoptr(QapiThrottleLimits) merged = NULL;
    HbThrottleConfig cfg;

    /* @limits, then the flat members over it; the result is checked once. */
    hb_throttle_config_init(&cfg);
    if ((p->limits && !apply(&cfg, p->limits, errp)) || !apply(&cfg, &flat, errp)) {
        return false;
    }
    merged = hb_throttle_config_limits(&cfg);
    return hb_throttle_group_add(id, merged, errp);
}

static bool tg_prop_get(const char *id, const char *prop, JsonNode **ret, GError **errp)
{
    if (strcmp(prop, "limits")) {
        hb_error_set(errp, "Property 'throttle-group.%s' not found", prop);
        return false;
    }
    g_autoptr(QapiThrottleLimits) l = hb_throttle_group_get_limits(id);
    *ret = qapi_to_json_ThrottleLimits(l);
    return true;
}

static bool tg_prop_set(const char *id, const char *prop, JsonNode *value, GError **errp)
{
    g_autoptr(QapiThrottleLimits) l = NULL;

    if (strcmp(prop, "limits")) {
        hb_error_set(errp, "Property 'throttle-group.%s' not found", prop);
        return false;
    }
    if (!qapi_from_json_ThrottleLimits(value, false, &l, errp)) {
        return false;
    }
    return hb_throttle_group_set_limits(id, l, errp);
}

static const HbObjectType throttle_group_type = {
    .name = "throttle-group",
    .add = tg_add,
    .del = hb_throttle_group_del,
    .exists = hb_throttle_group_exists,
    .prop_get = tg_prop_get,
    .prop_set = tg_prop_set,
};

void hb_throttle_group_register_object_type(void)
{
    hb_object_type_register(&throttle_group_type);
}
