/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vhost-user.c — vhost-user messages: features, memory table, vrings, config. */
#include "vhost/vhost-user.h"
#include "vhost/vu-msg.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Handler results */
enum { MSG_DROP = -1, MSG_OK = 0, MSG_FAILED = 1 };

static const uint64_t supported_protocol_features =
    (1ull << HB_VU_PROTOCOL_F_MQ) |
    (1ull << HB_VU_PROTOCOL_F_LOG_SHMFD) |
    (1ull << HB_VU_PROTOCOL_F_REPLY_ACK) |
    (1ull << HB_VU_PROTOCOL_F_BACKEND_REQ) |
    (1ull << HB_VU_PROTOCOL_F_CONFIG) |
    (1ull << HB_VU_PROTOCOL_F_INFLIGHT_SHMFD) |
    (1ull << HB_VU_PROTOCOL_F_RESET_DEVICE) |
    (1ull << HB_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Virtio features we offer: the device's, and the transport bits we implement. */
static uint64_t offered_features(HbVuDev *dev)
{
    return dev->iface->get_features(dev) | (1ull << HB_VU_F_PROTOCOL_FEATURES) |
           (1ull << HB_VU_F_LOG_ALL);
}

/*
 * Point ring @q at the dirty log if logging is on (its mutex is held, so
 * none of its requests is in flight: each is logged all or nothing).
 */
static void queue_sync_log(HbVuDev *dev, HbVuQueue *q)
{
    bool on = (dev->features & (1ull << HB_VU_F_LOG_ALL)) && dev->log.bits;

    q->vq.log = on ? &dev->log : NULL;
    q->vq.log_used = q->log_used;
    q->vq.log_used_gpa = q->log_gpa;
}

/* Whether the log has a bit for every page of the table and of each logged used ring. */
static bool log_covers_all(HbVuDev *dev, const HbDirtyLog *log, const HbGuestMem *mem)
{
    if (!hb_dirty_log_covers(log, 0, hb_guest_mem_gpa_end(mem))) {
        return false;
    }
    for (unsigned i = 0; i < dev->max_queues; i++) {
        HbVuQueue *q = &dev->q[i];
        if (q->addr_set && q->log_used && q->num &&
            !hb_dirty_log_covers(log, q->log_gpa, hb_virtq_used_size(q->num))) {
            return false;
        }
    }
    return true;
}

/* Logging is on: a new table or ring must stay inside the bitmap. */
static bool logging_on(HbVuDev *dev)
{
    return (dev->features & (1ull << HB_VU_F_LOG_ALL)) && dev->log.bits;
}

void hb_vu_init(HbVuDev *dev, const HbVuIface *iface, void *opaque,
                unsigned max_queues)
{
    memset(dev, 0, sizeof(*dev));
    dev->iface = iface;
    dev->opaque = opaque;
    dev->max_queues = max_queues ? MIN(max_queues, HB_VU_MAX_QUEUES) : 1;
    dev->sock = -1;
    dev->backend_fd = -1;
    g_mutex_init(&dev->backend_lock);
    g_mutex_init(&dev->drop_lock);
    for (unsigned i = 0; i < HB_VU_MAX_QUEUES; i++) {
        HbVuQueue *q = &dev->q[i];
        g_mutex_init(&q->lock);
        q->kick_fd = q->call_fd = q->err_fd = -1;
    }
}

void hb_vu_attach(HbVuDev *dev, int sock)
{
    /* A front-end that sends half a message must not hold the thread forever. */
    struct timeval tv = { .tv_sec = 5 };

    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    dev->sock = sock;
}

/* Stop polling and processing ring @q; its mutex is held. */
static void queue_stop(HbVuDev *dev, unsigned qidx)
{
    HbVuQueue *q = &dev->q[qidx];

    if (q->kick_fd >= 0) {
        dev->iface->kick_fd_changed(dev, qidx, q->kick_fd, -1);
        close_fd(&q->kick_fd);
    }
    q->started = false;
}

/* Forget everything about ring @qidx (its mutex is held). */
static void queue_reset(HbVuDev *dev, unsigned qidx)
{
    HbVuQueue *q = &dev->q[qidx];

    queue_stop(dev, qidx);
    close_fd(&q->call_fd);
    close_fd(&q->err_fd);
    memset(&q->vq, 0, sizeof(q->vq));
    q->num = 0;
    q->desc_uva = q->avail_uva = q->used_uva = 0;
    q->base = 0;
    q->addr_set = false;
    q->log_used = false;
    q->log_gpa = 0;
    q->enabled = false;
    q->broken = false;
    queue_sync_log(dev, q);
}

/*
 * Note why the connection is being given up.  The control thread and the
 * rings' I/O threads may all do so, hence the lock.
 */
static void G_GNUC_PRINTF(2, 3) note_drop(HbVuDev *dev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_mutex_lock(&dev->drop_lock);
    g_vsnprintf(dev->drop_reason, sizeof(dev->drop_reason), fmt, ap);
    g_mutex_unlock(&dev->drop_lock);
    va_end(ap);
}

void hb_vu_drop_reason(HbVuDev *dev, char *buf, size_t size)
{
    g_mutex_lock(&dev->drop_lock);
    g_strlcpy(buf, dev->drop_reason, size);
    g_mutex_unlock(&dev->drop_lock);
}

/* The control thread's lock of a ring: counted, so a busy ring yields to it. */
static void queue_lock(HbVuQueue *q)
{
    g_atomic_int_inc(&q->lock_waiters);
    g_mutex_lock(&q->lock);
    g_atomic_int_add(&q->lock_waiters, -1);
}

bool hb_vu_queue_lock_wanted(HbVuQueue *q)
{
    return g_atomic_int_get(&q->lock_waiters) > 0;
}

static void lock_all(HbVuDev *dev)
{
    for (unsigned i = 0; i < dev->max_queues; i++) {
        queue_lock(&dev->q[i]);
    }
}

static void unlock_all(HbVuDev *dev)
{
    for (unsigned i = dev->max_queues; i > 0; i--) {
        g_mutex_unlock(&dev->q[i - 1].lock);
    }
}

void hb_vu_reset(HbVuDev *dev)
{
    lock_all(dev);
    dev->features = 0;          /* first: the rings' logging goes with it */
    for (unsigned i = 0; i < dev->max_queues; i++) {
        queue_reset(dev, i);
    }
    hb_guest_mem_clear(&dev->mem);
    hb_vu_inflight_unmap(&dev->inflight);
    hb_dirty_log_unmap(&dev->log);
    __atomic_store_n(&dev->mem_fault, 0, __ATOMIC_RELEASE);
    unlock_all(dev);

    g_mutex_lock(&dev->backend_lock);
    close_fd(&dev->backend_fd);
    g_mutex_unlock(&dev->backend_lock);
    close_fd(&dev->sock);
    dev->features = 0;
    dev->protocol_features = 0;
    dev->owner_set = false;
    dev->last_request = 0;
    dev->rings_started = false;
    note_drop(dev, "%s", "");
}

void hb_vu_destroy(HbVuDev *dev)
{
    for (unsigned i = 0; i < HB_VU_MAX_QUEUES; i++) {
        g_mutex_clear(&dev->q[i].lock);
    }
    g_mutex_clear(&dev->backend_lock);
    g_mutex_clear(&dev->drop_lock);
}

/* ---- rings ---- */

/* Translate ring @q's addresses through the current table (mutex held). */
static bool queue_map(HbVuDev *dev, HbVuQueue *q, bool initial)
{
    void *desc, *avail, *used;
    uint16_t last_avail = initial ? q->base : q->vq.last_avail_idx;
    uint16_t used_idx = q->vq.used_idx;

    if (!q->addr_set || !q->num) {
        return false;
    }
    desc = hb_guest_mem_uva_to_ptr(&dev->mem, q->desc_uva, hb_virtq_desc_size(q->num));
    avail = hb_guest_mem_uva_to_ptr(&dev->mem, q->avail_uva, hb_virtq_avail_size(q->num));
    used = hb_guest_mem_uva_to_ptr(&dev->mem, q->used_uva, hb_virtq_used_size(q->num));
    if (!desc || !avail || !used ||
        ((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3)) {
        return false;
    }
    q->vq.event_idx = dev->features & (1ull << 29);
    q->vq.indirect = dev->features & (1ull << 28);
    if (hb_virtq_init(&q->vq, &dev->mem, q->num, desc, avail, used, last_avail) < 0) {
        return false;
    }
    /* Resume where the used ring says the previous owner stopped. */
    q->vq.used_idx = initial ? le16toh(__atomic_load_n(&q->vq.used->idx, __ATOMIC_RELAXED))
                             : used_idx;
    if (initial) {
        q->vq.inflight = hb_vu_inflight_queue(&dev->inflight, q - dev->q);
        /* The ring's slice of the inflight buffer was sized by the
         * front-end's queue_size: a bigger ring would write past it. */
        if (q->vq.inflight && q->num > dev->inflight.queue_size) {
            q->vq.inflight = NULL;
            return false;
        }
        q->vq.nresubmit = q->vq.resubmit_pos = 0;
        if (hb_virtq_inflight_recover(&q->vq) < 0) {
            return false;
        }
    }
    return true;
}

void hb_vu_queue_wake(HbVuQueue *q)
{
    /* A request queued before we polled the kick fd must not wait for the
     * next kick: make the fd readable once ourselves. */
    if (q->kick_fd >= 0) {
        eventfd_write(q->kick_fd, 1);
    }
}

/* After a memory table change (all mutexes held): re-translate live rings. */
static bool remap_all(HbVuDev *dev)
{
    bool ok = true;

    for (unsigned i = 0; i < dev->max_queues; i++) {
        HbVuQueue *q = &dev->q[i];
        if (q->started && !queue_map(dev, q, false)) {
            q->broken = true;
            ok = false;
        }
    }
    return ok;
}

bool hb_vu_handle_kick(HbVuDev *dev, unsigned qidx)
{
    HbVuQueue *q = &dev->q[qidx];
    bool ok = true;
    eventfd_t v;

    /*
     * The control thread (GET_VRING_BASE, memory table, reset) waits for
     * this lock: let it in first.  A mutex does not queue its waiters, and
     * a ring that is always full would otherwise re-take it at once, every
     * time the runner yields.
     */
    for (int i = 0; i < 2000 && g_atomic_int_get(&q->lock_waiters) > 0; i++) {
        g_usleep(50);
    }
    g_mutex_lock(&q->lock);
    if (q->kick_fd >= 0) {
        (void)eventfd_read(q->kick_fd, &v);   /* EAGAIN: a stale wakeup */
    }
    if (q->started && q->enabled && !q->broken) {
        ok = dev->iface->process_queue(dev, qidx, &q->vq);
        /* Zeroes stood in for truncated memory: nothing read is to be trusted. */
        if (!ok || __atomic_load_n(&dev->mem_fault, __ATOMIC_ACQUIRE)) {
            /* Read by the control thread once it acts on the broken ring. */
            if (ok) {
                note_drop(dev, "it truncated memory it had shared");
            } else {
                note_drop(dev, "ring %u broken by a malformed request", qidx);
            }
            q->broken = true;
            ok = false;
        }
    } else if (q->broken) {
        ok = false;
    }
    g_mutex_unlock(&q->lock);
    return ok;
}

void hb_vu_queue_notify(HbVuDev *dev, HbVuQueue *q)
{
    if (q->call_fd >= 0 && hb_virtq_should_notify(&q->vq)) {
        eventfd_write(q->call_fd, 1);
    }
}

bool hb_vu_config_changed(HbVuDev *dev)
{
    VuMsgHdr hdr = {
        .request = HB_VU_BACKEND_CONFIG_CHANGE_MSG,
        .flags = HB_VU_MSG_VERSION,
        .size = 0,
    };
    bool ok = false;

    g_mutex_lock(&dev->backend_lock);
    if (dev->backend_fd >= 0) {
        ok = hb_vu_msg_send_nowait(dev->backend_fd, &hdr, NULL, 0, NULL, 0);
    }
    g_mutex_unlock(&dev->backend_lock);
    return ok;
}

/* Take fd @i out of @msg (the handler now owns it). */
static int take_fd(VuMsg *msg, unsigned i)
{
    int fd = msg->fds[i];
    msg->fds[i] = -1;
    return fd;
}

/* ---- handlers ---- */

static bool size_is(const VuMsg *msg, size_t size)
{
    return msg->hdr.size == size;
}

static int set_features(HbVuDev *dev, VuMsg *msg)
{
    if (!size_is(msg, 8) || (msg->p.u64 & ~offered_features(dev))) {
        return MSG_DROP;
    }
    lock_all(dev);
    dev->features = msg->p.u64;
    for (unsigned i = 0; i < dev->max_queues; i++) {
        HbVuQueue *q = &dev->q[i];
        q->vq.event_idx = dev->features & (1ull << 29);
        q->vq.indirect = dev->features & (1ull << 28);
        /* Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE. */
        if (!(dev->features & (1ull << HB_VU_F_PROTOCOL_FEATURES))) {
            q->enabled = true;
        }
        queue_sync_log(dev, q);
    }
    /* Logging turned on must have a bitmap big enough for what it covers. */
    bool ok = !logging_on(dev) || log_covers_all(dev, &dev->log, &dev->mem);
    unlock_all(dev);
    return ok ? MSG_OK : MSG_DROP;
}

static int add_regions(HbVuDev *dev, HbGuestMem *mem, const VuRegion *regs,
                       unsigned n, VuMsg *msg)
{
    for (unsigned i = 0; i < n; i++) {
        HbGuestMemRegion r = {
            .gpa = regs[i].gpa, .size = regs[i].size,
            .uva = regs[i].uva, .mmap_offset = regs[i].mmap_offset,
        };
        if (hb_guest_mem_map_region(&r, msg->fds[i], &dev->mem_fault) < 0) {
            return MSG_DROP;
        }
        if (hb_guest_mem_add(mem, &r) < 0) {
            hb_guest_mem_unmap_region(&r);
            return MSG_DROP;
        }
    }
    return MSG_OK;
}

static int set_mem_table(HbVuDev *dev, VuMsg *msg)
{
    g_autofree HbGuestMem *mem = g_new0(HbGuestMem, 1);
    HbGuestMem old;
    unsigned n = msg->p.mem.nregions;
    bool ok;

    if (msg->hdr.size < 8 || n > HB_VU_MEM_TABLE_MAX || n != msg->nfds ||
        msg->hdr.size < 8 + n * sizeof(VuRegion)) {
        return MSG_DROP;
    }
    if (add_regions(dev, mem, msg->p.mem.regions, n, msg) != MSG_OK) {
        hb_guest_mem_clear(mem);
        return MSG_DROP;
    }
    lock_all(dev);
    old = dev->mem;
    dev->mem = *mem;
    ok = remap_all(dev);
    /* QEMU grows the log before it grows the table: a front-end that does
     * not would have us miss dirty pages. */
    if (logging_on(dev) && !log_covers_all(dev, &dev->log, &dev->mem)) {
        ok = false;
    }
    unlock_all(dev);
    hb_guest_mem_clear(&old);
    return ok ? MSG_OK : MSG_DROP;
}

static int add_mem_reg(HbVuDev *dev, VuMsg *msg)
{
    const VuRegion *reg = &msg->p.memreg.region;
    HbGuestMemRegion r = {
        .gpa = reg->gpa, .size = reg->size, .uva = reg->uva,
        .mmap_offset = reg->mmap_offset,
    };
    int ret;

    if (!size_is(msg, sizeof(msg->p.memreg)) || msg->nfds != 1 ||
        hb_guest_mem_map_region(&r, msg->fds[0], &dev->mem_fault) < 0) {
        return MSG_DROP;
    }
    lock_all(dev);
    ret = hb_guest_mem_add(&dev->mem, &r);
    bool covered = ret < 0 || !logging_on(dev) || log_covers_all(dev, &dev->log, &dev->mem);
    unlock_all(dev);
    if (ret < 0) {
        hb_guest_mem_unmap_region(&r);
        return MSG_DROP;
    }
    return covered ? MSG_OK : MSG_DROP;
}

static int rem_mem_reg(HbVuDev *dev, VuMsg *msg)
{
    const VuRegion *reg = &msg->p.memreg.region;
    bool ok;
    int ret;

    if (!size_is(msg, sizeof(msg->p.memreg))) {
        return MSG_DROP;
    }
    lock_all(dev);
    ret = hb_guest_mem_remove(&dev->mem, reg->gpa, reg->size, reg->uva);
    ok = remap_all(dev);
    unlock_all(dev);
    return ret < 0 || !ok ? MSG_DROP : MSG_OK;
}

/* The ring named by a state/addr message, or NULL if out of range. */
static HbVuQueue *msg_queue(HbVuDev *dev, uint32_t index)
{
    return index < dev->max_queues ? &dev->q[index] : NULL;
}

static int set_vring_num(HbVuDev *dev, VuMsg *msg)
{
    HbVuQueue *q = msg_queue(dev, msg->p.state.index);
    uint32_t num = msg->p.state.num;

    if (!size_is(msg, sizeof(msg->p.state)) || !q || num == 0 ||
        num > HB_VIRTQ_MAX_SIZE || (num & (num - 1))) {
        return MSG_DROP;
    }
    queue_lock(q);
    /* A started ring keeps its size: its inflight slice and the memory
     * behind it were checked for the old one. */
    bool started = q->started;
    if (!started) {
        q->num = num;
    }
    g_mutex_unlock(&q->lock);
    return started ? MSG_DROP : MSG_OK;
}

static int set_vring_addr(HbVuDev *dev, VuMsg *msg)
{
    HbVuQueue *q = msg_queue(dev, msg->p.addr.index);
    int ret = MSG_OK;

    if (!size_is(msg, sizeof(msg->p.addr)) || !q ||
        (msg->p.addr.flags & ~HB_VU_VRING_F_LOG)) {
        return MSG_DROP;
    }
    queue_lock(q);
    q->desc_uva = msg->p.addr.desc;
    q->avail_uva = msg->p.addr.avail;
    q->used_uva = msg->p.addr.used;
    q->log_used = msg->p.addr.flags & HB_VU_VRING_F_LOG;
    q->log_gpa = msg->p.addr.log;
    q->addr_set = true;
    queue_sync_log(dev, q);
    if (q->started && !queue_map(dev, q, false)) {
        ret = MSG_DROP;
    }
    /* A ring logged past the end of the bitmap would lose dirty pages. */
    if (q->log_used && logging_on(dev) && q->num &&
        !hb_dirty_log_covers(&dev->log, q->log_gpa, hb_virtq_used_size(q->num))) {
        ret = MSG_DROP;
    }
    g_mutex_unlock(&q->lock);
    return ret;
}

static int set_vring_base(HbVuDev *dev, VuMsg *msg)
{
    HbVuQueue *q = msg_queue(dev, msg->p.state.index);

    if (!size_is(msg, sizeof(msg->p.state)) || !q || msg->p.state.num > 0xffff) {
        return MSG_DROP;
    }
    queue_lock(q);
    q->base = msg->p.state.num;
    g_mutex_unlock(&q->lock);
    return MSG_OK;
}

static int get_vring_base(HbVuDev *dev, VuMsg *msg)
{
    HbVuQueue *q = msg_queue(dev, msg->p.state.index);

    if (!size_is(msg, sizeof(msg->p.state)) || !q) {
        return MSG_DROP;
    }
    /* Holding the mutex means no request of this ring is in flight. */
    queue_lock(q);
    msg->p.state.num = q->started ? q->vq.last_avail_idx : q->base;
    q->base = msg->p.state.num;
    queue_stop(dev, msg->p.state.index);
    q->broken = false;
    g_mutex_unlock(&q->lock);
    return hb_vu_msg_reply(dev->sock, msg, sizeof(msg->p.state), -1) ? MSG_OK : MSG_DROP;
}

/*
 * Kick and call fds must be eventfds: a pipe's hang-up would make the kick
 * poll spin, and writes to a full pipe block.  The call fd is made
 * non-blocking, so a front-end that fills its counter cannot stall the
 * I/O thread (it shares the file description and could clear the flag
 * again: a residual risk noted in docs/architecture.md).
 */
static bool is_eventfd(int fd)
{
    char path[32], target[32];
    ssize_t n;

    g_snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return false;
    }
    target[n] = 0;
    return g_str_equal(target, "anon_inode:[eventfd]");
}

/* SET_VRING_KICK/CALL/ERR: u64 with the index and a "no fd" bit. */
static int set_vring_fd(HbVuDev *dev, VuMsg *msg)
{
    uint64_t v = msg->p.u64;
    unsigned qidx = v & 0xff;
    bool nofd = v & (1ull << 8);
    HbVuQueue *q = msg_queue(dev, qidx);
    int fd, ret = MSG_OK;

    if (!size_is(msg, 8) || !q || (v >> 9) || (nofd ? msg->nfds != 0 : msg->nfds != 1)) {
        return MSG_DROP;
    }
    fd = nofd ? -1 : take_fd(msg, 0);
    if (fd >= 0 && msg->hdr.request != HB_VU_SET_VRING_ERR && !is_eventfd(fd)) {
        close_fd(&fd);
        return MSG_DROP;
    }
    if (fd >= 0 && msg->hdr.request == HB_VU_SET_VRING_CALL) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    queue_lock(q);
    switch (msg->hdr.request) {
    case HB_VU_SET_VRING_KICK:
        queue_stop(dev, qidx);
        if (fd < 0) {
            ret = MSG_DROP;      /* polling mode is not supported */
            break;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        q->kick_fd = fd;
        q->kick_gen++;
        fd = -1;
        if (!queue_map(dev, q, true)) {
            ret = MSG_DROP;
            break;
        }
        q->started = true;
        q->broken = false;
        dev->rings_started = true;
        dev->iface->kick_fd_changed(dev, qidx, -1, q->kick_fd);
        hb_vu_queue_wake(q);
        break;
    case HB_VU_SET_VRING_CALL:
        close_fd(&q->call_fd);
        q->call_fd = fd;
        fd = -1;
        break;
    default:
        close_fd(&q->err_fd);
        q->err_fd = fd;
        fd = -1;
        break;
    }
    g_mutex_unlock(&q->lock);
    close_fd(&fd);
    return ret;
}

static int set_vring_enable(HbVuDev *dev, VuMsg *msg)
{
    HbVuQueue *q = msg_queue(dev, msg->p.state.index);

    if (!size_is(msg, sizeof(msg->p.state)) || !q || msg->p.state.num > 1) {
        return MSG_DROP;
    }
    queue_lock(q);
    q->enabled = msg->p.state.num;
    if (q->enabled && q->started) {
        hb_vu_queue_wake(q);
    }
    g_mutex_unlock(&q->lock);
    return MSG_OK;
}

static int get_config(HbVuDev *dev, VuMsg *msg)
{
    uint8_t buf[HB_VU_CONFIG_MAX];
    uint32_t off = msg->p.config.offset, size = msg->p.config.size;

    if (msg->hdr.size < HB_VU_CONFIG_HDR_SIZE || off > HB_VU_CONFIG_MAX ||
        size > HB_VU_CONFIG_MAX - off || msg->hdr.size != HB_VU_CONFIG_HDR_SIZE + size) {
        return MSG_DROP;
    }
    if (dev->iface->get_config(dev, buf, off + size) < 0) {
        return MSG_DROP;
    }
    memcpy(msg->p.config.region, buf + off, size);
    return hb_vu_msg_reply(dev->sock, msg, HB_VU_CONFIG_HDR_SIZE + size, -1) ? MSG_OK : MSG_DROP;
}

static int set_config(HbVuDev *dev, VuMsg *msg)
{
    uint32_t off = msg->p.config.offset, size = msg->p.config.size;

    if (msg->hdr.size < HB_VU_CONFIG_HDR_SIZE || off > HB_VU_CONFIG_MAX ||
        size > HB_VU_CONFIG_MAX - off || msg->hdr.size != HB_VU_CONFIG_HDR_SIZE + size) {
        return MSG_DROP;
    }
    return dev->iface->set_config(dev, msg->p.config.region, off, size,
                                  msg->p.config.flags) < 0 ? MSG_FAILED : MSG_OK;
}

/* GET_INFLIGHT_FD makes a buffer, SET_INFLIGHT_FD maps the front-end's. */
static int inflight_fd(HbVuDev *dev, VuMsg *msg)
{
    uint16_t nq = msg->p.inflight.num_queues, qs = msg->p.inflight.queue_size;
    bool get = msg->hdr.request == HB_VU_GET_INFLIGHT_FD;
    int fd = -1, ret;

    /* QEMU's struct is not packed: 20 bytes of fields, 24 with padding. */
    if ((msg->hdr.size != sizeof(msg->p.inflight) && msg->hdr.size != 24) ||
        nq > dev->max_queues ||
        (get ? msg->nfds != 0 : msg->nfds != 1)) {
        return MSG_DROP;
    }
    lock_all(dev);
    /* Started rings point into the current buffer: it stays while they run. */
    for (unsigned i = 0; i < dev->max_queues; i++) {
        if (dev->q[i].started) {
            unlock_all(dev);
            return MSG_DROP;
        }
    }
    if (get) {
        ret = hb_vu_inflight_create(&dev->inflight, nq, qs, &fd, &dev->mem_fault);
    } else {
        ret = hb_vu_inflight_map(&dev->inflight, msg->fds[0], msg->p.inflight.mmap_size,
                                 msg->p.inflight.mmap_offset, nq, qs, &dev->mem_fault);
    }
    unlock_all(dev);
    if (ret < 0) {
        return MSG_DROP;
    }
    if (get) {
        msg->p.inflight.mmap_size = dev->inflight.size;
        msg->p.inflight.mmap_offset = 0;
        ret = hb_vu_msg_reply(dev->sock, msg, msg->hdr.size, fd) ? MSG_OK : MSG_DROP;
        close(fd);
        return ret;
    }
    return MSG_OK;
}

/*
 * SET_LOG_BASE: map the front-end's dirty bitmap in place of the old one.
 * Only with LOG_SHMFD negotiated (the log is then an fd, never an address
 * in the front-end), and only a bitmap that covers every guest page and
 * logged ring we know of.  QEMU waits for a reply whatever REPLY_ACK says.
 */
static int set_log_base(HbVuDev *dev, VuMsg *msg)
{
    HbDirtyLog log = { 0 }, old;
    bool ok;

    if (!(dev->protocol_features & (1ull << HB_VU_PROTOCOL_F_LOG_SHMFD)) ||
        !size_is(msg, sizeof(msg->p.log)) || msg->nfds != 1 ||
        hb_dirty_log_map(&log, msg->fds[0], msg->p.log.mmap_size, msg->p.log.mmap_offset,
                         &dev->mem_fault) < 0) {
        return MSG_DROP;
    }
    lock_all(dev);
    ok = log_covers_all(dev, &log, &dev->mem);
    if (ok) {
        old = dev->log;
        dev->log = log;
        log = old;
        for (unsigned i = 0; i < dev->max_queues; i++) {
            queue_sync_log(dev, &dev->q[i]);
        }
    }
    unlock_all(dev);
    hb_dirty_log_unmap(&log);       /* the old one, or the refused one */
    if (!ok) {
        return MSG_DROP;
    }
    return hb_vu_msg_reply_u64(dev->sock, msg, 0) ? MSG_OK : MSG_DROP;
}

static int reset_device(HbVuDev *dev)
{
    lock_all(dev);
    dev->features = 0;          /* first: the rings' logging goes with it */
    for (unsigned i = 0; i < dev->max_queues; i++) {
        queue_reset(dev, i);
    }
    unlock_all(dev);
    return MSG_OK;
}

/* Execute @msg; a reply that the message itself calls for is sent here. */
static int handle(HbVuDev *dev, VuMsg *msg, bool *replied)
{
    *replied = true;
    switch (msg->hdr.request) {
    case HB_VU_GET_FEATURES:
        return hb_vu_msg_reply_u64(dev->sock, msg, offered_features(dev)) ? MSG_OK : MSG_DROP;
    case HB_VU_GET_PROTOCOL_FEATURES:
        return hb_vu_msg_reply_u64(dev->sock, msg, supported_protocol_features) ? MSG_OK : MSG_DROP;
    case HB_VU_GET_QUEUE_NUM:
        return hb_vu_msg_reply_u64(dev->sock, msg, dev->max_queues) ? MSG_OK : MSG_DROP;
    case HB_VU_GET_MAX_MEM_SLOTS:
        return hb_vu_msg_reply_u64(dev->sock, msg, HB_GUEST_MEM_MAX_REGIONS) ? MSG_OK : MSG_DROP;
    case HB_VU_GET_VRING_BASE:
        return get_vring_base(dev, msg);
    case HB_VU_GET_CONFIG:
        return get_config(dev, msg);
    case HB_VU_GET_INFLIGHT_FD:
        return inflight_fd(dev, msg);
    case HB_VU_SET_LOG_BASE:
        return set_log_base(dev, msg);
    default:
        break;
    }

    *replied = false;
    switch (msg->hdr.request) {
    case HB_VU_SET_FEATURES:
        return set_features(dev, msg);
    case HB_VU_SET_PROTOCOL_FEATURES:
        if (!size_is(msg, 8) || (msg->p.u64 & ~supported_protocol_features)) {
            return MSG_DROP;
        }
        dev->protocol_features = msg->p.u64;
        return MSG_OK;
    case HB_VU_SET_OWNER:
        dev->owner_set = true;
        return MSG_OK;
    case HB_VU_RESET_OWNER:
    case HB_VU_RESET_DEVICE:
        return reset_device(dev);
    case HB_VU_SET_MEM_TABLE:
        return set_mem_table(dev, msg);
    case HB_VU_ADD_MEM_REG:
        return add_mem_reg(dev, msg);
    case HB_VU_REM_MEM_REG:
        return rem_mem_reg(dev, msg);
    case HB_VU_SET_VRING_NUM:
        return set_vring_num(dev, msg);
    case HB_VU_SET_VRING_ADDR:
        return set_vring_addr(dev, msg);
    case HB_VU_SET_VRING_BASE:
        return set_vring_base(dev, msg);
    case HB_VU_SET_VRING_KICK:
    case HB_VU_SET_VRING_CALL:
    case HB_VU_SET_VRING_ERR:
        return set_vring_fd(dev, msg);
    case HB_VU_SET_VRING_ENABLE:
        return set_vring_enable(dev, msg);
    case HB_VU_SET_BACKEND_REQ_FD:
        if (msg->nfds != 1) {
            return MSG_DROP;
        }
        g_mutex_lock(&dev->backend_lock);
        close_fd(&dev->backend_fd);
        dev->backend_fd = take_fd(msg, 0);
        g_mutex_unlock(&dev->backend_lock);
        return MSG_OK;
    case HB_VU_SET_CONFIG:
        return set_config(dev, msg);
    case HB_VU_SET_LOG_FD:
        /* An eventfd to tell the front-end the log changed: QEMU reads the
         * bitmap on its own schedule, so it is accepted and not used. */
        if (!(dev->protocol_features & (1ull << HB_VU_PROTOCOL_F_LOG_SHMFD)) ||
            msg->nfds != 1) {
            return MSG_DROP;
        }
        return MSG_OK;
    case HB_VU_SET_INFLIGHT_FD:
        return inflight_fd(dev, msg);
    default:
        /* Anything we did not offer is a front-end bug or an attack. */
        return MSG_DROP;
    }
}

bool hb_vu_dispatch(HbVuDev *dev)
{
    VuMsg msg;
    bool replied, need_reply;
    int ret;

    if (dev->sock < 0) {
        return false;
    }
    errno = 0;
    if (!hb_vu_msg_read(dev->sock, &msg)) {
        int err = errno;
        note_drop(dev, "%s", err == 0 ? "it hung up" :
                             err == EPROTO ? "a malformed message header" : g_strerror(err));
        ret = MSG_DROP;
        goto out;
    }
    dev->last_request = msg.hdr.request;
    need_reply = (msg.hdr.flags & HB_VU_MSG_FLAG_NEED_REPLY) &&
                 (dev->protocol_features & (1ull << HB_VU_PROTOCOL_F_REPLY_ACK));
    ret = handle(dev, &msg, &replied);
    if (ret == MSG_DROP) {
        note_drop(dev, "message %u (%s) refused", msg.hdr.request,
                  hb_vu_msg_name(msg.hdr.request));
    }
    if (__atomic_load_n(&dev->mem_fault, __ATOMIC_ACQUIRE)) {
        ret = MSG_DROP;     /* the front-end truncated memory it shared */
        note_drop(dev, "it truncated memory it had shared");
    }
    if (ret != MSG_DROP && need_reply && !replied) {
        msg.hdr.request = msg.hdr.request;
        if (!hb_vu_msg_reply_u64(dev->sock, &msg, ret == MSG_OK ? 0 : 1)) {
            ret = MSG_DROP;
        }
    }
out:
    hb_vu_msg_close_fds(&msg);
    return ret != MSG_DROP;
}
