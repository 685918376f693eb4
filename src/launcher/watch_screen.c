/*
 * launcher/watch_screen.c — `--watch` on a terminal: the streams table
 * (launcher/streams.c's columns, and the isolation), redrawn in place at
 * every STREAM event and once a second, so a finished stream stays a few
 * seconds, marked by its state (and Tor's reason), and then goes.
 *
 * ANSI only: cursor home and clear screen ("\033[H\033[2J"), one write per
 * screen.  The rows that fit the terminal (TIOCGWINSZ) are the newest; how
 * many more there are is said.  Not used when stdout is not a terminal
 * (watch.c writes one line per event there).
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "launcher/launcher.h"
#include "launcher/watch.h"

static size_t screen_rows(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4)
        return ws.ws_row;
    return 24;
}

void watch_screen_draw(const char *where, struct watch_stream *s, size_t *n, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (s[i].ended_ns == 0 || now - s[i].ended_ns <= WATCH_KEEP_NS)
            s[kept++] = s[i];
    *n = kept;

    size_t fit = screen_rows() - 3; /* title, header, "more" */
    size_t from = kept > fit ? kept - fit : 0;
    fputs("\033[H\033[2J", stdout);
    printf("torify: the streams of %s (Ctrl-C ends)\n", where);
    streams_print_header(stdout, true);
    for (size_t i = from; i < kept; i++) {
        const struct watch_stream *w = &s[i];
        char state[100], prog[300], age[32];
        snprintf(state, sizeof state, "%s%s%s%s", w->state, w->reason[0] ? " (" : "", w->reason,
                 w->reason[0] ? ")" : "");
        if (w->pid > 0) {
            const char *base = strrchr(w->exe, '/');
            snprintf(prog, sizeof prog, "%ld %s", w->pid, base ? base + 1 : w->exe);
        } else {
            snprintf(prog, sizeof prog, "?");
        }
        int64_t end = w->ended_ns ? w->ended_ns : now;
        snprintf(age, sizeof age, "%llds", (long long)((end - w->first_ns) / 1000000000));
        streams_print_row(stdout, w->id, state, prog, w->target, w->circ, age, w->user[0] ? w->user : "-");
    }
    if (from > 0)
        printf("(%zu older streams not shown)\n", from);
    fflush(stdout);
}
