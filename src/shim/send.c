/* shim/send.c — sendto/sendmsg/sendmmsg: no datagrams; TCP Fast Open
 * becomes a connect through Tor.
 *
 * A destination address on an IP socket means a UDP/raw datagram (which Tor
 * cannot carry) or a TCP Fast Open connect (which would open a direct
 * connection with data in the SYN).  Without a destination these are plain
 * sends on a connected socket and pass untouched.
 *
 * TCP Fast Open (sendto/sendmsg on a stream socket with MSG_FASTOPEN and an
 * address: curl --tcp-fastopen on kernels without TCP_FASTOPEN_CONNECT,
 * some daemons) is what a connect plus a send would be, one round trip
 * sooner.  So it is done as exactly that: connect() (shim/connect.c: the
 * same policy, through Tor by name, or refused) and then the send without
 * the flag or the address.  A non-blocking socket gets connect's
 * EINPROGRESS and nothing is sent, as the kernel does when it has no Fast
 * Open cookie: the program sends again once the socket is writable.
 * sendmmsg with MSG_FASTOPEN stays refused, and so does any Fast Open the
 * shim does not see (the kernel guard refuses the flag, guard/filter.c).
 */
#include <errno.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/opt.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

static bool ip_dest(const void *dest, socklen_t len)
{
    const struct sockaddr *sa = dest;
    return sa && len >= (socklen_t)sizeof(sa_family_t) && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

/* Is this a Fast Open connect the shim carries (see above)? */
static bool tfo_connect(int fd, int flags, const void *dest, socklen_t len)
{
    if (!(flags & MSG_FASTOPEN) || !ip_dest(dest, len) || torify_state_passthrough())
        return false;
    int type = torify_sock_type(fd);
    return type >= 0 && (type & 0xf) == SOCK_STREAM;
}

/* TORIFY_OK or the refusal (already logged, errno set). */
static torify_err check(const char *call, int fd, int flags, const struct sockaddr *dest, socklen_t len)
{
    if (torify_state_passthrough())
        return TORIFY_OK;
    int type = torify_sock_type(fd);
    if (type < 0)
        return TORIFY_OK; /* not a socket: the kernel reports it */
    if ((type & 0xf) == SOCK_DGRAM && torify_shim_udp_sealed())
        return TORIFY_OK; /* the guard's sealed namespace: it can reach only torify's responder */
    torify_err e = torify_policy_send(type, flags, dest, len);
    if (e != TORIFY_OK) {
        (void)torify_state_config();
        char where[80];
        errno = torify_refuse(e, "%s to %s", call, torify_tor_fmt_sockaddr(dest, len, where, sizeof where));
    }
    return e;
}

/* A socket whose SOCKS reply is still owed (shim/opt.h): a failed reply
 * is reported before anything is sent (-1 here); while the reply is owed
 * the send gets MSG_NOSIGNAL (Tor ending the stream is the request's
 * failure, reported by owed_done, not a SIGPIPE). */
static int owed_flags(int fd, int flags)
{
    if (torify_opt_before_write(fd) != 0)
        return -1;
    return torify_opt_flagged(fd) ? flags | MSG_NOSIGNAL : flags;
}

static ssize_t owed_done(int fd, ssize_t r)
{
    if (r < 0 && torify_opt_flagged(fd))
        torify_opt_after_write_error(fd);
    return r;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *dest, socklen_t len)
{
    torify_sendto_fn f = REAL(SENDTO, torify_sendto_fn);
    if (!f)
        return -1;
    if (tfo_connect(fd, flags, dest, len)) {
        if (connect(fd, dest, len) != 0)
            return -1;
        return f(fd, buf, n, flags & ~MSG_FASTOPEN, NULL, 0);
    }
    if (ip_dest(dest, len) && check("sendto", fd, flags, dest, len) != TORIFY_OK)
        return -1;
    if (torify_opt_flagged(fd)) {
        int of = owed_flags(fd, flags);
        return of == -1 ? -1 : owed_done(fd, f(fd, buf, n, of, dest, len));
    }
    return f(fd, buf, n, flags, dest, len);
}

/* fds passed with SCM_RIGHTS leave for another process, which has no
 * torify state for them: an owed SOCKS reply (optimistic data) is read
 * first, waiting up to its deadline; on failure the socket goes shut down
 * (the receiver reads its end, this process keeps the errno). */
__attribute__((noinline)) static void settle_passed(const struct msghdr *msg)
{
    if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int pfd, err;
            memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof pfd);
            if (torify_opt_flagged(pfd))
                (void)torify_opt_settle(pfd, true, &err);
        }
    }
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    torify_sendmsg_fn f = REAL(SENDMSG, torify_sendmsg_fn);
    if (!f)
        return -1;
    if (msg && tfo_connect(fd, flags, msg->msg_name, msg->msg_namelen)) {
        if (connect(fd, msg->msg_name, msg->msg_namelen) != 0)
            return -1;
        struct msghdr m = *msg;
        m.msg_name = NULL;
        m.msg_namelen = 0;
        return f(fd, &m, flags & ~MSG_FASTOPEN);
    }
    if (msg && ip_dest(msg->msg_name, msg->msg_namelen) &&
        check("sendmsg", fd, flags, msg->msg_name, msg->msg_namelen) != TORIFY_OK)
        return -1;
    if (__builtin_expect(torify_opt_some_flagged(), 0))
        settle_passed(msg);
    if (torify_opt_flagged(fd)) {
        int of = owed_flags(fd, flags);
        return of == -1 ? -1 : owed_done(fd, f(fd, msg, of));
    }
    return f(fd, msg, flags);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    torify_sendmmsg_fn f = REAL(SENDMMSG, torify_sendmmsg_fn);
    if (!f)
        return -1;
    /* One refused message refuses the call: nothing is sent. */
    for (unsigned int i = 0; vec && i < vlen; i++) {
        const struct msghdr *m = &vec[i].msg_hdr;
        if (ip_dest(m->msg_name, m->msg_namelen) && check("sendmmsg", fd, flags, m->msg_name, m->msg_namelen) != TORIFY_OK)
            return -1;
    }
    for (unsigned int i = 0; vec && i < vlen && torify_opt_some_flagged(); i++)
        settle_passed(&vec[i].msg_hdr);
    if (torify_opt_flagged(fd)) {
        int of = owed_flags(fd, flags);
        return of == -1 ? -1 : (int)owed_done(fd, f(fd, vec, vlen, of));
    }
    return f(fd, vec, vlen, flags);
}
