/*
 * guard/dns_serve.c — the keeper's DNS responder and its watch on refused
 * datagrams, inside the sealed namespace (guard/netns.c).
 *
 * Every address of the namespace is local, so one socket per transport and
 * family bound to the wildcard port 53 receives queries sent to any
 * address.  Replies leave from the very address the query was sent to
 * (IP_PKTINFO / IPV6_PKTINFO on receive, handed back on send): resolvers
 * such as dig drop replies from any other source.  TCP queries (RFC 1035
 * 4.2.2: a two-byte length before each message) are served by a thread
 * per connection, bounded.  Answers are dns/answer.c's, from the tree's
 * fake map, so a name looked up here and by the shim in another process of
 * the tree gets the same fake address, and the connect that follows goes to
 * Tor by name.
 *
 * Datagrams to any other port reach no socket; the kernel answers them
 * with ICMP "port unreachable" (connected senders see ECONNREFUSED).  Two
 * raw ICMP sockets read those errors, which quote the refused datagram's
 * headers, and log one line per refused datagram (folded when repeated):
 * that is where a datagram would have left, so that is where it is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dns/answer.h"
#include "dns/msg.h"
#include "guard/internal.h"
#include "guard/log.h"

#define DNS_PORT 53
#define DNS_TCP_MAX_CONNS 64
#define DNS_TCP_IDLE_S 10
#define DNS_REAL_MAX_THREADS 64
#define TORIFY_DNS_MSG_MAX TORIFY_DNS_TCP_MAX

static int bound_socket(int family, int type)
{
    int s = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Replies from addresses that are local by route only (not assigned to
     * the interface) need freebind for IPv6. */
    setsockopt(s, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    int r;
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(DNS_PORT)};
        if (type == SOCK_DGRAM)
            setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        r = bind(s, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(DNS_PORT)};
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (type == SOCK_DGRAM)
            setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        r = bind(s, (struct sockaddr *)&a, sizeof a);
    }
    if (r == 0 && type == SOCK_STREAM)
        r = listen(s, 128);
    if (r != 0) {
        r = -errno;
        close(s);
        return r;
    }
    return s;
}

int guard_dns_server_open(struct guard_dns_server *srv, bool ipv6)
{
    memset(srv, 0, sizeof *srv);
    for (size_t i = 0; i < GUARD_DNS_NSOCK; i++)
        srv->fd[i] = -1;
    int fams[2] = {AF_INET, AF_INET6};
    for (int f = 0; f < (ipv6 ? 2 : 1); f++) {
        int u = bound_socket(fams[f], SOCK_DGRAM);
        if (u < 0)
            return u;
        srv->fd[f * 2] = u;
        int t = bound_socket(fams[f], SOCK_STREAM);
        if (t < 0)
            return t;
        srv->fd[f * 2 + 1] = t;
    }
    /* The watch is best effort: without it refused datagrams are still
     * refused, only not reported. */
    srv->fd[GUARD_DNS_ICMP4] = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
    if (ipv6) {
        int s = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
        if (s >= 0) {
            struct icmp6_filter flt;
            ICMP6_FILTER_SETBLOCKALL(&flt);
            ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &flt);
            setsockopt(s, IPPROTO_ICMPV6, ICMP6_FILTER, &flt, sizeof flt);
        }
        srv->fd[GUARD_DNS_ICMP6] = s;
    }
    return 0;
}

struct answer_ctx {
    const struct guard_sup *s;
    struct torify_dns_answerer a;
    int up; /* >= 0: real answers from the supervisor (dns_real.c) */
};

static void describe_addr(int family, const void *addr, uint16_t port, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, addr, a, sizeof a);
    snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, (unsigned)port);
}

/* In the keeper's process only (one per launcher run). */
static atomic_bool told_first_answer;

