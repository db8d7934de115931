/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/session.c — one QMP client: framing, the QMP request rules, replies. */
#include "qmp/session.h"

#include <errno.h>
#include <glib-unix.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp/dispatch.h"
#include "qmp/json-stream.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

/*
 * Theory of operation
 *
 * Every session lives on the main loop: a watch on its socket reads bytes
 * into the JSON splitter, each complete value is checked against QMP's
 * request rules (QEMU's texts) and dispatched synchronously, and the reply
 * is appended to an output buffer flushed with non-blocking sends.  A
 * client that does not read its replies is paused (no more input read)
 * once HB_QMP_OUT_PAUSE bytes wait, and dropped past HB_QMP_OUT_DROP, so a
 * slow or hostile client costs only its own buffer.  Commands never block
 * the loop on a client: a disconnect mid-command just discards the reply.
 *
 * Requests may carry secrets (object-add's "data"), so input leaves no
 * copies behind: bytes are received straight into the session's input
 * buffer (no copy on the stack), which is wiped as they are passed on; the
 * splitter wipes its own (qmp/json-stream.c), and the string values of an
 * object-add request's
 * arguments are wiped once the command is done.  json-glib's scanner frees
 * its own copies unwiped: those are taken back from malloc and wiped (see
 * the scrub below, and docs/secrets.md for what it cannot reach).
 */

struct HbQmpSession {
    int fd;
    guint in_watch;
    guint out_watch;
    HbJsonStream stream;
    guint8 *in;         /* HB_QMP_IN_SIZE bytes: received, not yet fed */
    gsize in_len;       /* bytes held back (paused), or 0 */
    GByteArray *out;
    gsize out_head;     /* bytes of out already sent */
    bool negotiated;
    bool oob;
    bool closing;
    bool busy;          /* a command of ours runs (it may turn the main loop) */
    guint close_idle;   /* a deferred close is pending */
    HbQmpClientCount *count;  /* the listener's, or NULL */
    unsigned serial;    /* names the client in the log */
};

/* Input is fed to the splitter in slices this big between pause checks. */
#define HB_QMP_FEED_SLICE 256
/* The most one read takes in. */
#define HB_QMP_IN_SIZE 16384

static GList *sessions;
static HbQmpSession *current;
static unsigned next_serial = 1;

/*
 * The request's id for the log: its JSON text, cut short.  Never the
 * arguments: those may hold secrets (object-add's data).
 */
static char *id_for_log(JsonNode *id)
{
    if (!id) {
        return g_strdup("-");
    }
    g_autofree char *text = json_to_string(id, FALSE);
    if (strlen(text) > 40) {
        text[40] = 0;
        return g_strconcat(text, "...", NULL);
    }
    return g_steal_pointer(&text);
}

static void session_close(HbQmpSession *s);
static gboolean close_later(gpointer opaque);
static void update_watches(HbQmpSession *s);

HbQmpSession *hb_qmp_current_session(void)
{
    return current;
}

bool hb_qmp_session_negotiated(HbQmpSession *s)
{
    return s->negotiated;
}

void hb_qmp_session_set_negotiated(HbQmpSession *s, bool oob)
{
    s->negotiated = true;
    s->oob = oob;
}

/* Unsent reply bytes. */
static gsize out_pending(HbQmpSession *s)
{
    return s->out->len - s->out_head;
}

static void flush_out(HbQmpSession *s)
{
    while (out_pending(s)) {
        ssize_t n = send(s->fd, s->out->data + s->out_head, out_pending(s),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                s->closing = true;   /* peer gone: drop what is queued */
                g_byte_array_set_size(s->out, 0);
                s->out_head = 0;
            }
            break;
        }
        s->out_head += n;
    }
    /*
     * Compact only once the sent part dominates: moving the unsent tail
     * after every partial send would cost O(buffer) per send.
     */
    if (s->out_head == s->out->len) {
        g_byte_array_set_size(s->out, 0);
        s->out_head = 0;
    } else if (s->out_head > s->out->len / 2) {
        g_byte_array_remove_range(s->out, 0, s->out_head);
        s->out_head = 0;
    }
}

