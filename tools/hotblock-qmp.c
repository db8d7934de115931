/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/hotblock-qmp.c — send QMP commands to hotblockd and print the replies (virsh qemu-monitor-command style). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "tools/qmp-input.h"
#include "tools/qmp-schema.h"
#include "tools/qmp-shell.h"

/*
 * Theory of operation.
 *
 * One poll loop over the daemon's socket and (in stdin mode) standard
 * input.  At most one command is in flight: QMP answers in order, and
 * waiting for each reply keeps "which reply belongs to which line" trivial
 * and lets us stop at the first broken connection.  A single command given
 * on the command line is treated as a one-line input that is already at
 * end of file, so both modes share the loop.
 *
 * Exit status: 0 when every command succeeded, 1 when a command got an
 * error reply (or a stdin line could not be parsed), 2 on usage,
 * connection, protocol or timeout errors.
 */

enum { EXIT_OK = 0, EXIT_CMD_FAILED = 1, EXIT_FATAL = 2 };

#define MAX_MESSAGE (64u << 20)

typedef struct {
    bool pretty;
    bool events;
    bool verbose;            /* -v: echo each request to stderr */
    bool interactive;        /* standard input is a terminal: the shell */
    double timeout;          /* seconds; 0 = none */
    const char *socket_path;
    int fd;
    GString *in;             /* bytes from the daemon not yet parsed */
    GString *stdin_buf;      /* bytes from stdin not yet parsed */
    HbQmpInput input;        /* commands not yet sent */
    bool stdin_eof;
    bool stdin_mode;
    bool pending;            /* a command awaits its reply */
    gint64 deadline;         /* monotonic us; 0 = none */
    bool failed;
    HbQmpSchema *schema;     /* query-qmp-schema, read once when first needed */
    bool schema_tried;
} Qmp;

static void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("hotblock-qmp: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_FATAL);
}

static const char usage_text[] =
"Usage: hotblock-qmp [--pretty] [--events] [--verbose] [--timeout S] SOCKET [COMMAND]\n"
"Send QMP commands to hotblockd and print the replies.\n"
"\n"
"COMMAND is a JSON object, e.g. '{\"execute\":\"query-version\"}', or a\n"
"command name followed by arguments: key=value (typed as the daemon's\n"
"query-qmp-schema types the member: size=1G is an integer, read-only=on a\n"
"boolean, node-name=1 a string), key:=JSON (exactly this JSON value);\n"
"dotted keys nest (addr.type=unix).\n"
"Without COMMAND, commands are read from standard input, one per line, in\n"
"either form; a JSON object may span lines (it ends where its braces\n"
"balance); empty lines and lines starting with '#' are skipped, and so is\n"
"qmp_capabilities (hotblock-qmp negotiates itself), so logs replay as-is.\n"
"On a terminal it is a shell: prompt, line editing and history (libedit,\n"
"~/.hotblock-qmp_history), Tab completion from the schema, events shown as\n"
"they arrive.\n"
"\n"
"  -p, --pretty      indent the JSON output\n"
"  -v, --verbose     echo each command sent, as JSON, to standard error\n"
"  -e, --events      also print events; in stdin mode keep printing them\n"
"                    after the last reply until the daemon closes the\n"
"                    connection (or --timeout expires)\n"
"  -t, --timeout S   give up when the daemon does not answer within S\n"
"                    seconds; with --events, also how long to keep\n"
"                    listening for events after the last reply\n"
"  -h, --help        print this help\n"
"  -V, --version     print the version\n"
"\n"
"Exit status: 0 success, 1 a command failed, 2 usage or connection error.\n";

static void usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2)
    G_GNUC_NORETURN;

static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("hotblock-qmp: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'hotblock-qmp --help'.\n", stderr);
    exit(EXIT_FATAL);
}

/* ---- the connection ---- */

static void append_scalar(GString *out, JsonNode *node)
{
    g_autofree char *text = json_to_string(node, FALSE);

    g_string_append(out, text);
}

/*
 * json-glib's own pretty printer writes "key" : value; this one writes the
 * "key": value layout operators know from jq and Python.
 */
