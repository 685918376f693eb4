/*
 * launcher/check_control.c — what `torify --check` adds when a control
 * port answers: Tor's version, bootstrap (phase, tag, warning), network
 * (DisableNetwork, liveness), circuits, dormancy, the SOCKS listeners
 * against torify's address, IsolateSOCKSAuth for -i.
 *
 * The exit status: the SOCKS check's when that failed; else
 * EXIT_CONTROL_AUTH when a configured control port refused us; else
 * EXIT_CHECK_NOT_READY when the control port's Tor (the one torify points
 * at: its listeners include torify's address) cannot carry a connection
 * yet; else 0.  A control port found only at Debian's default places that
 * we cannot use, or that belongs to another Tor, is told but decides nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <torify/control.h>
#include "launcher/launcher.h"

struct facts {
    int progress;             /* -1 unknown */
    char tag[64], summary[256], warning[256];
    bool have_liveness, live;
    bool have_circuits, circuits;
    bool have_dormant, dormant;
    bool network_disabled;
    bool listener_known, listener_matches;
    torify_err broken;        /* the conversation ended early: TORIFY_OK while it goes on */
};

/* GETINFO, noting when the conversation broke off (a close, a broken
 * reply): what follows is then unknown, not "fine". */
static torify_err ask(struct torify_ctl *c, struct facts *f, const char *key, char *v, size_t cap)
{
    torify_err e;
    if (f->broken != TORIFY_OK)
        return f->broken;
    e = torify_ctl_getinfo(c, key, v, cap);
    if (e != TORIFY_OK && e != TORIFY_E_CTL_REFUSED && e != TORIFY_E_CTL_MISSING && e != TORIFY_E_CTL_TOO_LONG)
        f->broken = e;
    return e;
}

/* "NOTICE BOOTSTRAP PROGRESS=45 TAG=loading_descriptors SUMMARY="..." [WARNING="..." ...]" */
static void bootstrap(struct torify_ctl *c, struct facts *f)
{
    char v[1024], tmp[16];
    const char *p;

    f->progress = -1;
    if (ask(c, f, "status/bootstrap-phase", v, sizeof v) != TORIFY_OK)
        return;
    p = strstr(v, "BOOTSTRAP ");
    if (p == NULL)
        return;
    p += 10;
    if (torify_ctl_kv_get(p, strlen(p), "PROGRESS", tmp, sizeof tmp) == TORIFY_OK)
        f->progress = atoi(tmp);
    torify_ctl_kv_get(p, strlen(p), "TAG", f->tag, sizeof f->tag);
    torify_ctl_kv_get(p, strlen(p), "SUMMARY", f->summary, sizeof f->summary);
    if (strncmp(v, "WARN ", 5) == 0)
        torify_ctl_kv_get(p, strlen(p), "WARNING", f->warning, sizeof f->warning);
}

static bool getinfo_bool(struct torify_ctl *c, struct facts *f, const char *key, const char *yes, bool *out)
{
    char v[64];
    if (ask(c, f, key, v, sizeof v) != TORIFY_OK)
        return false;
    *out = strcmp(v, yes) == 0;
    return true;
}

/* net/listeners/socks: "\"127.0.0.1:9050\" \"unix:/run/tor/socks\"". */
static void listeners(struct torify_ctl *c, const struct torify_config *cfg, struct facts *f)
{
    char v[2048], ours[300], one[300], shown[2048] = "";
    size_t pos = 0, used;

    tor_address_text(cfg, ours, sizeof ours);
    if (ask(c, f, "net/listeners/socks", v, sizeof v) != TORIFY_OK) {
        printf("socks listeners: unknown\n");
        return;
    }
    f->listener_known = true;
    while (v[pos]) {
        if (v[pos] == ' ') {
            pos++;
            continue;
        }
        if (torify_ctl_unquote(v + pos, strlen(v + pos), true, one, sizeof one, &used) != TORIFY_OK)
            break;
        pos += used;
        /* A wildcard listener takes every address of its port. */
        const char *colon = strrchr(one, ':'), *ocolon = strrchr(ours, ':');
        bool wild = colon && ocolon && strncmp(ours, "unix:", 5) != 0 &&
                    (strncmp(one, "0.0.0.0:", 8) == 0 || strncmp(one, "[::]:", 5) == 0) &&
                    strcmp(colon, ocolon) == 0;
        if (strcmp(one, ours) == 0 || wild)
            f->listener_matches = true;
        size_t n = strlen(shown);
        snprintf(shown + n, sizeof shown - n, "%s%s", n ? " " : "", one);
    }
    if (f->listener_matches)
        printf("socks listeners: %s (torify's %s among them)\n", shown[0] ? shown : "none", ours);
    else
        printf("socks listeners: %s (this Tor does not listen at torify's %s)\n", shown[0] ? shown : "none", ours);
}