static void log_answer(const struct guard_sup *s, const struct torify_dns_summary *w, const char *via,
                       const char *server)
{
    char tb[24], rb[24];
    const char *type = torify_dns_type_name(w->qtype, tb, sizeof tb);
    const char *rc = torify_dns_rcode_name(w->rcode, rb, sizeof rb);
    if (w->answers > 0 && !atomic_exchange(&told_first_answer, true))
        /* The first answer of a run is told at notice, with what it means:
         * a user who ran `torify dig` sees why the address is not the real
         * one.  The others at info (-d). */
        guard_log(s, TORIFY_LOG_NOTICE,
                  "DNS %s query for %s (%s) to %s answered by torify: %s (a fake address: a connect to it goes "
                  "to Tor by name and Tor's exit resolves it; ResolveThroughTor 1 for real answers)",
                  via, w->name, type, server, w->first);
    else if (w->answers > 0)
        guard_log(s, TORIFY_LOG_INFO, "DNS %s query for %s (%s) to %s answered by torify: %s", via, w->name,
                  type, server, w->first);
    else
        guard_log(s, w->rcode == 0 ? TORIFY_LOG_DEBUG : TORIFY_LOG_INFO,
                  "DNS %s query for %s (%s) to %s answered by torify: %s, no records", via, w->name, type,
                  server, rc);
}

/* One datagram: the query, where it was sent (dst), who sent it (src). */
struct udp_job {
    const struct answer_ctx *ctx;
    int fd, family;
    struct sockaddr_storage src;
    socklen_t src_len;
    union {
        struct in_pktinfo v4;
        struct in6_pktinfo v6;
    } dst;
    size_t len;
    uint8_t q[TORIFY_DNS_MSG_MAX];
};

static void udp_answer(struct udp_job *j)
{
    uint8_t reply[TORIFY_DNS_MSG_MAX];
    struct torify_dns_summary w;
    size_t n = j->ctx->up >= 0 ? guard_dns_real_ask(j->ctx->up, 'U', j->q, j->len, reply, sizeof reply)
                               : torify_dns_answer(&j->ctx->a, TORIFY_DNS_UDP, j->q, j->len, reply, sizeof reply, &w);
    if (n == 0)
        return;
    struct iovec iov = {reply, n};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_name = &j->src, .msg_namelen = j->src_len, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.buf};
    /* The reply leaves from the address the query was sent to. */
    struct in_pktinfo pi4 = {.ipi_spec_dst = j->dst.v4.ipi_addr};
    struct in6_pktinfo pi6 = {.ipi6_addr = j->dst.v6.ipi6_addr};
    bool v4 = j->family == AF_INET;
    const void *pi = v4 ? (const void *)&pi4 : (const void *)&pi6;
    size_t pil = v4 ? sizeof pi4 : sizeof pi6;
    struct cmsghdr *c = (struct cmsghdr *)u.buf;
    c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = v4 ? IP_PKTINFO : IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(pil);
    memcpy(CMSG_DATA(c), pi, pil);
    m.msg_controllen = CMSG_SPACE(pil);
    char server[INET6_ADDRSTRLEN + 8];
    describe_addr(j->family, v4 ? (const void *)&j->dst.v4.ipi_addr : (const void *)&j->dst.v6.ipi6_addr,
                  DNS_PORT, server, sizeof server);
    ssize_t w_ = sendmsg(j->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w_;
    if (j->ctx->up < 0)
        log_answer(j->ctx->s, &w, "UDP", server); /* real answers: the supervisor tells */
}

static atomic_int real_threads;

static void *udp_thread(void *arg)
{
    struct udp_job *j = arg;
    udp_answer(j);
    free(j);
    atomic_fetch_sub(&real_threads, 1);
    return NULL;
}

/* Read every waiting datagram of one UDP socket and answer it. */
static void udp_drain(const struct answer_ctx *ctx, int fd, int family, struct udp_job *j)
{
    for (int k = 0; k < 64; k++) {
        struct iovec iov = {j->q, sizeof j->q};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
        } u;
        struct msghdr m = {.msg_name = &j->src, .msg_namelen = sizeof j->src, .msg_iov = &iov, .msg_iovlen = 1,
                           .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
        if (n < 0)
            return;
        bool have_dst = false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (family == AF_INET && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                memcpy(&j->dst.v4, CMSG_DATA(c), sizeof j->dst.v4);
                have_dst = true;
            } else if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                memcpy(&j->dst.v6, CMSG_DATA(c), sizeof j->dst.v6);
                have_dst = true;
            }
        }
        if (!have_dst || (m.msg_flags & MSG_TRUNC))
            continue; /* no way to answer from the right address / not a DNS message */
        j->ctx = ctx;
        j->fd = fd;
        j->family = family;
        j->src_len = m.msg_namelen;
        j->len = (size_t)n;
        if (ctx->up < 0) {
            udp_answer(j); /* fake answers take microseconds: inline */
            continue;
        }
        /* Real answers wait for Tor: one thread per query, bounded; a query
         * over the bound is dropped and the resolver retries. */
        if (atomic_fetch_add(&real_threads, 1) >= DNS_REAL_MAX_THREADS) {
            atomic_fetch_sub(&real_threads, 1);
            continue;
        }
        struct udp_job *copy = malloc(sizeof *copy);
        bool ok = copy != NULL;
        if (ok) {
            memcpy(copy, j, sizeof *copy);
            ok = guard_thread_detached(udp_thread, copy) == 0;
        }
        if (!ok) {
            free(copy);
            atomic_fetch_sub(&real_threads, 1);
        }
    }
}

