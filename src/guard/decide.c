/*
 * guard/decide.c — the supervisor's policy for one connect(), a pure
 * function of the configuration and the sockaddr copy.
 *
 *   AF_UNIX, AF_NETLINK, AF_UNSPEC     direct (local, or a disconnect)
 *   Tor's own address                  direct (the shim talks to Tor itself)
 *   ExemptNetwork, allowed loopback    direct
 *   fake address (the shim's range)    refused ECONNREFUSED: the name lives in
 *                                      the program's memory, the supervisor
 *                                      cannot map it back (docs/GUARD.md)
 *   any other IPv4/IPv6                torified: SOCKS CONNECT to the IP
 *   any other family                   refused EAFNOSUPPORT
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include "guard/internal.h"

struct ip {
    int family;
    uint8_t addr[16];
    uint16_t port; /* host order */
};

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* IPv4-mapped IPv6 is folded to IPv4: it reaches the same host. */
static int ip_from(const struct sockaddr_storage *sa, socklen_t len, struct ip *out)
{
    memset(out, 0, sizeof *out);
    if (sa->ss_family == AF_INET) {
        if (len < (socklen_t)sizeof(struct sockaddr_in))
            return -1;
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->addr, &in->sin_addr, 4);
        out->port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->ss_family == AF_INET6) {
        /* The kernel accepts the 24-byte RFC 2133 sockaddr_in6 (no scope id). */
        if (len < 24)
            return -1;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->port = ntohs(in6->sin6_port);
        if (memcmp(in6->sin6_addr.s6_addr, v4mapped_prefix, 12) == 0) {
            out->family = AF_INET;
            memcpy(out->addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->addr, in6->sin6_addr.s6_addr, 16);
        }
        return 0;
    }
    return -1;
}

static bool in_cidr(const struct torify_cidr *net, const struct ip *ip)
{
    if (net->family != ip->family)
        return false;
    unsigned bits = net->prefix, max = ip->family == AF_INET ? 32u : 128u;
    if (bits > max)
        return false;
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(net->addr, ip->addr, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net->addr[whole] & mask) == (ip->addr[whole] & mask);
}

static bool is_loopback(const struct ip *ip)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (ip->family == AF_INET)
        return ip->addr[0] == 127;
    return memcmp(ip->addr, v6lo, 16) == 0;
}

static bool is_tor(const struct torify_config *cfg, const struct ip *ip)
{
    struct ip tor;
    if (cfg->tor_addr_len == 0 || ip_from(&cfg->tor_addr, cfg->tor_addr_len, &tor) != 0)
        return false;
    return tor.family == ip->family && tor.port == ip->port &&
           memcmp(tor.addr, ip->addr, ip->family == AF_INET ? 4 : 16) == 0;
}

static enum guard_action refuse(int e, torify_err why, int *err_no, torify_err *why_out)
{
    *err_no = e;
    *why_out = why;
    return GUARD_REFUSE;
}

enum guard_action guard_decide(const struct torify_config *cfg, const struct sockaddr_storage *sa,
                               socklen_t len, struct torify_target *target, int *err_no,
                               torify_err *why)
{
    *err_no = 0;
    *why = TORIFY_OK;
    if (len < (socklen_t)sizeof(sa_family_t) || len > (socklen_t)sizeof(*sa))
        return refuse(EINVAL, TORIFY_E_INVAL_ARGUMENT, err_no, why);

    switch (sa->ss_family) {
    case AF_UNIX:
    case AF_NETLINK:
    case AF_UNSPEC:
        return GUARD_DIRECT;
    case AF_INET:
    case AF_INET6:
        break;
    default:
        return refuse(EAFNOSUPPORT, TORIFY_E_REFUSE_FAMILY, err_no, why);
    }

    struct ip ip;
    if (ip_from(sa, len, &ip) != 0)
        return refuse(EINVAL, TORIFY_E_INVAL_ARGUMENT, err_no, why);
    if (is_tor(cfg, &ip))
        return GUARD_DIRECT;
    for (size_t i = 0; i < cfg->n_exempt && i < TORIFY_EXEMPT_MAX; i++)
        if (in_cidr(&cfg->exempt[i], &ip))
            return GUARD_DIRECT;
    if (in_cidr(&cfg->fake4, &ip) || in_cidr(&cfg->fake6, &ip))
        return refuse(ECONNREFUSED, TORIFY_E_REFUSE_UNKNOWN_FAKE, err_no, why);
    if (cfg->allow_localhost && is_loopback(&ip))
        return GUARD_DIRECT;
    if (ip.port == 0)
        return refuse(ECONNREFUSED, TORIFY_E_INVAL_PORT, err_no, why);

    torify_err e = ip.family == AF_INET ? torify_target_ipv4(target, ip.addr, ip.port)
                                        : torify_target_ipv6(target, ip.addr, ip.port);
    if (e != TORIFY_OK)
        return refuse(EINVAL, e, err_no, why);
    return GUARD_TORIFY;
}