static void send_node(HbQmpSession *s, JsonNode *node)
{
    g_autofree char *text = NULL;
    gsize len;

    if (s->closing) {
        return;
    }
    text = hb_json_to_string(node);
    len = strlen(text);
    if (out_pending(s) + len > HB_QMP_OUT_DROP) {
        s->closing = true;           /* a client that never reads */
        return;
    }
    g_byte_array_append(s->out, (const guint8 *)text, len);
    g_byte_array_append(s->out, (const guint8 *)"\n", 1);
    flush_out(s);
}

static void send_error(HbQmpSession *s, JsonNode *id, const char *cls,
                       const char *desc)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *reply = json_object_new();
    JsonObject *err = json_object_new();

    json_object_set_string_member(err, "class", cls);
    json_object_set_string_member(err, "desc", desc);
    json_object_set_object_member(reply, "error", err);
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    json_node_take_object(node, reply);
    send_node(s, node);
}

static void send_gerror(HbQmpSession *s, JsonNode *id, const GError *err)
{
    send_error(s, id, hb_error_class_name(err), err->message);
}

static void send_return(HbQmpSession *s, JsonNode *id, JsonNode *ret)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *reply = json_object_new();

    json_object_set_member(reply, "return", ret);
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    json_node_take_object(node, reply);
    send_node(s, node);
}

/* QEMU's rules for a request object, in QEMU's order and words. */
static void handle_request(HbQmpSession *s, JsonNode *req)
{
    JsonObject *o;
    JsonNode *id, *exec, *args;
    const char *name;
    const QapiCommandDef *def;
    bool oob;
    g_autoptr(GList) members = NULL;
    g_autoptr(GError) err = NULL;
    JsonNode *ret = NULL;

    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        send_error(s, NULL, "GenericError", "QMP input must be a JSON object");
        return;
    }
    o = json_node_get_object(req);
    id = json_object_get_member(o, "id");
    members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        const char *key = l->data;
        if (strcmp(key, "execute") && strcmp(key, "exec-oob") &&
            strcmp(key, "arguments") && strcmp(key, "id") &&
            strcmp(key, "control")) {
            g_autofree char *msg =
                g_strdup_printf("QMP input member '%s' is unexpected", key);
            send_error(s, id, "GenericError", msg);
            return;
        }
    }
    exec = json_object_get_member(o, "execute");
    oob = false;
    if (json_object_has_member(o, "exec-oob")) {
        if (exec) {
            send_error(s, id, "GenericError",
                       "QMP input must not have both 'execute' and 'exec-oob'");
            return;
        }
        exec = json_object_get_member(o, "exec-oob");
        oob = true;
    }
    if (!exec) {
        send_error(s, id, "GenericError", "QMP input lacks member 'execute'");
        return;
    }
    if (!JSON_NODE_HOLDS_VALUE(exec) ||
        json_node_get_value_type(exec) != G_TYPE_STRING) {
        send_error(s, id, "GenericError", oob ?
                   "QMP input member 'exec-oob' must be a string" :
                   "QMP input member 'execute' must be a string");
        return;
    }
    name = json_node_get_string(exec);
    args = json_object_get_member(o, "arguments");
    if (args && !JSON_NODE_HOLDS_OBJECT(args)) {
        send_error(s, id, "GenericError",
                   "QMP input member 'arguments' must be an object");
        return;
    }
    if (oob && !s->oob) {
        send_error(s, id, "GenericError",
                   "QMP input member 'exec-oob' is unexpected");
        return;
    }
    if (!s->negotiated && strcmp(name, "qmp_capabilities") != 0) {
        send_error(s, id, "CommandNotFound",
                   "Expecting capabilities negotiation with 'qmp_capabilities'");
        return;
    }
    if (s->negotiated && strcmp(name, "qmp_capabilities") == 0) {
        send_error(s, id, "CommandNotFound",
                   "Capabilities negotiation is already complete, command ignored");
        return;
    }
    def = hb_qmp_find_command(name);
    if (!def) {
        g_autofree char *msg =
            g_strdup_printf("The command %s has not been found", name);
        send_error(s, id, "CommandNotFound", msg);
        return;
    }
    if (oob && !def->allow_oob) {
        g_autofree char *msg =
            g_strdup_printf("The command %s does not support OOB", name);
        send_error(s, id, "GenericError", msg);
        return;
    }
    /*
     * A command may turn the main loop while it waits for a slow job
     * (util/slow-job.h): other sessions' commands run meanwhile, so the
     * current session is saved and restored, and ours takes no further
     * input until it has answered.
     */
    HbQmpSession *outer = current;
    current = s;
    s->busy = true;
    bool ok = hb_qmp_call(def, args, false, &ret, &err);
    s->busy = false;
    current = outer;
    g_autofree char *id_text = id_for_log(id);
    hb_log(HB_LOG_INFO, "QMP client %u: %s (id %s): %s", s->serial, name, id_text,
           ok ? "ok" : hb_error_class_name(err));
    if (!ok) {
        send_gerror(s, id, err);
    } else {
        send_return(s, id, ret);
    }
    if (s->closing && !s->close_idle) {
        /* It went away while we worked: free it from the loop, not here. */
        s->close_idle = g_idle_add(close_later, s);
    }
}