static atomic_int tcp_conns;

struct tcp_job {
    const struct answer_ctx *ctx;
    int fd;
    uint8_t q[TORIFY_DNS_MSG_MAX], out[2 + TORIFY_DNS_MSG_MAX];
};

static bool read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

static void *tcp_thread(void *arg)
{
    struct tcp_job *j = arg;
    uint8_t *q = j->q, *out = j->out;
    struct timeval tv = {.tv_sec = DNS_TCP_IDLE_S};
    setsockopt(j->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(j->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    char server[INET6_ADDRSTRLEN + 8] = "?";
    if (getsockname(j->fd, (struct sockaddr *)&local, &ll) == 0) {
        if (local.ss_family == AF_INET)
            describe_addr(AF_INET, &((struct sockaddr_in *)&local)->sin_addr, DNS_PORT, server, sizeof server);
        else
            describe_addr(AF_INET6, &((struct sockaddr_in6 *)&local)->sin6_addr, DNS_PORT, server, sizeof server);
    }
    for (;;) {
        uint8_t lb[2];
        if (!read_full(j->fd, lb, 2))
            break;
        size_t len = ((size_t)lb[0] << 8) | lb[1];
        if (!read_full(j->fd, q, len))
            break;
        struct torify_dns_summary w;
        size_t n = j->ctx->up >= 0
                       ? guard_dns_real_ask(j->ctx->up, 'T', q, len, out + 2, sizeof j->out - 2)
                       : torify_dns_answer(&j->ctx->a, TORIFY_DNS_TCP, q, len, out + 2, sizeof j->out - 2, &w);
        if (n == 0)
            break;
        out[0] = (uint8_t)(n >> 8);
        out[1] = (uint8_t)n;
        size_t sent = 0;
        while (sent < n + 2) {
            ssize_t k = send(j->fd, out + sent, n + 2 - sent, MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            sent += (size_t)k;
        }
        if (j->ctx->up < 0)
            log_answer(j->ctx->s, &w, "TCP", server);
        if (sent < n + 2)
            break;
    }
    close(j->fd);
    free(j);
    atomic_fetch_sub(&tcp_conns, 1);
    return NULL;
}

static void tcp_accept(const struct answer_ctx *ctx, int lfd)
{
    for (int k = 0; k < 16; k++) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return;
        if (atomic_fetch_add(&tcp_conns, 1) >= DNS_TCP_MAX_CONNS) {
            atomic_fetch_sub(&tcp_conns, 1);
            close(c);
            continue;
        }
        struct tcp_job *j = malloc(sizeof *j);
        bool ok = j != NULL;
        if (ok) {
            j->ctx = ctx;
            j->fd = c;
            ok = guard_thread_detached(tcp_thread, j) == 0;
        }
        if (!ok) {
            free(j);
            close(c);
            atomic_fetch_sub(&tcp_conns, 1);
        }
    }
}

/* The refused datagram quoted by an ICMP error: its destination.  Replies
 * of the responder itself (source port 53) to a sender that went away are
 * not a program's datagrams: skipped. */
static void icmp_watch(const struct guard_sup *s, int fd, int family)
{
    uint8_t buf[1024];
    for (int k = 0; k < 64; k++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0)
            return;
        const uint8_t *p = buf;
        size_t len = (size_t)n;
        int ifam;
        uint8_t dst[16];
        uint16_t sport, dport;
        if (family == AF_INET) {
            if (len < sizeof(struct ip))
                continue;
            size_t hl = (size_t)(p[0] & 0x0f) * 4;
            if (hl < 20 || len < hl + 8)
                continue;
            const uint8_t *ic = p + hl;
            if (ic[0] != ICMP_DEST_UNREACH || ic[1] != ICMP_PORT_UNREACH)
                continue;
            const uint8_t *in = ic + 8;
            size_t rest = len - hl - 8;
            if (rest < 20)
                continue;
            size_t ihl = (size_t)(in[0] & 0x0f) * 4;
            if (ihl < 20 || rest < ihl + 4 || in[9] != IPPROTO_UDP)
                continue;
            memcpy(dst, in + 16, 4);
            sport = (uint16_t)(in[ihl] << 8 | in[ihl + 1]);
            dport = (uint16_t)(in[ihl + 2] << 8 | in[ihl + 3]);
            ifam = AF_INET;
        } else {
            /* Raw ICMPv6 sockets get the message without the IPv6 header. */
            if (len < 8 + 40 + 4 || p[0] != ICMP6_DST_UNREACH || p[1] != ICMP6_DST_UNREACH_NOPORT)
                continue;
            const uint8_t *in = p + 8;
            if (in[6] != IPPROTO_UDP)
                continue; /* extension headers: not worth chasing for a log line */
            memcpy(dst, in + 24, 16);
            sport = (uint16_t)(in[40] << 8 | in[41]);
            dport = (uint16_t)(in[42] << 8 | in[43]);
            ifam = AF_INET6;
        }
        if (sport == DNS_PORT)
            continue;
        char where[INET6_ADDRSTRLEN + 8];
        describe_addr(ifam, dst, dport, where, sizeof where);
        guard_log(s, TORIFY_LOG_NOTICE,
                  "refused UDP datagram to %s (Tor carries TCP only; torify answers DNS queries on port 53, "
                  "nothing else reaches the network)",
                  where);
    }
}

void guard_dns_server_run(struct guard_dns_server *srv, const struct guard_sup *s, int ctl, int up)
{
    static struct answer_ctx ctx;
    ctx.s = s;
    ctx.up = up;
    memset(&ctx.a, 0, sizeof ctx.a);
    ctx.a.map = s->map;
    ctx.a.cfg = &s->cfg;
    ctx.a.hostname = NULL;
    static struct udp_job job;
    struct pollfd p[GUARD_DNS_NSOCK + 1];
    for (;;) {
        nfds_t n = 0;
        int which[GUARD_DNS_NSOCK + 1];
        p[n].fd = ctl;
        p[n].events = POLLIN;
        which[n++] = -1;
        for (int i = 0; i < GUARD_DNS_NSOCK; i++) {
            if (srv->fd[i] < 0)
                continue;
            p[n].fd = srv->fd[i];
            p[n].events = POLLIN;
            which[n++] = i;
        }
        int r = poll(p, n, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (nfds_t i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            switch (which[i]) {
            case -1:
                if (p[i].revents & (POLLHUP | POLLERR)) {
                    /* The launcher is done: report what the last datagrams
                     * were refused before going. */
                    if (srv->fd[GUARD_DNS_ICMP4] >= 0)
                        icmp_watch(s, srv->fd[GUARD_DNS_ICMP4], AF_INET);
                    if (srv->fd[GUARD_DNS_ICMP6] >= 0)
                        icmp_watch(s, srv->fd[GUARD_DNS_ICMP6], AF_INET6);
                    return;
                }
                guard_keeper_serve_request(ctl);
                break;
            case GUARD_DNS_UDP4:
                udp_drain(&ctx, srv->fd[GUARD_DNS_UDP4], AF_INET, &job);
                break;
            case GUARD_DNS_UDP6:
                udp_drain(&ctx, srv->fd[GUARD_DNS_UDP6], AF_INET6, &job);
                break;
            case GUARD_DNS_TCP4:
            case GUARD_DNS_TCP6:
                tcp_accept(&ctx, srv->fd[which[i]]);
                break;
            case GUARD_DNS_ICMP4:
                icmp_watch(s, srv->fd[GUARD_DNS_ICMP4], AF_INET);
                break;
            case GUARD_DNS_ICMP6:
                icmp_watch(s, srv->fd[GUARD_DNS_ICMP6], AF_INET6);
                break;
            default:
                break;
            }
        }
    }
}