/* -i gives each process its own SOCKS credentials; Tor keeps their streams
 * apart only with IsolateSOCKSAuth on the SocksPort (its default). */
static void isolation(struct torify_ctl *c, struct facts *f)
{
    const struct torify_ctl_reply *r;
    bool off = false;
    if (f->broken != TORIFY_OK || torify_ctl_command(c, "GETCONF SocksPort", &r) != TORIFY_OK)
        return;
    for (size_t i = 0; i < r->n_lines; i++)
        if (strstr(r->lines[i].text, "NoIsolateSOCKSAuth") != NULL)
            off = true;
    printf("isolation by credentials (-i): %s\n",
           off ? "no (a SocksPort has NoIsolateSOCKSAuth: -i would not separate circuits)" : "yes (IsolateSOCKSAuth)");
}

int check_control(const struct torify_config *cfg, int socks_rc)
{
    struct control_info info;
    struct facts f;
    char why[4400], v[256];
    bool disabled = false;
    struct torify_ctl *c = control_connect(cfg, &info);

    if (c == NULL) {
        control_failure_text(&info, why, sizeof why);
        if (!info.reachable && info.defaults) {
            printf("control port: none found (tried unix:/run/tor/control and 127.0.0.1:9051; "
                   "ControlPort or ControlSocket say where)\n");
            return socks_rc;
        }
        printf("control port: %s\n", why);
        if (info.reachable && info.configured && socks_rc == 0) {
            printf("result: Tor's control port refused torify: %s\n", why);
            return EXIT_CONTROL_AUTH;
        }
        return socks_rc;
    }
    printf("control port: %s (%s)\n", info.where, control_method_name(info.method));
    memset(&f, 0, sizeof f);
    torify_err e = torify_ctl_getinfo(c, "version", v, sizeof v);
    if (e == TORIFY_OK) {
        printf("tor version: %s\n", v);
    } else if (e != TORIFY_E_CTL_REFUSED && e != TORIFY_E_CTL_MISSING) {
        /* The conversation is over (a broken or oversized reply, a close):
         * nothing more can be asked, and no fact is known. */
        printf("control port: no answer to GETINFO version: %s\n", torify_strerror(e));
        torify_ctl_close(c);
        return socks_rc;
    }
    bootstrap(c, &f);
    if (f.progress >= 0)
        printf("bootstrap: %d %% (%s: %s)%s%s\n", f.progress, f.tag, f.summary, f.warning[0] ? ", warning: " : "",
               f.warning);
    else
        printf("bootstrap: unknown\n");
    bool is_set = false;
    if (f.broken == TORIFY_OK && torify_ctl_getconf(c, "DisableNetwork", v, sizeof v, &is_set) == TORIFY_OK && is_set &&
        strcmp(v, "1") == 0)
        disabled = true;
    f.network_disabled = disabled;
    f.have_liveness = getinfo_bool(c, &f, "network-liveness", "up", &f.live);
    printf("network: %s%s%s\n", disabled ? "disabled (DisableNetwork 1)" : "enabled",
           f.have_liveness ? ", " : "", f.have_liveness ? (f.live ? "live" : "down (Tor sees no network activity)") : "");
    f.have_circuits = getinfo_bool(c, &f, "status/circuit-established", "1", &f.circuits);
    if (f.have_circuits)
        printf("circuits established: %s\n", f.circuits ? "yes" : "no");
    f.have_dormant = getinfo_bool(c, &f, "dormant", "1", &f.dormant);
    if (f.have_dormant)
        printf("dormant: %s\n", f.dormant ? "yes (Tor sleeps until a client asks; a connect wakes it)" : "no");
    listeners(c, cfg, &f);
    isolation(c, &f);
    torify_ctl_close(c);

    if (f.broken != TORIFY_OK)
        printf("control port: the conversation broke off: %s\n", torify_strerror(f.broken));
    if (socks_rc != 0)
        return socks_rc;
    if (f.broken != TORIFY_OK || f.progress < 0) {
        printf("result: Tor's state is unknown (the control port did not tell it)\n");
        return 0;
    }
    if (f.listener_known && !f.listener_matches) {
        printf("result: the control port at %s belongs to a Tor that does not listen at torify's address; "
               "its state says nothing about the Tor torify uses\n", info.where);
        return 0;
    }
    if (disabled || (f.progress >= 0 && f.progress < 100) || (f.have_circuits && !f.circuits)) {
        if (disabled)
            printf("result: Tor's network is disabled (DisableNetwork 1): torified connects will fail\n");
        else if (f.progress >= 0 && f.progress < 100)
            printf("result: Tor is at %d %% bootstrap (%s): torified connects will fail or wait until 100 %%\n",
                   f.progress, f.summary);
        else
            printf("result: Tor has no circuit yet: torified connects will wait or fail\n");
        return EXIT_CHECK_NOT_READY;
    }
    printf("result: Tor is bootstrapped and has circuits\n");
    return 0;
}