static void append_pretty(GString *out, JsonNode *node, unsigned depth)
{
    GList *l;

    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObject *o = json_node_get_object(node);
        g_autoptr(GList) names = json_object_get_members(o);

        if (!names) {
            g_string_append(out, "{}");
            return;
        }
        g_string_append(out, "{\n");
        for (l = names; l; l = l->next) {
            g_autoptr(JsonNode) key = json_node_new(JSON_NODE_VALUE);

            json_node_set_string(key, l->data);
            g_string_append_printf(out, "%*s", (int)(depth + 1) * 2, "");
            append_scalar(out, key);
            g_string_append(out, ": ");
            append_pretty(out, json_object_get_member(o, l->data), depth + 1);
            g_string_append(out, l->next ? ",\n" : "\n");
        }
        g_string_append_printf(out, "%*s}", (int)depth * 2, "");
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *a = json_node_get_array(node);
        guint i, n = json_array_get_length(a);

        if (!n) {
            g_string_append(out, "[]");
            return;
        }
        g_string_append(out, "[\n");
        for (i = 0; i < n; i++) {
            g_string_append_printf(out, "%*s", (int)(depth + 1) * 2, "");
            append_pretty(out, json_array_get_element(a, i), depth + 1);
            g_string_append(out, i + 1 < n ? ",\n" : "\n");
        }
        g_string_append_printf(out, "%*s]", (int)depth * 2, "");
    } else {
        append_scalar(out, node);
    }
}

/* @mark: a prefix, for events in the shell. */
static void print_marked(Qmp *q, JsonNode *node, const char *mark)
{
    g_autoptr(GString) out = g_string_new(mark);

    if (q->pretty) {
        append_pretty(out, node, 0);
    } else {
        append_scalar(out, node);
    }
    g_string_append_c(out, '\n');
    if (q->interactive) {
        hb_qmp_shell_print(out->str);
        return;
    }
    fputs(out->str, stdout);
    fflush(stdout);
}

static void print_node(Qmp *q, JsonNode *node)
{
    print_marked(q, node, "");
}

static void connect_socket(Qmp *q)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (strlen(q->socket_path) >= sizeof(sa.sun_path)) {
        die("socket path '%s' is too long", q->socket_path);
    }
    strcpy(sa.sun_path, q->socket_path);
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (q->fd < 0) {
        die("socket: %s", g_strerror(errno));
    }
    if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        die("cannot connect to '%s': %s", q->socket_path, g_strerror(errno));
    }
}

static void send_node(Qmp *q, JsonNode *node)
{
    g_autofree char *text = json_to_string(node, FALSE);
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    size_t len = strlen(line), off = 0;

    while (off < len) {
        ssize_t n = send(q->fd, line + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            die("sending to '%s': %s", q->socket_path, g_strerror(errno));
        }
        off += n;
    }
}

/* Take the next complete line out of @buf, or NULL. */
static char *take_line(GString *buf)
{
    char *nl = memchr(buf->str, '\n', buf->len);
    char *line;

    if (!nl) {
        return NULL;
    }
    line = g_strndup(buf->str, nl - buf->str);
    g_string_erase(buf, 0, nl - buf->str + 1);
    return line;
}

/*
 * Parse the next complete message from the daemon, if one is buffered.
 * Returns NULL when more bytes are needed.
 */
static JsonNode *next_message(Qmp *q)
{
    for (;;) {
        g_autofree char *line = take_line(q->in);
        g_autoptr(JsonParser) p = NULL;
        g_autoptr(GError) err = NULL;
        JsonNode *root;

        if (!line) {
            if (q->in->len > MAX_MESSAGE) {
                die("a message from the daemon exceeds %u bytes",
                    MAX_MESSAGE);
            }
            return NULL;
        }
        g_strstrip(line);
        if (!*line) {
            continue;
        }
        p = json_parser_new_immutable();
        if (!json_parser_load_from_data(p, line, -1, &err)) {
            die("invalid JSON from the daemon: %s", err->message);
        }
        root = json_parser_get_root(p);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
            die("unexpected message from the daemon (not a JSON object)");
        }
        return json_node_copy(root);
    }
}

