/*
 * launcher/watch.c — `torify --watch`: the streams of torified programs as
 * Tor's control port reports them, one line per STREAM event.
 *
 * Tor's STREAM event names the stream's client end (SOURCE_ADDR, the
 * program's side of its connection to the SocksPort), its target as the
 * program asked for it, its circuit, state and reason, and the SOCKS
 * username (the isolation).  The program is found from SOURCE_ADDR: the
 * TCP socket with that local address in /proc/net/tcp, its inode in
 * /proc/PID/fd (the guard's supervisor, which connected it, may hold it
 * too: the program is preferred), and /proc/PID/exe.  Circuit paths come
 * from GETINFO circuit-status and then CIRC and CIRC_MINOR events (relay
 * nicknames, purpose).
 * Lines are written and flushed one by one, so the output can be piped or
 * logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <torify/control.h>
#include "core/clock.h"
#include "launcher/launcher.h"
#include "launcher/watch.h"

#define STREAMS_MAX 512

/* target: as the program asked (the NEW event's); Tor's later events name
 * the address the exit resolved it to (REMAP). */
static struct watch_stream streams[STREAMS_MAX];
static size_t n_streams;

/* The inode of the TCP socket whose local end is src ("127.0.0.1:PORT"). */
static unsigned long source_inode(const char *src)
{
    char host[64];
    unsigned port;
    struct in_addr a;
    const char *colon = strrchr(src, ':');

    if (colon == NULL || (size_t)(colon - src) >= sizeof host)
        return 0;
    memcpy(host, src, (size_t)(colon - src));
    host[colon - src] = '\0';
    port = (unsigned)strtoul(colon + 1, NULL, 10);
    if (inet_pton(AF_INET, host, &a) != 1)
        return 0; /* IPv6 and unix sources: not looked up */
    FILE *f = fopen("/proc/net/tcp", "re");
    if (f == NULL)
        return 0;
    char line[512];
    unsigned long found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned laddr, lport;
        unsigned long ino;
        if (sscanf(line, " %*u: %8x:%x %*x:%*x %*x %*s %*s %*s %*u %*u %lu", &laddr, &lport, &ino) != 3)
            continue;
        /* The kernel prints the address as a native-endian word. */
        if (lport == port && laddr == a.s_addr && ino != 0)
            found = ino;
    }
    fclose(f);
    return found;
}

static struct watch_stream *stream_find(unsigned long id)
{
    for (size_t i = 0; i < n_streams; i++)
        if (streams[i].id == id)
            return &streams[i];
    if (n_streams == STREAMS_MAX)
        n_streams = 0;
    memset(&streams[n_streams], 0, sizeof streams[0]);
    streams[n_streams].id = id;
    streams[n_streams].first_ns = torify_now_ns();
    return &streams[n_streams++];
}

/* "STREAM ID STATUS CIRCID TARGET [REASON=..] [SOURCE_ADDR=..] [PURPOSE=..] [SOCKS_USERNAME=..]" */
static void stream_event(const char *t, bool screen, const char *where)
{
    char status[32], target[300], val[2048], reason[64] = "";
    unsigned long id, circ;
    int used = 0;

    if (sscanf(t, "%lu %31s %lu %299s %n", &id, status, &circ, target, &used) < 4)
        return;
    const char *rest = t + used;
    struct watch_stream *s = stream_find(id);
    if (s->target[0] == '\0')
        snprintf(s->target, sizeof s->target, "%s", target);
    if (s->source[0] == '\0' && torify_ctl_kv_get(rest, strlen(rest), "SOURCE_ADDR", val, sizeof val) == TORIFY_OK)
        snprintf(s->source, sizeof s->source, "%.63s", val);
    /* Looked up again at each event until the program itself is found:
     * the socket may still be only the guard's supervisor's, or not yet
     * in /proc/net/tcp, when the first event comes. */
    const char *base = strrchr(s->exe, '/');
    if (s->source[0] && (s->pid <= 0 || strcmp(base ? base + 1 : s->exe, "torify") == 0)) {
        unsigned long ino = source_inode(s->source);
        long pid = 0;
        char exe[256];
        if (ino != 0 && proc_socket_owner(ino, "torify", &pid, exe, sizeof exe)) {
            s->pid = pid;
            snprintf(s->exe, sizeof s->exe, "%s", exe);
        }
    }
    if (torify_ctl_kv_get(rest, strlen(rest), "SOCKS_USERNAME", val, sizeof val) == TORIFY_OK)
        snprintf(s->user, sizeof s->user, "%.63s", val);
    if (torify_ctl_kv_get(rest, strlen(rest), "REASON", val, sizeof val) == TORIFY_OK)
        snprintf(reason, sizeof reason, " reason=%.50s", val);
    snprintf(s->state, sizeof s->state, "%s", status);
    snprintf(s->reason, sizeof s->reason, "%s", reason[0] ? reason + 8 : "");
    s->circ = circ;
    if (strcmp(status, "CLOSED") == 0 || strcmp(status, "FAILED") == 0)
        s->ended_ns = torify_now_ns();
    if (screen) {
        watch_screen_draw(where, streams, &n_streams, torify_now_ns());
        return;
    }
    const char *path, *purpose;
    circs_get(circ, &path, &purpose);
    char prog[300];
    if (s->pid > 0)
        snprintf(prog, sizeof prog, "pid %ld %s", s->pid, s->exe);
    else
        snprintf(prog, sizeof prog, "pid ? (not found)");
    printf("stream %lu %s %s%s | %s | circuit %lu %s%s%s | isolation %s\n", id, status, s->target, reason, prog, circ,
           path, purpose[0] ? " " : "", purpose, s->user[0] ? s->user : "-");
    fflush(stdout);
}

