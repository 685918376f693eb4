/* core/policy.c — see policy.h. */
#include "core/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

torify_err torify_policy_socket(int domain, int type, int protocol)
{
    int base = type & 0xf; /* SOCK_NONBLOCK / SOCK_CLOEXEC live above the type */
    switch (domain) {
    case AF_UNIX:
    case AF_NETLINK:
        return TORIFY_OK; /* local only: nothing can leave the host */
    case AF_INET:
    case AF_INET6:
        if (base == SOCK_STREAM) {
            if (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP)
                return TORIFY_OK;
            return TORIFY_E_REFUSE_FAMILY; /* SCTP and friends: Tor carries TCP only */
        }
        if (base == SOCK_RAW)
            return TORIFY_E_REFUSE_RAW;
        if (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6)
            return TORIFY_E_REFUSE_RAW; /* unprivileged ping sockets */
        if (base == SOCK_DGRAM)
            return TORIFY_E_REFUSE_UDP;
        return TORIFY_E_REFUSE_FAMILY;
    case AF_PACKET:
        return TORIFY_E_REFUSE_RAW;
    default:
        return TORIFY_E_REFUSE_FAMILY;
    }
}

int torify_ip_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct torify_ip *out)
{
    memset(out, 0, sizeof *out);
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->addr, &in->sin_addr, 4);
        out->port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            /* ::ffff:a.b.c.d reaches a.b.c.d: judge it as IPv4. */
            out->family = AF_INET;
            memcpy(out->addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->addr, &in6->sin6_addr, 16);
        }
        return 0;
    }
    return -1;
}

bool torify_ip_is_loopback(const struct torify_ip *ip)
{
    if (ip->family == AF_INET)
        return ip->addr[0] == 127;
    static const uint8_t one[16] = { [15] = 1 };
    return ip->family == AF_INET6 && memcmp(ip->addr, one, 16) == 0;
}

bool torify_ip_is_unspecified(const struct torify_ip *ip)
{
    if (ip->family == AF_INET)
        return ip->addr[0] == 0; /* 0.0.0.0/8: Linux connects it to the host itself */
    static const uint8_t zero[16];
    return ip->family == AF_INET6 && memcmp(ip->addr, zero, 16) == 0;
}

static bool same_endpoint(const struct torify_ip *a, const struct torify_ip *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, n) == 0;
}

enum torify_connect_action torify_policy_connect(const struct torify_config *c, int sock_type,
                                                 const struct sockaddr *sa, socklen_t len,
                                                 torify_err *err)
{
    *err = TORIFY_OK;
    if (!sa || len < (socklen_t)sizeof(sa_family_t))
        return TORIFY_CONNECT_DIRECT; /* let the kernel report EFAULT/EINVAL */
    switch (sa->sa_family) {
    case AF_UNIX:
    case AF_UNSPEC: /* dissolves an association; sends nothing */
    case AF_NETLINK:
        return TORIFY_CONNECT_DIRECT;
    case AF_INET:
    case AF_INET6:
        break;
    default:
        *err = TORIFY_E_REFUSE_FAMILY;
        return TORIFY_CONNECT_REFUSE;
    }
    struct torify_ip ip;
    if (torify_ip_from_sockaddr(sa, len, &ip) != 0)
        return TORIFY_CONNECT_DIRECT; /* too short: the kernel says EINVAL, nothing is sent */
    if ((sock_type & 0xf) != SOCK_STREAM) {
        /* A connected datagram socket would send() past us. */
        *err = (sock_type & 0xf) == SOCK_DGRAM ? TORIFY_E_REFUSE_UDP : TORIFY_E_REFUSE_RAW;
        return TORIFY_CONNECT_REFUSE;
    }
    struct torify_ip tor;
    if (c->tor_addr_len && torify_ip_from_sockaddr((const struct sockaddr *)&c->tor_addr, c->tor_addr_len, &tor) == 0 &&
        same_endpoint(&ip, &tor))
        return TORIFY_CONNECT_DIRECT;
    if (torify_cidr_contains(ip.family == AF_INET ? &c->fake4 : &c->fake6, ip.family, ip.addr))
        return TORIFY_CONNECT_FAKE;
    for (size_t i = 0; i < c->n_exempt; i++)
        if (torify_cidr_contains(&c->exempt[i], ip.family, ip.addr))
            return TORIFY_CONNECT_DIRECT;
    if (torify_ip_is_loopback(&ip) || torify_ip_is_unspecified(&ip)) {
        if (c->allow_localhost)
            return TORIFY_CONNECT_DIRECT;
        *err = TORIFY_E_REFUSE_LOCALHOST;
        return TORIFY_CONNECT_REFUSE;
    }
    if (ip.family == AF_INET6 && c->proto != TORIFY_SOCKS5) {
        *err = TORIFY_E_INVAL_TARGET; /* SOCKS4a has no IPv6 form */
        return TORIFY_CONNECT_REFUSE;
    }
    return TORIFY_CONNECT_TOR_IP;
}

torify_err torify_policy_listen(const struct torify_config *c, const struct sockaddr *sa, socklen_t len)
{
    if (c->allow_inbound)
        return TORIFY_OK;
    struct torify_ip ip;
    if (torify_ip_from_sockaddr(sa, len, &ip) != 0)
        return TORIFY_OK; /* AF_UNIX and other local families */
    if (torify_ip_is_loopback(&ip))
        return TORIFY_OK; /* services listen on localhost only */
    return TORIFY_E_REFUSE_INBOUND; /* any other address, including the wildcard */
}