static gint64 deadline_in(double seconds)
{
    return seconds > 0 ? g_get_monotonic_time() + (gint64)(seconds * 1e6)
                       : 0;
}

/* Milliseconds until @deadline for poll(): -1 for none, 0 when past. */
static int poll_timeout(gint64 deadline)
{
    gint64 left;

    if (!deadline) {
        return -1;
    }
    left = deadline - g_get_monotonic_time();
    if (left <= 0) {
        return 0;
    }
    return (int)MIN((left + 999) / 1000, G_MAXINT);
}

/* Read from @fd into @buf; false at end of file. */
static bool fill(int fd, GString *buf, const char *what)
{
    char chunk[65536];
    ssize_t n;

    do {
        n = read(fd, chunk, sizeof(chunk));
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ECONNRESET) {
        return false; /* a daemon exiting after quit may reset rather than close */
    }
    if (n < 0) {
        die("reading %s: %s", what, g_strerror(errno));
    }
    g_string_append_len(buf, chunk, n);
    return n > 0;
}

/* Synchronously wait for a message (greeting, negotiation). */
static JsonNode *wait_message(Qmp *q, const char *what)
{
    gint64 deadline = deadline_in(q->timeout);
    JsonNode *msg;

    while (!(msg = next_message(q))) {
        struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
        int r = poll(&pfd, 1, poll_timeout(deadline));

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r == 0) {
            die("timed out waiting for the %s", what);
        }
        if (!fill(q->fd, q->in, "the socket")) {
            die("the daemon closed the connection before the %s", what);
        }
    }
    return msg;
}

static void negotiate(Qmp *q)
{
    g_autoptr(JsonNode) greeting = wait_message(q, "greeting");
    g_autoptr(JsonNode) req = json_from_string(
        "{\"execute\":\"qmp_capabilities\"}", NULL);

    if (!json_object_has_member(json_node_get_object(greeting), "QMP")) {
        die("'%s' does not speak QMP (no greeting)", q->socket_path);
    }
    send_node(q, req);
    for (;;) {
        g_autoptr(JsonNode) reply = wait_message(q, "capabilities reply");
        JsonObject *o = json_node_get_object(reply);

        if (json_object_has_member(o, "event")) {
            continue;
        }
        if (json_object_has_member(o, "error")) {
            print_node(q, reply);
            die("capabilities negotiation failed");
        }
        return;
    }
}

static bool is_capabilities(JsonNode *req)
{
    const char *cmd = json_object_get_string_member_with_default(
        json_node_get_object(req), "execute", "");

    return g_str_equal(cmd, "qmp_capabilities");
}

static void handle_message(Qmp *q, JsonNode *msg);

/*
 * Read query-qmp-schema once, the first time a short form needs types.
 * Events that arrive meanwhile are handled as always.  Without a schema
 * (an old daemon) key=value stays a string, as before.
 */
static void ensure_schema(Qmp *q)
{
    g_autoptr(JsonNode) req = json_from_string(
        "{\"execute\":\"query-qmp-schema\",\"id\":\"hotblock-qmp:schema\"}", NULL);

    if (q->schema_tried) {
        return;
    }
    q->schema_tried = true;
    send_node(q, req);
    for (;;) {
        g_autoptr(JsonNode) msg = wait_message(q, "schema");
        JsonObject *o = json_node_get_object(msg);

        if (g_strcmp0(json_object_get_string_member_with_default(o, "id", NULL),
                      "hotblock-qmp:schema")) {
            handle_message(q, msg);
            continue;
        }
        if (json_object_has_member(o, "return")) {
            q->schema = hb_qmp_schema_new(json_object_get_member(o, "return"));
        }
        return;
    }
}

