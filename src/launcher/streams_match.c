/*
 * launcher/streams_match.c — which program each stream of Tor's
 * `GETINFO stream-status` belongs to, for `torify --streams`.
 *
 * Tor's snapshot gives a stream's id, state, circuit and target, not its
 * client end; the programs' streams tables (socktab.c) give, per torified
 * socket to Tor, what was asked.  A stream can be a record's when the port
 * is the same and the host is the same name or address — or the record is
 * a name and the stream's target an address: when the exit resolved a
 * name, Tor replaces the target by the address (a REMAP), and no name is
 * kept.  An onion address is never replaced (the rendezvous' connected
 * cell carries no address).
 *
 * Streams and records that can be each other's form groups (connected
 * parts of that relation).  Each socket to Tor is at most one stream, each
 * torified stream exactly one socket; so in a group with as many streams
 * as records, every stream is one of its records.  There:
 *   - one stream, one record: the stream is that record's (program,
 *     destination as asked, age);
 *   - more, all records of one process: the streams are that process's;
 *     the destination as asked when all records asked the same;
 * and otherwise (counts differ: a stream of a client that published
 * nothing, another user's program, a socket not yet a stream) the program
 * is not decided and the candidates are named.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "launcher/launcher.h"

#define NODES_MAX 2048

/* "host:port" / "[v6]:port" -> host (brackets off) and port. */
static bool split_target(const char *t, char *host, size_t cap, unsigned *port)
{
    const char *colon = strrchr(t, ':');
    if (colon == NULL || colon == t)
        return false;
    const char *h = t, *he = colon;
    if (*h == '[') {
        if (he[-1] != ']')
            return false;
        h++;
        he--;
    }
    if ((size_t)(he - h) >= cap)
        return false;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p > 65535)
        return false;
    *port = (unsigned)p;
    return true;
}

static bool ends_with_onion(const char *h)
{
    size_t n = strlen(h);
    return n >= 6 && strcasecmp(h + n - 6, ".onion") == 0;
}

bool stream_may_be(const char *target, const struct sock_rec *r)
{
    char host[300];
    unsigned port;
    uint8_t a[16];
    if (!split_target(target, host, sizeof host, &port) || port != r->port)
        return false;
    bool v4 = inet_pton(AF_INET, host, a) == 1, v6 = !v4 && inet_pton(AF_INET6, host, a) == 1;
    switch (r->kind) {
    case TORIFY_TARGET_HOST:
        return strcasecmp(host, r->host) == 0 || ((v4 || v6) && !ends_with_onion(r->host));
    case TORIFY_TARGET_IPV4:
        return v4 && memcmp(a, r->addr, 4) == 0;
    case TORIFY_TARGET_IPV6:
        return v6 && memcmp(a, r->addr, 16) == 0;
    default:
        return false;
    }
}

static size_t find(size_t *parent, size_t x)
{
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

void streams_match(struct stream_row *s, size_t ns, const struct sock_rec *r, size_t nr)
{
    static size_t parent[NODES_MAX];
    static size_t n_streams[NODES_MAX], n_recs[NODES_MAX];
    if (ns > NODES_MAX / 2)
        ns = NODES_MAX / 2;
    if (nr > NODES_MAX / 2)
        nr = NODES_MAX / 2;
    for (size_t i = 0; i < ns + nr; i++) {
        parent[i] = i;
        n_streams[i] = n_recs[i] = 0;
    }
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < nr; j++)
            if (stream_may_be(s[i].target, &r[j]))
                parent[find(parent, i)] = find(parent, ns + j);
    for (size_t i = 0; i < ns; i++)
        n_streams[find(parent, i)]++;
    for (size_t j = 0; j < nr; j++)
        n_recs[find(parent, ns + j)]++;
    for (size_t i = 0; i < ns; i++) {
        struct stream_row *row = &s[i];
        size_t g = find(parent, i);
        row->rec = -1;
        row->pid = 0;
        row->asked[0] = '\0';
        row->n_pids = 0;
        long first = -1;
        bool same_asked = true;
        for (size_t j = 0; j < nr; j++) {
            if (find(parent, ns + j) != g)
                continue;
            if (first < 0)
                first = (long)j;
            else if (strcmp(r[j].asked, r[first].asked) != 0)
                same_asked = false;
            bool seen = false;
            for (size_t k = 0; k < row->n_pids; k++)
                seen |= row->pids[k] == r[j].pid;
            if (!seen && row->n_pids < STREAM_PIDS_MAX)
                row->pids[row->n_pids++] = r[j].pid;
        }
        if (first < 0 || n_streams[g] != n_recs[g])
            continue; /* no candidate, or not decided: the candidates are in pids */
        if (row->n_pids == 1)
            row->pid = row->pids[0];
        if (n_recs[g] == 1)
            row->rec = first;
        if (same_asked)
            snprintf(row->asked, sizeof row->asked, "%s", r[first].asked);
    }
}
