/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/throttle-group.h — throttle groups: QEMU's leaky buckets, shared by throttle nodes. */
#ifndef HB_BLOCK_THROTTLE_GROUP_H
#define HB_BLOCK_THROTTLE_GROUP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "qapi-types.h"

/*
 * Theory of operation
 *
 * A throttle group (object-add qom-type throttle-group) holds six leaky
 * buckets, as QEMU's throttle.c: bytes and operations, each total, read
 * and write.  A request fills the buckets of its direction (bytes: its
 * length; operations: one, or length / iops-size); each bucket empties
 * at its average rate; a request must wait while a bucket is fuller than
 * its burst allows (avg / 10 without a burst setting; max * max-length
 * with one, and then also the burst bucket, emptying at max, fuller than
 * max / 10).  The wait is how long the fullest bucket needs to drain to
 * that size.
 *
 * Reservation.  QEMU queues a waiting request and accounts it when it is
 * let through.  Here a request is accounted when it arrives and told how
 * long to wait: the buckets then hold the requests already waiting, so
 * the k-th waiting request's wait ends when the k-1 before it have
 * drained: the same release times, the same average rate and bursts,
 * without a queue shared between I/O threads.  Each waiter sleeps on a
 * timer of its own thread's completion context (block/throttle.c).
 *
 * New limits (qom-set) reset the buckets, as QEMU's throttle_config()
 * does, and bump the group's generation: a waiter whose timer fires
 * (they fire at least every HB_THROTTLE_RECHECK_NS) under a newer
 * generation reserves again under the new limits.
 *
 * Groups live in a registry keyed by id (main thread).  Each throttle
 * node holds a reference, so an object in use cannot be deleted; the
 * buckets are behind the group's mutex, taken once per request.
 */

/* Longest a waiting request sleeps before it looks at the limits again. */
#define HB_THROTTLE_RECHECK_NS (100 * 1000 * 1000)

/* QEMU's THROTTLE_VALUE_MAX. */
#define HB_THROTTLE_VALUE_MAX 1000000000000000LL

typedef enum HbThrottleBucketType {
    HB_THROTTLE_BPS_TOTAL,
    HB_THROTTLE_BPS_READ,
    HB_THROTTLE_BPS_WRITE,
    HB_THROTTLE_OPS_TOTAL,
    HB_THROTTLE_OPS_READ,
    HB_THROTTLE_OPS_WRITE,
    HB_THROTTLE__MAX,
} HbThrottleBucketType;

typedef struct HbLeakyBucket {
    uint64_t avg;           /* units per second; 0: no limit */
    uint64_t max;           /* burst rate; 0: none */
    uint64_t burst_length;  /* seconds, >= 1 */
    double level;           /* units in the bucket */
    double burst_level;     /* units in the burst bucket (burst_length > 1) */
} HbLeakyBucket;

typedef struct HbThrottleConfig {
    HbLeakyBucket b[HB_THROTTLE__MAX];
    uint64_t op_size;       /* iops-size; 0: every request is one */
} HbThrottleConfig;

/* The buckets in use: a config with bursts filled in, and the last leak. */
typedef struct HbThrottleState {
    HbThrottleConfig cfg;
    int64_t previous_leak;  /* ns */
} HbThrottleState;

typedef struct HbThrottleGroup HbThrottleGroup;

/* No limits: every bucket empty, burst length 1. */
void hb_throttle_config_init(HbThrottleConfig *cfg);

/**
 * hb_throttle_config_update() - apply the members of @l that are present
 * to @cfg, then check the result with QEMU's rules and texts.
 * Return: true; false with @errp set, and then @cfg is unchanged.
 */
bool hb_throttle_config_update(HbThrottleConfig *cfg, const QapiThrottleLimits *l,
                               GError **errp);

/* Every member of ThrottleLimits from @cfg (qom-get). */
QapiThrottleLimits *hb_throttle_config_limits(const HbThrottleConfig *cfg);

/* Whether any limit is set. */
bool hb_throttle_config_enabled(const HbThrottleConfig *cfg);

/**
 * hb_throttle_state_set() - start @ts over with @cfg at @now_ns: empty
 * buckets, default bursts (max = avg / 10 where none is given).
 */
void hb_throttle_state_set(HbThrottleState *ts, const HbThrottleConfig *cfg, int64_t now_ns);

/**
 * hb_throttle_state_wait() - how long a request of direction @is_write
 * arriving at @now_ns would wait, without accounting it (buckets leaked
 * to @now_ns).
 * Return: the wait in ns, 0 to go at once.
 */
int64_t hb_throttle_state_wait(HbThrottleState *ts, bool is_write, int64_t now_ns);

/**
 * hb_throttle_state_reserve() - a request of @bytes arrives at @now_ns:
 * leak the buckets to @now_ns, compute how long it must wait, and
 * account it (see the theory).
 * Return: the wait in ns, 0 to go at once.
 */
int64_t hb_throttle_state_reserve(HbThrottleState *ts, bool is_write, uint64_t bytes,
                                  int64_t now_ns);

/* ---- groups (registry: main thread) ---- */

/**
 * hb_throttle_group_add() - object-add of a throttle-group.
 * @limits: its limits, or NULL for none
 * Return: true, or false with @errp set (bad limits; nothing is made).
 */
bool hb_throttle_group_add(const char *id, const QapiThrottleLimits *limits, GError **errp);

/* object-del: refused while a throttle node uses the group. */
bool hb_throttle_group_del(const char *id, GError **errp);

bool hb_throttle_group_exists(const char *id);

/* A reference on group @id for a throttle node, or NULL if there is none. */
HbThrottleGroup *hb_throttle_group_ref(const char *id);
void hb_throttle_group_unref(HbThrottleGroup *g);

/* qom-get/qom-set of "limits"; set merges as QEMU's, and changes nothing on error. */
QapiThrottleLimits *hb_throttle_group_get_limits(const char *id);
bool hb_throttle_group_set_limits(const char *id, const QapiThrottleLimits *l,
                                  GError **errp);

/**
 * hb_throttle_group_reserve() - hb_throttle_state_reserve() on @g's
 * buckets, under its lock.  Any thread.
 * @gen: set to the generation of the limits the wait was computed under
 * Return: the wait in ns.
 */
int64_t hb_throttle_group_reserve(HbThrottleGroup *g, bool is_write, uint64_t bytes,
                                  int *gen);

/**
 * hb_throttle_group_wait() - hb_throttle_state_wait() on @g's buckets now,
 * under its lock.  Any thread.
 * Return: the wait in ns.
 */
int64_t hb_throttle_group_wait(HbThrottleGroup *g, bool is_write);

/* The generation of @g's limits now (see the theory).  Any thread. */
int hb_throttle_group_generation(HbThrottleGroup *g);

/* Make qom-type throttle-group known to object-add (daemon startup). */
void hb_throttle_group_register_object_type(void);

#endif
