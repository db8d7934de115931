/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-shell.c — hotblock-qmp's interactive shell: prompt, history, line editing, completion (libedit). */
#include "tools/qmp-shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <editline/readline.h>

#define PROMPT "(QMP) "
#define PROMPT_MORE "... "
#define HISTORY_FILE ".hotblock-qmp_history"

static struct {
    void (*on_line)(char *line, void *opaque);
    void *opaque;
    HbQmpSchema *schema;
    char *history;          /* path, or NULL without $HOME */
    char **candidates;      /* of the completion in progress */
    bool started;
} sh;

static void line_done(char *line)
{
    if (line && *line) {
        add_history(line);
    }
    sh.on_line(line, sh.opaque);
}

/* Completion candidates one by one, as libedit asks for them. */
static char *next_candidate(const char *text, int state)
{
    static guint i;
    size_t len = strlen(text);

    if (!state) {
        i = 0;
    }
    while (sh.candidates && sh.candidates[i]) {
        const char *c = sh.candidates[i++];
        if (!strncmp(c, text, len)) {
            return strdup(c);   /* libedit frees it with free() */
        }
    }
    return NULL;
}

/*
 * The first word completes to a command; later words to "member=" of that
 * command's arguments (dotted for nested objects), as the schema has them.
 */
static char **complete(const char *text, int start, int end)
{
    (void)end;
    g_strfreev(sh.candidates);
    sh.candidates = NULL;
    rl_attempted_completion_over = 1;   /* never fall back to file names */
    if (!sh.schema) {
        return NULL;
    }
    g_autofree char *before = g_strndup(rl_line_buffer, (gsize)start);
    g_auto(GStrv) words = g_strsplit_set(g_strstrip(before), " \t", -1);
    if (!words[0] || !*words[0]) {
        sh.candidates = hb_qmp_schema_commands(sh.schema);
        rl_completion_append_character = ' ';
    } else {
        sh.candidates = hb_qmp_schema_members(sh.schema, words[0]);
        rl_completion_append_character = '\0';
    }
    return rl_completion_matches(text, next_candidate);
}

void hb_qmp_shell_start(void (*on_line)(char *line, void *opaque), void *opaque)
{
    const char *home = g_getenv("HOME");

    sh.on_line = on_line;
    sh.opaque = opaque;
    sh.history = home ? g_build_filename(home, HISTORY_FILE, NULL) : NULL;
    rl_readline_name = "hotblock-qmp";
    rl_attempted_completion_function = complete;
    using_history();
    if (sh.history) {
        read_history(sh.history);
    }
    rl_callback_handler_install(PROMPT, line_done);
    sh.started = true;
}

void hb_qmp_shell_set_schema(HbQmpSchema *schema)
{
    sh.schema = schema;
}

void hb_qmp_shell_continuation(bool more)
{
    /*
     * libedit keeps the finished line (and the old prompt) until the next
     * key; installing the handler again starts a clean line now, so output
     * arriving before that key does not redraw the old text.
     */
    rl_callback_handler_remove();
    rl_callback_handler_install(more ? PROMPT_MORE : PROMPT, line_done);
}

void hb_qmp_shell_read(void)
{
    rl_callback_read_char();
}

void hb_qmp_shell_print(const char *text)
{
    /* Over the prompt line, then the prompt and the typed text again. */
    fputs("\r\033[K", stdout);
    fputs(text, stdout);
    fflush(stdout);
    rl_forced_update_display();
}

void hb_qmp_shell_stop(void)
{
    if (!sh.started) {
        return;
    }
    rl_callback_handler_remove();
    if (sh.history) {
        write_history(sh.history);
    }
    g_free(sh.history);
    g_strfreev(sh.candidates);
    sh.started = false;
}