/* Overwrite every string value under @node (json-glib's copies of them). */
static void wipe_strings(JsonNode *node)
{
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT: {
        g_autoptr(GList) vals = json_object_get_values(json_node_get_object(node));
        for (GList *l = vals; l; l = l->next) {
            wipe_strings(l->data);
        }
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            wipe_strings(json_array_get_element(a, i));
        }
        break;
    }
    case JSON_NODE_VALUE:
        if (json_node_get_value_type(node) == G_TYPE_STRING) {
            char *str = (char *)json_node_get_string(node);
            if (str) {
                explicit_bzero(str, strlen(str));
            }
        }
        break;
    case JSON_NODE_NULL:
        break;
    }
}

/*
 * An object-add request's arguments may hold a secret's text (data, iv,
 * keyid): wipe them once the request is done with, whether or not it ran.
 * Only object-add: other commands' arguments may share strings with what
 * they keep (json_node_copy() shares values), and hold no secret text.
 * Return: whether @req was an object-add request.
 */
static bool wipe_secret_arguments(JsonNode *req)
{
    JsonObject *o;
    JsonNode *exec, *args;

    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        return false;
    }
    o = json_node_get_object(req);
    exec = json_object_get_member(o, "execute");
    if (!exec) {
        exec = json_object_get_member(o, "exec-oob");
    }
    args = json_object_get_member(o, "arguments");
    if (exec && args && JSON_NODE_HOLDS_VALUE(exec) &&
        json_node_get_value_type(exec) == G_TYPE_STRING &&
        g_str_equal(json_node_get_string(exec), "object-add")) {
        wipe_strings(args);
        return true;
    }
    return false;
}

/*
 * json-glib's scanner builds each string token in a GString (128 bytes,
 * doubled as it fills) and frees it unwiped once the parser has copied it,
 * so parsing a secret leaves its text in freed chunks of those sizes.
 * glibc's malloc keeps the chunks a thread freed last in a small cache per
 * size (tcache: at most SCRUB_PER_SIZE, up to 1032 bytes), handing them
 * out again last in, first out.  So around the parse of each request the
 * cache of every size its strings can use is emptied first (the scanner's
 * frees then land there, not in the shared bins), and after an object-add
 * the chunks are taken back, wiped and freed.  Under another allocator
 * (ASan's) this is merely useless.
 */
#define SCRUB_FIRST 128     /* GString's first allocation */
#define SCRUB_SIZES 4       /* 128 .. 1024: the sizes glibc's tcache takes */
#define SCRUB_PER_SIZE 7    /* glibc's default tcache count */

typedef struct Scrub {
    unsigned sizes;
    void *held[SCRUB_SIZES][SCRUB_PER_SIZE];
} Scrub;

static void wipe_free_chunk(void *p, bool wipe)
{
    if (p && wipe) {
        explicit_bzero(p, malloc_usable_size(p));
    }
    free(p);
}

/* Empty the cache of each size the strings of a @len-byte text can use. */
static void scrub_begin(Scrub *sc, gsize len)
{
    sc->sizes = 0;
    for (gsize size = SCRUB_FIRST; sc->sizes < SCRUB_SIZES; size *= 2) {
        for (unsigned j = 0; j < SCRUB_PER_SIZE; j++) {
            sc->held[sc->sizes][j] = malloc(size);
        }
        sc->sizes++;
        if (len < size) {
            break;      /* no string of this text outgrows @size */
        }
    }
}

