/* shim/tor.c — see tor.h. */
#include "shim/tor.h"
#include "shim/explain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fakemap.h"
#include "core/log.h"
#include "core/procstat.h"
#include "dns/tor.h"
#include "shim/state.h"
#include "shim/real.h"

const struct torify_sx_sys torify_tor_sys = { torify_real_socket, torify_real_connect, torify_real_close };

/* The process start time (clock ticks since boot, /proc/self/stat field 22),
 * cached per pid (torify_shim.start_time, shim/state.h) so a forked child
 * computes its own. */
static unsigned long long start_time_of_self(long pid)
{
    if (atomic_load_explicit(&torify_shim.start_time_pid, memory_order_acquire) == pid)
        return atomic_load_explicit(&torify_shim.start_time, memory_order_relaxed);
    unsigned long long st = 0;
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[1024];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        torify_real_close(fd);
        if (n <= 0 || torify_procstat_field(buf, (size_t)n, TORIFY_PROCSTAT_STARTTIME, &st) != 0)
            st = 0;
    }
    atomic_store_explicit(&torify_shim.start_time, st, memory_order_relaxed);
    atomic_store_explicit(&torify_shim.start_time_pid, pid, memory_order_release);
    return st;
}

void torify_tor_opts(const struct torify_config *c, struct torify_socks_opts *o, int timeout_ms,
                     char *user, char *pass)
{
    long pid = (long)getpid();
    unsigned long long st = c->isolate_pid && !c->has_user && !c->has_pass ? start_time_of_self(pid) : 0;
    torify_policy_socks_opts(c, pid, st, timeout_ms, user, pass, o);
}

/* A RESOLVE or RESOLVE_PTR as this process: its answer in *result, the
 * connection closed. */
static torify_err query(const struct torify_config *c, enum torify_socks_cmd cmd, const struct torify_target *t,
                        int timeout_ms, struct torify_target *result)
{
    if (!c->tor_addr_len)
        return TORIFY_E_PROXY_UNREACHABLE;
    struct torify_socks_opts o;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    torify_tor_opts(c, &o, timeout_ms, user, pass);
    torify_err e;
    int fd = torify_sx_exchange(&torify_tor_sys, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len, cmd, t,
                                &o, result, &e);
    if (fd < 0)
        return e;
    int saved = errno;
    torify_real_close(fd);
    errno = saved;
    return TORIFY_OK;
}

torify_err torify_tor_resolve_ptr(const struct torify_config *c, const struct torify_ip *ip,
                                  char *name, size_t name_len)
{
    if (c->proto != TORIFY_SOCKS5)
        return TORIFY_E_INVAL_TARGET; /* RESOLVE_PTR is a SOCKS5 extension */
    struct torify_target t, result;
    torify_err e = ip->family == AF_INET ? torify_target_ipv4(&t, ip->addr, 0) : torify_target_ipv6(&t, ip->addr, 0);
    if (e == TORIFY_OK)
        e = query(c, TORIFY_SOCKS_RESOLVE_PTR, &t, TORIFY_TOR_PTR_MS, &result);
    if (e)
        return e;
    if (result.kind != TORIFY_TARGET_HOST || result.host_len == 0)
        return TORIFY_E_PROTO_RESOLVE_TYPE;
    if ((size_t)result.host_len >= name_len)
        return TORIFY_E_INVAL_HOST_TOO_LONG;
    memcpy(name, result.host, result.host_len);
    name[result.host_len] = '\0';
    return TORIFY_OK;
}

torify_err torify_tor_resolve(const struct torify_config *c, const char *name, int family, uint8_t addr[16])
{
    struct torify_target t, result;
    torify_err e = torify_target_host(&t, name, strlen(name), 0);
    if (e == TORIFY_OK)
        e = query(c, TORIFY_SOCKS_RESOLVE, &t, TORIFY_TOR_HANDSHAKE_MS, &result);
    return e ? e : torify_dns_tor_pick(&result, family, addr);
}

void torify_tor_log_unreachable(const struct torify_config *c, const char *target, int why)
{
    char where[80], why_more[TORIFY_EXPLAIN_MAX];
    const char *reason = strerror(why); /* before the control port is asked: that may change errno */
    torify_log(TORIFY_LOG_NOTICE, "cannot reach Tor at %s (%s): connect to %s refused, nothing sent directly%s",
               c->tor_unix[0] ? c->tor_unix
                              : torify_tor_fmt_sockaddr((const struct sockaddr *)&c->tor_addr, c->tor_addr_len,
                                                        where, sizeof where),
               reason, target, torify_explain(c, why_more, sizeof why_more));
}

const char *torify_tor_fmt_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buf_len)
{
    struct torify_ip ip;
    if (torify_ip_from_sockaddr(sa, len, &ip) != 0) {
        snprintf(buf, buf_len, "(family %d)", sa ? sa->sa_family : -1);
        return buf;
    }
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(ip.family, ip.addr, a, sizeof a))
        snprintf(a, sizeof a, "?");
    if (ip.family == AF_INET6)
        snprintf(buf, buf_len, "[%s]:%u", a, ip.port);
    else
        snprintf(buf, buf_len, "%s:%u", a, ip.port);
    return buf;
}

void torify_tor_reverse_name(const struct torify_ip *ip, char *name, size_t name_len)
{
    const struct torify_state_config *st = torify_state_config();
    const struct torify_config *c = &st->cfg;
    if (name_len == 0)
        return;
    name[0] = '\0';
    bool fake = torify_cidr_contains(ip->family == AF_INET ? &c->fake4 : &c->fake6, ip->family, ip->addr);
    switch (torify_policy_reverse_kind(ip, fake)) {
    case TORIFY_REVERSE_FAKE: {
        struct torify_fakemap *m = torify_state_fakemap(NULL);
        if (!m || torify_fakemap_lookup_addr(m, ip->family, ip->addr, name, name_len, NULL) != TORIFY_OK)
            name[0] = '\0';
        break;
    }
    case TORIFY_REVERSE_LOCALHOST:
        snprintf(name, name_len, "localhost");
        break;
    case TORIFY_REVERSE_TOR:
        if (st->config_err == TORIFY_OK && torify_tor_resolve_ptr(c, ip, name, name_len) != TORIFY_OK)
            name[0] = '\0';
        break;
    }
}
