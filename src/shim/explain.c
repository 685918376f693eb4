/*
 * shim/explain.c — a failed connect through Tor that explains itself:
 * when the failure is logged, what Tor's control port knows is added to
 * the line ("Tor is at 45 % bootstrap (Loading relay descriptors)", "Tor's
 * network is disabled", "no circuit yet").
 *
 * Asked only after a failure, only when the line will be written (NOTICE
 * enabled) and only of a control port torify was told about (ControlSocket
 * or ControlPort in torify.conf or the environment: a failing program does
 * not go probing Debian's places).  Bounded: each step within
 * EXPLAIN_STEP_MS, no new step once EXPLAIN_BUDGET_MS have passed, so a
 * slow or hostile control port costs at most about their sum; an
 * unreachable one answers at once (refused) and the line stays plain.  The
 * connection is the shim's own (its real socket/connect/close), not
 * through its interposed connect.  One thread asks at a time (another
 * failing meanwhile writes the plain line), and an answer serves the
 * failures of the next EXPLAIN_CACHE_NS too — the non-blocking connects'
 * helper thread asks here, and would otherwise stall every other
 * handshake at each failure.  Under the kernel guard the program may not
 * reach the control port (it would learn what Tor knows, the machine's
 * address among it): the line stays plain.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <torify/control.h>

#include "control/open_sys.h"
#include "core/clock.h"
#include "core/log.h"
#include "shim/explain.h"
#include "shim/state.h"
#include "shim/tor.h"

#define EXPLAIN_STEP_MS 100
#define EXPLAIN_BUDGET_MS 200
#define EXPLAIN_CACHE_NS (2 * 1000000000LL)

static socklen_t control_addr(const struct torify_config *cfg, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (cfg->ctl_unix[0]) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", cfg->ctl_unix);
        return (socklen_t)sizeof *un;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, cfg->ctl_address, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(cfg->ctl_port);
        return (socklen_t)sizeof *in;
    }
    if (inet_pton(AF_INET6, cfg->ctl_address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(cfg->ctl_port);
        return (socklen_t)sizeof *in6;
    }
    return 0;
}

/* "NOTICE BOOTSTRAP PROGRESS=45 TAG=... SUMMARY="..." [WARNING="..."]" */
static bool bootstrap_text(const char *v, char *out, size_t cap)
{
    char num[16], summary[160] = "", warning[160] = "";
    const char *p = strstr(v, "BOOTSTRAP ");
    if (p == NULL)
        return false;
    p += 10;
    if (torify_ctl_kv_get(p, strlen(p), "PROGRESS", num, sizeof num) != TORIFY_OK)
        return false;
    int progress = atoi(num);
    if (progress >= 100)
        return false;
    torify_ctl_kv_get(p, strlen(p), "SUMMARY", summary, sizeof summary);
    if (strncmp(v, "WARN ", 5) == 0)
        torify_ctl_kv_get(p, strlen(p), "WARNING", warning, sizeof warning);
    snprintf(out, cap, "Tor is at %d %% bootstrap (%s)%s%s", progress, summary[0] ? summary : "?",
             warning[0] ? "; its warning: " : "", warning);
    return true;
}

static bool over_budget(int64_t start)
{
    return torify_now_ms() - start >= EXPLAIN_BUDGET_MS;
}

/* What the control port says about why Tor cannot carry the connection;
 * "" when it cannot be asked or says nothing of the kind. */
static void ask(const struct torify_config *cfg, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = control_addr(cfg, &ss);
    torify_err e;
    int64_t start = torify_now_ms();
    char v[1024];
    bool set;

    out[0] = '\0';
    if (len == 0)
        return;
    struct torify_ctl *c = torify_ctl_open_sys(&torify_tor_sys, (const struct sockaddr *)&ss, len, EXPLAIN_STEP_MS, &e);
    if (c == NULL)
        return;
    struct torify_ctl_protocolinfo pi;
    struct torify_ctl_auth auth = { cfg->has_ctl_password ? cfg->ctl_password : NULL,
                                    cfg->ctl_cookie[0] ? cfg->ctl_cookie : NULL };
    unsigned used;
    if (torify_ctl_protocolinfo(c, &pi) != TORIFY_OK || over_budget(start) ||
        torify_ctl_authenticate(c, &pi, &auth, &used) != TORIFY_OK || over_budget(start))
        goto done;
    if (torify_ctl_getconf(c, "DisableNetwork", v, sizeof v, &set) == TORIFY_OK && strcmp(v, "1") == 0) {
        snprintf(out, cap, "Tor's network is disabled (DisableNetwork 1)");
        goto done;
    }
    if (over_budget(start) || torify_ctl_getinfo(c, "status/bootstrap-phase", v, sizeof v) != TORIFY_OK)
        goto done;
    if (bootstrap_text(v, out, cap))
        goto done;
    if (over_budget(start) || torify_ctl_getinfo(c, "status/circuit-established", v, sizeof v) != TORIFY_OK)
        goto done;
    if (strcmp(v, "0") == 0) {
        snprintf(out, cap, "no circuit yet");
        goto done;
    }
    if (!over_budget(start) && torify_ctl_getinfo(c, "network-liveness", v, sizeof v) == TORIFY_OK &&
        strcmp(v, "down") == 0) {
        snprintf(out, cap, "Tor thinks the network is down");
        goto done;
    }
    snprintf(out, cap, "Tor is bootstrapped and has circuits");
done:
    torify_ctl_close(c);
}

const char *torify_explain(const struct torify_config *cfg, char *buf, size_t cap)
{
    buf[0] = '\0';
    if ((!cfg->ctl_unix[0] && !cfg->ctl_port) || !torify_log_enabled(TORIFY_LOG_NOTICE))
        return buf;
    int idle = 0;
    if (!atomic_compare_exchange_strong(&torify_shim.explain_busy, &idle, 1))
        return buf; /* another thread is asking: this line stays plain */
    int64_t now = torify_now_ns();
    if (torify_shim.explain_at_ns == 0 || now - torify_shim.explain_at_ns >= EXPLAIN_CACHE_NS) {
        ask(cfg, torify_shim.explain_text, sizeof torify_shim.explain_text);
        torify_shim.explain_at_ns = torify_now_ns();
    }
    if (torify_shim.explain_text[0])
        snprintf(buf, cap, "; Tor's control port says: %s", torify_shim.explain_text);
    atomic_store(&torify_shim.explain_busy, 0);
    return buf;
}

void torify_explain_after_fork_child(void)
{
    /* The asking thread, if any, is not in the child. */
    atomic_store(&torify_shim.explain_busy, 0);
}