struct watch_ctx { bool screen; const char *where; };

static void on_event(void *arg, const struct torify_ctl_reply *r)
{
    const struct watch_ctx *w = arg;
    const char *t = r->lines[0].text;
    if (strncmp(t, "CIRC ", 5) == 0)
        circs_line(t + 5);
    else if (strncmp(t, "CIRC_MINOR ", 11) == 0)
        circs_line(t + 11); /* "ID EVENT PATH ...": never CLOSED, so only updates */
    else if (strncmp(t, "STREAM ", 7) == 0)
        stream_event(t + 7, w->screen, w->where);
}

int watch_streams(const struct torify_config *cfg)
{
    struct control_info info;
    char why[4400];
    const struct torify_ctl_reply *r;
    struct torify_ctl *c = control_connect(cfg, &info);
    torify_err e;

    if (c == NULL) {
        control_failure_text(&info, why, sizeof why);
        fprintf(stderr, "torify: control port: %s\n", why);
        return info.reachable ? EXIT_CONTROL_AUTH : EXIT_CONTROL_UNREACHABLE;
    }
    /* On a terminal the table is redrawn in place (watch_screen.c); else
     * one line per event, to be piped or logged. */
    struct watch_ctx w = { .screen = isatty(STDOUT_FILENO) == 1, .where = info.where };
    if (w.screen) {
        watch_screen_draw(info.where, streams, &n_streams, torify_now_ns());
    } else {
        printf("torify: watching the streams of %s (one line per event; Ctrl-C ends)\n", info.where);
        fflush(stdout);
    }
    /* Events may come before circuit-status' answer (Tor sends them as
     * soon as SETEVENTS is done): the client hands them to on_event then. */
    torify_ctl_set_event_handler(c, on_event, &w);
    /* CIRC_MINOR: a prebuilt circuit taken for a rendezvous changes its
     * purpose (PURPOSE_CHANGED, CANNIBALIZED) without a CIRC event. */
    e = torify_ctl_setevents(c, "STREAM CIRC CIRC_MINOR");
    if (e == TORIFY_OK)
        e = circs_load(c);
    if (e != TORIFY_OK) {
        fprintf(stderr, "torify: control port %s: %s\n", info.where, torify_strerror(e));
        torify_ctl_close(c);
        return EXIT_CONTROL_AUTH;
    }
    for (;;) {
        /* On the screen, once a second: a finished stream's row goes
         * WATCH_KEEP_NS after its end even when no event comes. */
        e = torify_ctl_read_event(c, w.screen ? 1000 : 60000, &r);
        if (e == TORIFY_E_TIMEOUT) {
            if (w.screen)
                watch_screen_draw(info.where, streams, &n_streams, torify_now_ns());
            continue;
        }
        if (e != TORIFY_OK)
            break;
        on_event(&w, r);
    }
    fprintf(stderr, "torify: control port %s: %s\n", info.where, torify_strerror(e));
    torify_ctl_close(c);
    return EXIT_CONTROL_UNREACHABLE;
}