/* Send the next queued line that yields a command; false when none. */
static bool send_next(Qmp *q)
{
    for (;;) {
        HbQmpInputItem *it = hb_qmp_input_pop(&q->input);
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) req = NULL;
        g_autoptr(GPtrArray) typed = g_ptr_array_new_with_free_func(g_free);

        if (!it) {
            return false;
        }
        unsigned line_no = it->line;
        g_autofree char *line = g_steal_pointer(&it->text);
        hb_qmp_input_item_free(it);
        if (!line) {
            fprintf(stderr, "hotblock-qmp: line %u: this JSON command never ends: "
                    "the input ended with a '{' or '[' not closed\n", line_no);
            q->failed = true;
            continue;
        }
        g_strstrip(line);
        if (!*line || line[0] == '#') {
            continue;
        }
        req = hb_qmp_build_line(line, typed, &err);
        if (req && typed->len) {
            ensure_schema(q);
            g_ptr_array_add(typed, NULL);
            if (q->schema && !hb_qmp_schema_type_args(q->schema, req,
                                                      (char **)typed->pdata, &err)) {
                g_clear_pointer(&req, json_node_unref);
            }
        }
        if (!req) {
            if (q->stdin_mode) {
                fprintf(stderr, "hotblock-qmp: line %u: %s\n", line_no,
                        err->message);
                q->failed = true;
                continue;
            }
            usage_error("%s", err->message);
        }
        /* Negotiated already: a replayed log's own negotiation is a no-op. */
        if (is_capabilities(req)) {
            continue;
        }
        if (q->verbose) {
            g_autofree char *text = json_to_string(req, FALSE);
            fprintf(stderr, "%s\n", text);
        }
        send_node(q, req);
        q->pending = true;
        q->deadline = deadline_in(q->timeout);
        return true;
    }
}

static void handle_message(Qmp *q, JsonNode *msg)
{
    JsonObject *o = json_node_get_object(msg);

    if (json_object_has_member(o, "event")) {
        /* The shell shows events as they come, marked apart from replies. */
        if (q->interactive) {
            print_marked(q, msg, "event: ");
        } else if (q->events) {
            print_node(q, msg);
        }
        return;
    }
    if (!q->pending) {
        /* A reply nobody asked for: show it rather than hide it. */
        print_node(q, msg);
        return;
    }
    print_node(q, msg);
    if (!json_object_has_member(o, "return")) {
        q->failed = true;
    }
    q->pending = false;
    q->deadline = 0;
}

/* A line from the shell (NULL: Ctrl-D), allocated by libedit. */
static void shell_line(char *line, void *opaque)
{
    Qmp *q = opaque;

    if (!line) {
        q->stdin_eof = true;
        hb_qmp_input_eof(&q->input);
        fputs("\n", stdout);
    } else {
        hb_qmp_input_line(&q->input, g_strdup(line));
        free(line);
        hb_qmp_shell_continuation(q->input.partial->len > 0);
    }
}

static bool more_input(Qmp *q)
{
    return !hb_qmp_input_empty(&q->input) || !q->stdin_eof;
}

static void run(Qmp *q)
{
    bool listening_started = false;

    for (;;) {
        struct pollfd pfd[2];
        nfds_t n = 0;
        int r;
        JsonNode *msg;

        while ((msg = next_message(q))) {
            handle_message(q, msg);
            json_node_unref(msg);
        }
        if (!q->pending) {
            send_next(q);
        }
        if (!q->pending && !more_input(q)) {
            if (!q->events) {
                return;
            }
            /*
             * Everything sent and answered: with --events keep listening.
             * A single command listens only when --timeout says how long.
             */
            if (!listening_started) {
                listening_started = true;
                if (!q->stdin_mode && q->timeout <= 0) {
                    return;
                }
                q->deadline = deadline_in(q->timeout);
            }
        }

        pfd[n++] = (struct pollfd){ .fd = q->fd, .events = POLLIN };
        if (!q->pending && !q->stdin_eof) {
            pfd[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
        }
        r = poll(pfd, n, poll_timeout(q->deadline));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            die("poll: %s", g_strerror(errno));
        }
        if (r == 0) {
            if (q->pending) {
                die("timed out waiting for a reply");
            }
            return; /* the event listening time is over */
        }
        if (pfd[0].revents) {
            if (!fill(q->fd, q->in, "the socket")) {
                while ((msg = next_message(q))) {
                    handle_message(q, msg);
                    json_node_unref(msg);
                }
                if (q->pending) {
                    die("the daemon closed the connection before replying");
                }
                if (more_input(q) && (!hb_qmp_input_empty(&q->input) ||
                                      q->stdin_buf->len)) {
                    die("the daemon closed the connection");
                }
                return;
            }
        }
        if (n > 1 && pfd[1].revents && q->interactive) {
            hb_qmp_shell_read();
        } else if (n > 1 && pfd[1].revents) {
            char *line;

            bool eof = !fill(STDIN_FILENO, q->stdin_buf, "standard input");

            while ((line = take_line(q->stdin_buf))) {
                hb_qmp_input_line(&q->input, line);
            }
            if (eof) {
                q->stdin_eof = true;
                if (q->stdin_buf->len) {
                    hb_qmp_input_line(&q->input, g_strdup(q->stdin_buf->str));
                    g_string_truncate(q->stdin_buf, 0);
                }
                hb_qmp_input_eof(&q->input);
            }
        }
    }
}

