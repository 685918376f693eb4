/*
 * launcher/circs.c — Tor's circuits as `--watch` and `--streams` show
 * them: relay nicknames and purpose, from GETINFO circuit-status and then
 * CIRC and CIRC_MINOR events.  And the walk over a GETINFO reply's data
 * lines that both use for circuit-status and stream-status.
 */
#include <stdio.h>
#include <string.h>
#include <torify/control.h>
#include "launcher/launcher.h"

#define CIRCS_MAX 512

struct circ { unsigned long id; char path[CIRC_PATH_TEXT]; char purpose[32]; };

static struct circ circs[CIRCS_MAX];
static size_t n_circs;

/* "$FP~nick,$FP~nick" -> "nick,nick" (a relay without a nickname: its $FP). */
static void nicknames(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    while (*path && o + 1 < cap) {
        size_t n = strcspn(path, ",");
        const char *tilde = memchr(path, '~', n);
        const char *name = tilde ? tilde + 1 : path;
        size_t nl = (size_t)(path + n - name);
        if (nl > 0) {
            int w = snprintf(out + o, cap - o, "%s%.*s", o ? "," : "", (int)nl, name);
            if (w < 0 || (size_t)w >= cap - o)
                break;
            o += (size_t)w;
        }
        path += n;
        if (*path == ',')
            path++;
    }
}

static struct circ *circ_find(unsigned long id, bool add)
{
    for (size_t i = 0; i < n_circs; i++)
        if (circs[i].id == id)
            return &circs[i];
    if (!add)
        return NULL;
    if (n_circs == CIRCS_MAX)
        n_circs = 0; /* a long watch: forget the oldest rather than stop */
    memset(&circs[n_circs], 0, sizeof circs[0]);
    circs[n_circs].id = id;
    return &circs[n_circs++];
}

void circs_line(const char *t)
{
    char status[32], word[1024], val[2048];
    unsigned long id;
    int used = 0;

    if (sscanf(t, "%lu %31s %n", &id, status, &used) < 2)
        return;
    if (strcmp(status, "CLOSED") == 0 || strcmp(status, "FAILED") == 0) {
        struct circ *c = circ_find(id, false);
        if (c != NULL)
            *c = circs[--n_circs];
        return;
    }
    struct circ *c = circ_find(id, true);
    const char *rest = t + used;
    if (sscanf(rest, "%1023s", word) == 1 && word[0] == '$')
        nicknames(word, c->path, sizeof c->path);
    if (torify_ctl_kv_get(rest, strlen(rest), "PURPOSE", val, sizeof val) == TORIFY_OK)
        snprintf(c->purpose, sizeof c->purpose, "%.31s", val);
}

bool circs_get(unsigned long id, const char **path, const char **purpose)
{
    const struct circ *c = id ? circ_find(id, false) : NULL;
    *path = c && c->path[0] ? c->path : "-";
    *purpose = c ? c->purpose : "";
    return c != NULL;
}

void ctl_each_data_line(const struct torify_ctl_reply *r, void (*fn)(const char *line, void *arg), void *arg)
{
    for (size_t i = 0; i < r->n_lines; i++) {
        const char *d = r->lines[i].data;
        while (d != NULL && *d) {
            char line[2048];
            size_t n = strcspn(d, "\n");
            snprintf(line, sizeof line, "%.*s", (int)n, d);
            fn(line, arg);
            d += n + (d[n] == '\n');
        }
    }
}

static void one_circ(const char *line, void *arg)
{
    (void)arg;
    circs_line(line);
}

torify_err circs_load(struct torify_ctl *c)
{
    const struct torify_ctl_reply *r;
    torify_err e = torify_ctl_command(c, "GETINFO circuit-status", &r);
    if (e == TORIFY_OK)
        ctl_each_data_line(r, one_circ, NULL);
    return e;
}
