/*
 * guard/socket.c — one socket() of the guarded program that is not a TCP
 * or local one (the filter lets those pass).
 *
 *   AF_INET/AF_INET6 SOCK_DGRAM, protocol 0 or IPPROTO_UDP
 *       with the sealed namespace (keeper.c): a UDP socket made there,
 *       installed in the program; whatever it is sent to, it reaches only
 *       torify's DNS responder (port 53) or nothing
 *       without it: EPERM, the first refusal of the run told at notice with
 *       the reason the namespace could not be made
 *   raw, ICMP (ping sockets), UDP-Lite, SEQPACKET, AF_PACKET
 *       EPERM, told at notice
 *
 * socket()'s arguments are plain integers, read from the notification
 * itself: there is no user memory a racing thread could change.  The fd is
 * installed with SECCOMP_ADDFD_FLAG_SEND, which also answers the call with
 * the new number: a thread interrupted meanwhile gets no stray fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/policy.h"
#include "guard/internal.h"
#include "guard/log.h"

static const char *family_name(int f)
{
    switch (f) {
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_PACKET: return "AF_PACKET";
    default: return "?";
    }
}

static const char *type_name(int t)
{
    switch (t & 0xf) {
    case SOCK_DGRAM: return "SOCK_DGRAM";
    case SOCK_RAW: return "SOCK_RAW";
    case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
    case SOCK_STREAM: return "SOCK_STREAM";
    default: return "?";
    }
}

static void refuse(struct guard_sup *s, const struct seccomp_notif *n, enum torify_log_level level,
                   const char *why)
{
    int domain = (int)n->data.args[0], type = (int)n->data.args[1], proto = (int)n->data.args[2];
    atomic_fetch_add(&s->n_refused, 1);
    guard_log(s, level, "refused socket(%s, %s, %d) (%s)", family_name(domain), type_name(type), proto, why);
    guard_reply(s, n->id, -1, EPERM);
}

void guard_handle_socket(struct guard_sup *s, const struct seccomp_notif *n)
{
    const int domain = (int)n->data.args[0];
    const int type = (int)n->data.args[1];
    const int proto = (int)n->data.args[2];
    const int base = type & 0xf;
    char why_text[TORIFY_LOG_LINE_MAX];

    if ((domain != AF_INET && domain != AF_INET6) || base != SOCK_DGRAM ||
        (proto != 0 && proto != IPPROTO_UDP)) {
        refuse(s, n, TORIFY_LOG_NOTICE,
               torify_policy_refusal_text(base == SOCK_DGRAM && domain != AF_PACKET && proto != IPPROTO_ICMP &&
                                                  proto != IPPROTO_ICMPV6
                                              ? TORIFY_E_REFUSE_UDP
                                              : TORIFY_E_REFUSE_RAW,
                                          why_text, sizeof why_text));
        return;
    }
    if (type & ~(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        guard_reply(s, n->id, -1, EINVAL); /* as the kernel says to unknown flags */
        return;
    }
    if (!guard_namespace_ready(s)) {
        char why[300];
        snprintf(why, sizeof why, "no private network namespace for datagram sockets here: %s", s->keeper.why);
        bool first = !atomic_exchange(&s->told_no_udp, true);
        refuse(s, n, first ? TORIFY_LOG_NOTICE : TORIFY_LOG_DEBUG, why);
        return;
    }
    int fd = guard_keeper_socket(&s->keeper, domain, SOCK_DGRAM | (type & SOCK_NONBLOCK), proto);
    if (fd < 0) {
        guard_log(s, TORIFY_LOG_NOTICE, "guard: no datagram socket from the namespace: %s", strerror(-fd));
        guard_reply(s, n->id, -1, -fd == EMFILE || -fd == ENFILE || -fd == ENOMEM ? -fd : EPERM);
        return;
    }
    int r = guard_addfd_send(s, n->id, fd, (type & SOCK_CLOEXEC) != 0);
    close(fd);
    if (r >= 0) {
        guard_log(s, TORIFY_LOG_DEBUG, "guard: pid %d got a datagram socket of the sealed namespace (fd %d)",
                  (int)n->pid, r);
        return;
    }
    /* ENOENT: the caller went away or was interrupted (it will retry);
     * EMFILE and the like: the caller's limit, as socket() would say. */
    if (r != -ENOENT)
        guard_reply(s, n->id, -1, r == -EMFILE ? EMFILE : EPERM);
}
