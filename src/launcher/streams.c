/*
 * launcher/streams.c — `torify --streams`: the streams Tor carries now, as
 * one table: stream, state, program (pid and executable), destination as
 * the program asked for it, circuit (relay nicknames), age.
 *
 * Tor's `GETINFO stream-status` says which streams exist but not whose
 * they are; the programs' streams tables (socktab.c) say which sockets
 * torified programs have to Tor and for what; streams_match.c ties the two
 * and leaves a stream's program undecided ("?", with the candidates) where
 * the two cannot tell.  A snapshot has no reason for a state (Tor gives it
 * only in events: --watch shows it) and no SOCKS username (ditto).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <torify/control.h>
#include "core/clock.h"
#include "launcher/launcher.h"

#define ROWS_MAX 512
#define RECS_MAX 1024
#define LISTENERS_MAX 16

struct rows { struct stream_row row[ROWS_MAX]; size_t n; };

/* "ID STATUS CIRCID TARGET" */
static void one_stream(const char *line, void *arg)
{
    struct rows *rs = arg;
    if (rs->n == ROWS_MAX)
        return;
    struct stream_row *r = &rs->row[rs->n];
    memset(r, 0, sizeof *r);
    if (sscanf(line, "%lu %31s %lu %299s", &r->id, r->status, &r->circ, r->target) == 4)
        rs->n++;
}

/* "127.0.0.1:9050" or "[::1]:9050" (unix listeners are not TCP: skipped). */
static bool parse_end(const char *text, struct tcp_end *e)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || strncmp(text, "unix:", 5) == 0)
        return false;
    const char *h = text, *he = colon;
    if (*h == '[' && he > h + 1 && he[-1] == ']') {
        h++;
        he--;
    }
    if ((size_t)(he - h) >= sizeof host)
        return false;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    memset(e, 0, sizeof *e);
    e->port = (uint16_t)strtoul(colon + 1, NULL, 10);
    if (inet_pton(AF_INET, host, e->addr) == 1)
        e->family = AF_INET;
    else if (inet_pton(AF_INET6, host, e->addr) == 1)
        e->family = AF_INET6;
    return e->family != 0 && e->port != 0;
}

/* Tor's SOCKS listeners (net/listeners/socks), else torify's address. */
static size_t listeners(struct torify_ctl *c, const struct torify_config *cfg, struct tcp_end *ls)
{
    char v[2048], one[300], ours[300];
    size_t n = 0, pos = 0, used;
    if (torify_ctl_getinfo(c, "net/listeners/socks", v, sizeof v) == TORIFY_OK) {
        while (v[pos] && n < LISTENERS_MAX) {
            if (v[pos] == ' ') {
                pos++;
                continue;
            }
            if (torify_ctl_unquote(v + pos, strlen(v + pos), true, one, sizeof one, &used) != TORIFY_OK)
                break;
            pos += used;
            n += parse_end(one, &ls[n]);
        }
    }
    if (n == 0 && parse_end(tor_address_text(cfg, ours, sizeof ours), &ls[0]))
        n = 1;
    return n;
}

static const char *program_text(const struct stream_row *s, const struct sock_rec *recs, size_t nr, char *buf,
                                size_t cap)
{
    const char *exe = "?";
    if (s->pid > 0) {
        for (size_t j = 0; j < nr; j++)
            if (recs[j].pid == s->pid)
                exe = recs[j].exe;
        const char *base = strrchr(exe, '/'); /* the column stays narrow; the pid says the rest */
        snprintf(buf, cap, "%ld %s", s->pid, base ? base + 1 : exe);
    } else if (s->n_pids > 0) {
        size_t o = (size_t)snprintf(buf, cap, "? (");
        for (size_t k = 0; k < s->n_pids && o < cap; k++)
            o += (size_t)snprintf(buf + o, cap - o, "%s%ld", k ? " or " : "", s->pids[k]);
        if (o < cap)
            snprintf(buf + o, cap - o, ")");
    } else {
        snprintf(buf, cap, "?");
    }
    return buf;
}