torify_err torify_policy_send(int sock_type, int flags, const struct sockaddr *dest, socklen_t len)
{
    if (!dest || len < (socklen_t)sizeof(sa_family_t))
        return TORIFY_OK;
    if (dest->sa_family != AF_INET && dest->sa_family != AF_INET6)
        return TORIFY_OK;
    int base = sock_type & 0xf;
    if (base == SOCK_STREAM)
        return (flags & MSG_FASTOPEN) ? TORIFY_E_REFUSE_TFO : TORIFY_OK;
    if (base == SOCK_DGRAM)
        return TORIFY_E_REFUSE_UDP;
    return TORIFY_E_REFUSE_RAW;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

enum torify_name_kind torify_policy_name_kind(const char *name)
{
    if (!name)
        return TORIFY_NAME_INVALID;
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return TORIFY_NAME_INVALID;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return TORIFY_NAME_INVALID;
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET6, name, &a6) == 1 || inet_aton(name, &a4) != 0)
        return TORIFY_NAME_NUMERIC;
    size_t m = n;
    if (m > 1 && name[m - 1] == '.')
        m--; /* "localhost." and "x.onion." */
    static const char *const local[] = {
        "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
    };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (m == strlen(local[i]) && strncasecmp(name, local[i], m) == 0)
            return TORIFY_NAME_LOCALHOST;
    if (ends_with(name, m, ".localhost"))
        return TORIFY_NAME_LOCALHOST; /* RFC 6761: always loopback */
    if (ends_with(name, m, ".onion"))
        return TORIFY_NAME_ONION;
    return TORIFY_NAME_HOST;
}

enum torify_name_kind torify_policy_name_kind_on(const char *name, const char *hostname)
{
    enum torify_name_kind k = torify_policy_name_kind(name);
    if (k != TORIFY_NAME_HOST || !hostname || !hostname[0])
        return k;
    size_t m = strlen(name), h = strlen(hostname);
    if (m > 1 && name[m - 1] == '.')
        m--;
    if (h > 1 && hostname[h - 1] == '.')
        h--;
    return m == h && strncasecmp(name, hostname, m) == 0 ? TORIFY_NAME_LOCALHOST : k;
}

enum torify_reverse_kind torify_policy_reverse_kind(const struct torify_ip *ip, bool fake)
{
    if (fake)
        return TORIFY_REVERSE_FAKE;
    if (torify_ip_is_loopback(ip))
        return TORIFY_REVERSE_LOCALHOST;
    return TORIFY_REVERSE_TOR;
}

void torify_policy_socks_opts(const struct torify_config *c, long pid, unsigned long long start_time,
                              int timeout_ms, char *user, char *pass, struct torify_socks_opts *o)
{
    memset(o, 0, sizeof *o);
    o->proto = c->proto ? c->proto : TORIFY_SOCKS5;
    o->timeout_ms = timeout_ms;
    o->connect_timeout_ms = TORIFY_TOR_CONNECT_MS < timeout_ms ? TORIFY_TOR_CONNECT_MS : timeout_ms;
    if (torify_policy_credentials(c, pid, start_time, user, TORIFY_POLICY_CRED_MAX, pass, TORIFY_POLICY_CRED_MAX)) {
        o->user = user;
        /* SOCKS4a has only a user id field. */
        o->pass = o->proto == TORIFY_SOCKS5 ? pass : NULL;
    }
}

bool torify_policy_credentials(const struct torify_config *c, long pid, unsigned long long start_time,
                               char *user, size_t user_len, char *pass, size_t pass_len)
{
    if (c->has_user || c->has_pass) {
        /* SOCKS5 (RFC 1929) needs both; a lone one gets a fixed partner. */
        snprintf(user, user_len, "%s", c->has_user ? c->user : "torify");
        snprintf(pass, pass_len, "%s", c->has_pass ? c->pass : "torify");
        return true;
    }
    if (c->isolate_pid) {
        /* pid alone repeats after wrap-around; with the start time two
         * processes never share credentials, so never share circuits. */
        snprintf(user, user_len, "torify-%ld-%llu", pid, start_time);
        snprintf(pass, pass_len, "isolate");
        return true;
    }
    return false;
}

static const struct torify_policy_allow allow_table[] = {
    { TORIFY_E_REFUSE_LOCALHOST, "AllowOutboundLocalhost", "TORIFY_ALLOW_LOCALHOST" },
    { TORIFY_E_REFUSE_INBOUND, "AllowInbound", "TORIFY_ALLOW_INBOUND" },
};

const struct torify_policy_allow *torify_policy_allow_for(torify_err why)
{
    for (size_t i = 0; i < sizeof allow_table / sizeof allow_table[0]; i++)
        if (allow_table[i].why == why)
            return &allow_table[i];
    return NULL;
}

const char *torify_policy_refusal_text(torify_err why, char *buf, size_t len)
{
    if (!buf || len == 0)
        return "";
    /* The messages of refusals start with "refused: "; the line says it once. */
    const char *text = torify_strerror(why);
    if (strncmp(text, "refused: ", 9) == 0)
        text += 9;
    const struct torify_policy_allow *a = torify_policy_allow_for(why);
    int n = a ? snprintf(buf, len, "%s; allowed by %s 1 in torify.conf or %s=1", text, a->key, a->var)
              : snprintf(buf, len, "%s", text);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}

enum torify_log_level torify_policy_refusal_level(torify_err why, bool probe)
{
    if (probe && (why == TORIFY_E_REFUSE_UDP || why == TORIFY_E_REFUSE_DNS))
        return TORIFY_LOG_DEBUG;
    return TORIFY_LOG_NOTICE;
}

bool torify_policy_dns_type_carried(int type)
{
    return type == 1 /* A */ || type == 28 /* AAAA */ || type == 12 /* PTR */;
}