/* Give the held chunks back; with @wipe, first wipe what the parse freed. */
static void scrub_end(Scrub *sc, bool wipe)
{
    for (unsigned i = 0; i < sc->sizes; i++) {
        void *back[SCRUB_PER_SIZE + 1];

        for (unsigned j = 0; wipe && j < G_N_ELEMENTS(back); j++) {
            back[j] = malloc((gsize)SCRUB_FIRST << i);
        }
        for (unsigned j = 0; wipe && j < G_N_ELEMENTS(back); j++) {
            wipe_free_chunk(back[j], true);
        }
        for (unsigned j = 0; j < SCRUB_PER_SIZE; j++) {
            wipe_free_chunk(sc->held[i][j], wipe);
        }
    }
}

static void on_value(void *opaque, HbJsonStreamEvent ev, const char *text,
                     gsize len)
{
    HbQmpSession *s = opaque;
    g_autoptr(JsonNode) req = NULL;
    g_autoptr(GError) err = NULL;
    Scrub sc;

    switch (ev) {
    case HB_JSON_STREAM_TOO_LONG:
        send_error(s, NULL, "GenericError", "JSON parse error, token too long");
        return;
    case HB_JSON_STREAM_TOO_DEEP:
        send_error(s, NULL, "GenericError", "JSON parse error, nesting too deep");
        return;
    case HB_JSON_STREAM_BAD_CHAR:
        send_error(s, NULL, "GenericError", "JSON parse error, stray '}' or ']'");
        return;
    case HB_JSON_STREAM_VALUE:
        break;
    }
    scrub_begin(&sc, len);
    req = hb_json_parse(text, len, &err);
    if (!req) {
        /* What failed to parse may have been an object-add: wipe. */
        send_error(s, NULL, "GenericError", err->message);
        scrub_end(&sc, true);
        return;
    }
    handle_request(s, req);
    scrub_end(&sc, wipe_secret_arguments(req));
}

/*
 * Feed buffered input to the splitter in small slices, stopping as soon as
 * the client is behind on its replies: one 16 KiB read of tiny requests
 * with big replies must not queue megabytes.  The rest waits in s->in.
 */
static void process_input(HbQmpSession *s)
{
    gsize done = 0;

    /* One command at a time: the rest waits until this one has answered. */
    if (s->busy) {
        return;
    }
    while (done < s->in_len && !s->closing &&
           out_pending(s) < HB_QMP_OUT_PAUSE) {
        gsize n = MIN(s->in_len - done, HB_QMP_FEED_SLICE);
        hb_json_stream_feed(&s->stream, (const char *)s->in + done, n);
        done += n;
    }
    /* Move what is left to the front and wipe the bytes passed on. */
    if (done) {
        memmove(s->in, s->in + done, s->in_len - done);
        explicit_bzero(s->in + s->in_len - done, done);
        s->in_len -= done;
    }
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    HbQmpSession *s = opaque;
    ssize_t n;

    /* The watch is off while input is held back, so in_len is 0 here. */
    if (s->in_len == HB_QMP_IN_SIZE) {
        update_watches(s);
        return s->in_watch ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
    }
    n = recv(fd, s->in + s->in_len, HB_QMP_IN_SIZE - s->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        s->in_watch = 0;
        session_close(s);
        return G_SOURCE_REMOVE;
    }
    s->in_len += n;
    process_input(s);
    if (s->closing) {
        s->in_watch = 0;
        session_close(s);
        return G_SOURCE_REMOVE;
    }
    update_watches(s);
    return s->in_watch ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    HbQmpSession *s = opaque;

    flush_out(s);
    if (!s->closing && out_pending(s) < HB_QMP_OUT_PAUSE) {
        process_input(s);   /* requests held back while it was behind */
    }
    if (s->closing) {
        s->out_watch = 0;
        session_close(s);
        return G_SOURCE_REMOVE;
    }
    if (out_pending(s) == 0) {
        s->out_watch = 0;
        update_watches(s);
        return G_SOURCE_REMOVE;
    }
    update_watches(s);
    return G_SOURCE_CONTINUE;
}

/* Read while the client keeps up with its replies; write while any wait. */
static void update_watches(HbQmpSession *s)
{
    /* Held-back input is fed from on_writable before more is read. */
    bool want_in = out_pending(s) < HB_QMP_OUT_PAUSE && s->in_len == 0 && !s->busy;

    if (want_in && !s->in_watch) {
        s->in_watch = g_unix_fd_add(s->fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                    on_readable, s);
    } else if (!want_in && s->in_watch) {
        g_source_remove(s->in_watch);
        s->in_watch = 0;
    }
    if (out_pending(s) && !s->out_watch) {
        s->out_watch = g_unix_fd_add(s->fd, G_IO_OUT, on_writable, s);
    }
}