void streams_print_header(FILE *f, bool isolation)
{
    fprintf(f, "%-6s %-12s %-24s %-30s %-34s %-5s%s%s\n", "STREAM", "STATE", "PROGRAM", "DESTINATION", "CIRCUIT", "AGE",
            isolation ? " " : "", isolation ? "ISOLATION" : "");
}

void streams_print_row(FILE *f, unsigned long id, const char *state, const char *program, const char *dest,
                       unsigned long circ, const char *age, const char *isolation)
{
    const char *path, *purpose;
    char circuit[CIRC_PATH_TEXT + 64];
    circs_get(circ, &path, &purpose);
    if (circ == 0)
        snprintf(circuit, sizeof circuit, "-");
    else
        snprintf(circuit, sizeof circuit, "%lu %s%s%s", circ, path,
                 purpose[0] && strcmp(purpose, "GENERAL") != 0 ? " " : "",
                 purpose[0] && strcmp(purpose, "GENERAL") != 0 ? purpose : "");
    fprintf(f, "%-6lu %-12s %-24s %-30s %-34s %-5s%s%s\n", id, state, program, dest, circuit, age,
            isolation ? " " : "", isolation ? isolation : "");
}

int streams_table(const struct torify_config *cfg)
{
    static struct rows rs;
    static struct sock_rec recs[RECS_MAX];
    struct tcp_end ls[LISTENERS_MAX];
    struct control_info info;
    const struct torify_ctl_reply *r;
    char why[4400];
    struct torify_ctl *c = control_connect(cfg, &info);

    if (c == NULL) {
        control_failure_text(&info, why, sizeof why);
        fprintf(stderr, "torify: control port: %s\n", why);
        return info.reachable ? EXIT_CONTROL_AUTH : EXIT_CONTROL_UNREACHABLE;
    }
    size_t n_ls = listeners(c, cfg, ls);
    torify_err e = circs_load(c);
    if (e == TORIFY_OK)
        e = torify_ctl_command(c, "GETINFO stream-status", &r);
    if (e == TORIFY_OK && !torify_ctl_reply_ok(r))
        e = TORIFY_E_CTL_REFUSED;
    if (e != TORIFY_OK) {
        fprintf(stderr, "torify: control port %s: %s\n", info.where, torify_strerror(e));
        torify_ctl_close(c);
        return EXIT_CONTROL_AUTH;
    }
    rs.n = 0;
    ctl_each_data_line(r, one_stream, &rs);
    /* stream-status may also come as "250-stream-status=ID ..." (one stream). */
    for (size_t i = 0; i < r->n_lines; i++)
        if (r->lines[i].sep != '+' && strncmp(r->lines[i].text, "stream-status=", 14) == 0 && r->lines[i].text[14])
            one_stream(r->lines[i].text + 14, &rs);
    size_t unpublished = 0;
    size_t nr = socktab_collect(ls, n_ls, recs, RECS_MAX, &unpublished);
    streams_match(rs.row, rs.n, recs, nr);
    torify_ctl_close(c);

    printf("torify: the streams of %s\n", info.where);
    if (rs.n == 0) {
        printf("no streams\n");
        return 0;
    }
    streams_print_header(stdout, false);
    int64_t now = torify_now_ns();
    for (size_t i = 0; i < rs.n; i++) {
        const struct stream_row *s = &rs.row[i];
        char prog[128], age[32] = "-";
        if (s->rec >= 0 && recs[s->rec].started_ns > 0 && now >= recs[s->rec].started_ns)
            snprintf(age, sizeof age, "%llds", (long long)((now - recs[s->rec].started_ns) / 1000000000));
        streams_print_row(stdout, s->id, s->status, program_text(s, recs, nr, prog, sizeof prog),
                          s->asked[0] ? s->asked : s->target, s->circ, age, NULL);
    }
    if (unpublished > 0)
        printf("(%zu connection%s to Tor's SOCKS port not published by a torified program: another user's, or "
               "not torified by libtorify.so; their streams show \"?\")\n",
               unpublished, unpublished == 1 ? "" : "s");
    return 0;
}
