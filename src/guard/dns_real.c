/*
 * guard/dns_real.c — real answers for the responder (ResolveThroughTor).
 *
 * The keeper lives in the sealed namespace and cannot reach Tor, which is
 * the point of it.  With ResolveThroughTor it hands each query to the
 * supervisor (in the real namespace) and sends back what it answers: a
 * request is a fresh socketpair whose one end goes up over the keeper's
 * channel (SCM_RIGHTS); the query goes down that pair after one byte
 * naming its transport ('U' or 'T': the UDP size limit applies to the
 * first), and the reply comes back on it.  One pair per query keeps replies matched to queries without
 * ids, and a slow Tor answer for one name never delays another.  The
 * supervisor answers each in a thread of its own (bounded), with
 * dns/answer.c and the RESOLVE callbacks of dns/tor.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/policy.h"
#include "dns/answer.h"
#include "dns/msg.h"
#include "dns/tor.h"
#include "guard/internal.h"
#include "guard/log.h"

#define REAL_MAX_THREADS 64
/* Longer than one RESOLVE (core/policy.h's handshake bound): the keeper's
 * side gives up only after the supervisor would have. */
#define REAL_WAIT_MS (TORIFY_TOR_HANDSHAKE_MS + 5000)

static pthread_mutex_t up_mu = PTHREAD_MUTEX_INITIALIZER;

size_t guard_dns_real_ask(int up, char transport, const uint8_t *query, size_t len, uint8_t *reply, size_t cap)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return 0;
    pthread_mutex_lock(&up_mu);
    int r = guard_fd_send(up, "q", 1, &pair[1], 1);
    pthread_mutex_unlock(&up_mu);
    close(pair[1]);
    size_t out = 0;
    struct iovec iov[2] = {{&transport, 1}, {(void *)query, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    if (r == 0 && sendmsg(pair[0], &m, MSG_NOSIGNAL) == (ssize_t)(len + 1)) {
        struct pollfd p = {.fd = pair[0], .events = POLLIN};
        if (poll(&p, 1, REAL_WAIT_MS) == 1) {
            ssize_t n = recv(pair[0], reply, cap, 0);
            out = n > 0 ? (size_t)n : 0;
        }
    }
    close(pair[0]);
    return out;
}

struct real_job {
    struct guard_sup *s;
    int fd;
};

static atomic_int real_threads;

static void *answer_one(void *arg)
{
    struct real_job *j = arg;
    uint8_t *q = malloc(2 * TORIFY_DNS_TCP_MAX);
    if (q) {
        uint8_t *reply = q + TORIFY_DNS_TCP_MAX;
        ssize_t n = recv(j->fd, q, TORIFY_DNS_TCP_MAX, 0);
        if (n > 1) {
            enum torify_dns_transport t = q[0] == 'T' ? TORIFY_DNS_TCP : TORIFY_DNS_UDP;
            struct torify_dns_answerer a;
            memset(&a, 0, sizeof a);
            a.map = j->s->map;
            a.cfg = &j->s->cfg;
            a.resolve = torify_dns_tor_resolve;
            a.resolve_ptr = torify_dns_tor_resolve_ptr;
            a.ctx = (void *)&j->s->cfg;
            struct torify_dns_summary w;
            size_t k = torify_dns_answer(&a, t, q + 1, (size_t)n - 1, reply, TORIFY_DNS_TCP_MAX, &w);
            if (k > 0) {
                ssize_t sent = send(j->fd, reply, k, MSG_NOSIGNAL);
                (void)sent;
                char tb[24], rb[24];
                guard_log(j->s, TORIFY_LOG_INFO, "DNS query for %s (%s) answered through Tor: %s",
                          w.name, torify_dns_type_name(w.qtype, tb, sizeof tb),
                          w.answers > 0 ? w.first : torify_dns_rcode_name(w.rcode, rb, sizeof rb));
            }
        }
        free(q);
    }
    close(j->fd);
    free(j);
    atomic_fetch_sub(&real_threads, 1);
    return NULL;
}

struct real_loop {
    struct guard_sup *s;
    int up;
};

static void *real_loop_main(void *arg)
{
    struct real_loop *l = arg;
    for (;;) {
        char byte;
        int fd = -1, got = 0;
        ssize_t n = guard_fd_recv(l->up, &byte, 1, &fd, 1, &got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the keeper is gone */
        if (fd < 0)
            continue;
        struct real_job *j = malloc(sizeof *j);
        bool ok = j && atomic_fetch_add(&real_threads, 1) < REAL_MAX_THREADS;
        if (ok) {
            j->s = l->s;
            j->fd = fd;
            ok = guard_thread_detached(answer_one, j) == 0;
        }
        if (!ok && j)
            atomic_fetch_sub(&real_threads, 1);
        if (!ok) {
            free(j);
            close(fd); /* the keeper sees no reply: the resolver retries */
        }
    }
    close(l->up);
    free(l);
    return NULL;
}

int guard_dns_real_start(struct guard_sup *s, int up)
{
    struct real_loop *l = malloc(sizeof *l);
    if (!l)
        return -ENOMEM;
    l->s = s;
    l->up = up;
    int e = guard_thread_detached(real_loop_main, l);
    if (e != 0)
        free(l);
    return e;
}