static void session_free(HbQmpSession *s)
{
    hb_log(HB_LOG_INFO, "QMP client %u disconnected", s->serial);
    if (s->in_watch) {
        g_source_remove(s->in_watch);
    }
    if (s->out_watch) {
        g_source_remove(s->out_watch);
    }
    close(s->fd);
    if (s->count) {
        s->count->open--;
        hb_qmp_client_count_unref(s->count);
    }
    hb_json_stream_clear(&s->stream);
    if (s->in_len) {
        explicit_bzero(s->in, s->in_len);
    }
    g_free(s->in);
    g_byte_array_unref(s->out);
    g_free(s);
}

static void session_close(HbQmpSession *s)
{
    /*
     * A command of this session is still on the stack (it turns the main
     * loop while a slow job runs): free the session only once it answered.
     */
    if (s->busy) {
        s->closing = true;
        return;
    }
    if (s->close_idle) {
        g_source_remove(s->close_idle);
    }
    sessions = g_list_remove(sessions, s);
    if (current == s) {
        current = NULL;
    }
    session_free(s);
}

HbQmpClientCount *hb_qmp_client_count_new(void)
{
    HbQmpClientCount *c = g_new0(HbQmpClientCount, 1);

    c->refs = 1;
    return c;
}

HbQmpClientCount *hb_qmp_client_count_ref(HbQmpClientCount *c)
{
    c->refs++;
    return c;
}

void hb_qmp_client_count_unref(HbQmpClientCount *c)
{
    if (c && --c->refs == 0) {
        g_free(c);
    }
}

HbQmpSession *hb_qmp_session_new(int fd, HbQmpClientCount *count)
{
    HbQmpSession *s = g_new0(HbQmpSession, 1);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) greeting = NULL;
    g_autofree char *package = g_strdup_printf("hotblock %s", HB_VERSION);

    s->fd = fd;
    s->serial = next_serial++;
    hb_log(HB_LOG_INFO, "QMP client %u connected", s->serial);
    if (count) {
        s->count = hb_qmp_client_count_ref(count);
        count->open++;
    }
    s->in = g_malloc(HB_QMP_IN_SIZE);
    s->out = g_byte_array_new();
    hb_json_stream_init(&s->stream, HB_QMP_MAX_VALUE_LEN, HB_QMP_MAX_DEPTH,
                        on_value, s);
    sessions = g_list_append(sessions, s);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "QMP");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "qemu");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "major");
    json_builder_add_int_value(b, HB_QMP_QEMU_MAJOR);
    json_builder_set_member_name(b, "minor");
    json_builder_add_int_value(b, HB_QMP_QEMU_MINOR);
    json_builder_set_member_name(b, "micro");
    json_builder_add_int_value(b, HB_QMP_QEMU_MICRO);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "package");
    json_builder_add_string_value(b, package);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "capabilities");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "oob");
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    greeting = json_builder_get_root(b);
    send_node(s, greeting);
    update_watches(s);
    return s;
}

static gboolean close_later(gpointer opaque)
{
    HbQmpSession *s = opaque;

    s->close_idle = 0;
    session_close(s);
    return G_SOURCE_REMOVE;
}

/*
 * Events can be sent while a command of the very session being dropped is
 * still on the stack, so a drop found here is carried out from an idle.
 */
void hb_qmp_sessions_send_event(JsonNode *event)
{
    for (GList *l = sessions; l;) {
        HbQmpSession *s = l->data;
        l = l->next;
        if (!s->negotiated) {
            continue;
        }
        send_node(s, event);
        if (s->closing) {
            if (!s->close_idle) {
                s->close_idle = g_idle_add(close_later, s);
            }
        } else {
            update_watches(s);
        }
    }
}

void hb_qmp_sessions_flush_all(guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (GList *l = sessions; l; l = l->next) {
        HbQmpSession *s = l->data;
        while (out_pending(s) && !s->closing) {
            gint64 left = (deadline - g_get_monotonic_time()) / 1000;
            struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
            if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
                break;
            }
            flush_out(s);
        }
    }
}

void hb_qmp_sessions_close_all(void)
{
    while (sessions) {
        session_close(sessions->data);
    }
}
