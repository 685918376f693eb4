/* shim/tor.c — see tor.h. */
#include "shim/tor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fakemap.h"
#include "core/procstat.h"
#include "core/clock.h"
#include "dns/tor.h"
#include "shim/state.h"
#include "shim/real.h"

int torify_tor_connect_wait(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    if (torify_real_connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR && errno != EALREADY)
        return -1;
    /* In flight (non-blocking fd, or a signal cut a blocking connect short):
     * the kernel goes on connecting; wait for the outcome. */
    long long deadline = torify_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - torify_now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            return -1;
        if (soerr != 0) {
            errno = soerr;
            return -1;
        }
        return 0;
    }
}

int torify_tor_open(const struct torify_config *c)
{
    if (!c->tor_addr_len) {
        errno = ECONNREFUSED;
        return -1;
    }
    int fd = torify_real_socket(c->tor_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (torify_tor_connect_wait(fd, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len, TORIFY_TOR_CONNECT_MS) != 0) {
        int e = errno;
        torify_real_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

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

torify_err torify_tor_resolve_ptr(const struct torify_config *c, const struct torify_ip *ip,
                                  char *name, size_t name_len)
{
    if (c->proto != TORIFY_SOCKS5)
        return TORIFY_E_INVAL_TARGET; /* RESOLVE_PTR is a SOCKS5 extension */
    struct torify_target t;
    torify_err e = ip->family == AF_INET ? torify_target_ipv4(&t, ip->addr, 0) : torify_target_ipv6(&t, ip->addr, 0);
    if (e)
        return e;
    int fd = torify_tor_open(c);
    if (fd < 0)
        return TORIFY_E_PROXY_UNREACHABLE;
    struct torify_socks_opts o;
    char user[256], pass[256];
    torify_tor_opts(c, &o, TORIFY_TOR_PTR_MS, user, pass);
    struct torify_target result;
    e = torify_socks_handshake_fd(fd, TORIFY_SOCKS_RESOLVE_PTR, &t, &o, &result);
    int saved = errno;
    torify_real_close(fd);
    errno = saved;
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
    struct torify_target t;
    torify_err e = torify_target_host(&t, name, strlen(name), 0);
    if (e)
        return e;
    int fd = torify_tor_open(c);
    if (fd < 0)
        return TORIFY_E_PROXY_UNREACHABLE;
    struct torify_socks_opts o;
    char user[256], pass[256];
    torify_tor_opts(c, &o, TORIFY_TOR_HANDSHAKE_MS, user, pass);
    struct torify_target result;
    e = torify_socks_handshake_fd(fd, TORIFY_SOCKS_RESOLVE, &t, &o, &result);
    int saved = errno;
    torify_real_close(fd);
    errno = saved;
    return e ? e : torify_dns_tor_pick(&result, family, addr);
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