int main(int argc, char **argv)
{
    Qmp q = { .fd = -1 };
    int i;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;

        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || !a[1]) {
            break;
        }
        if (!strcmp(a, "-p") || !strcmp(a, "--pretty")) {
            q.pretty = true;
        } else if (!strcmp(a, "-e") || !strcmp(a, "--events")) {
            q.events = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            q.verbose = true;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("hotblock-qmp version %s\n", HB_VERSION);
            return EXIT_OK;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--timeout") ||
                   g_str_has_prefix(a, "--timeout=")) {
            char *end;

            if (a[1] == '-' && a[9] == '=') {
                val = a + 10;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                usage_error("option '%s' requires an argument", a);
            }
            q.timeout = g_ascii_strtod(val, &end);
            if (end == val || *end || !(q.timeout > 0) || q.timeout > 1e6) {
                usage_error("invalid timeout '%s' (seconds, > 0)", val);
            }
        } else {
            usage_error("unknown option '%s'", a);
        }
    }
    if (i >= argc) {
        usage_error("missing SOCKET");
    }
    q.socket_path = argv[i++];
    q.in = g_string_new(NULL);
    q.stdin_buf = g_string_new(NULL);
    hb_qmp_input_init(&q.input);

    if (i < argc) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) req = NULL;

        /* Check the command before connecting: usage errors exit 2. */
        if (argv[i][0] == '{') {
            if (i + 1 < argc) {
                usage_error("unexpected argument '%s' after the JSON command",
                            argv[i + 1]);
            }
            req = hb_qmp_build_json(argv[i], &err);
        } else {
            g_autoptr(GPtrArray) typed = g_ptr_array_new_with_free_func(g_free);
            req = hb_qmp_build_shorthand(argv + i, typed, &err);
        }
        if (!req) {
            usage_error("%s", err->message);
        }
        if (argv[i][0] == '{') {
            hb_qmp_input_push(&q.input, 1, g_strdup(argv[i]));
        } else {
            /* Sent as a short-form line, so its values get the schema's types. */
            g_autoptr(GString) line = g_string_new(NULL);
            for (int k = i; k < argc; k++) {
                g_autofree char *quoted = g_shell_quote(argv[k]);
                g_string_append_printf(line, "%s%s", k > i ? " " : "", quoted);
            }
            hb_qmp_input_push(&q.input, 1, g_string_free(g_steal_pointer(&line), FALSE));
        }
        q.stdin_eof = true;
    } else {
        q.stdin_mode = true;
    }

    connect_socket(&q);
    negotiate(&q);
    if (q.stdin_mode && isatty(STDIN_FILENO)) {
        /* The schema up front: tab completion needs its names. */
        q.interactive = true;
        ensure_schema(&q);
        hb_qmp_shell_set_schema(q.schema);
        hb_qmp_shell_start(shell_line, &q);
        atexit(hb_qmp_shell_stop);   /* die() too leaves the terminal sane */
    }
    run(&q);
    hb_qmp_shell_stop();

    close(q.fd);
    g_string_free(q.in, TRUE);
    g_string_free(q.stdin_buf, TRUE);
    hb_qmp_schema_free(q.schema);
    hb_qmp_input_clear(&q.input);
    return q.failed ? EXIT_CMD_FAILED : EXIT_OK;
}
