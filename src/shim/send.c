/* shim/send.c — sendto/sendmsg/sendmmsg: no datagrams, no TCP Fast Open.
 *
 * A destination address on an IP socket means a UDP/raw datagram (which Tor
 * cannot carry) or a TCP Fast Open connect (which would open a direct
 * connection with data in the SYN).  Without a destination these are plain
 * sends on a connected socket and pass untouched.
 */
#include <errno.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

static bool ip_dest(const void *dest, socklen_t len)
{
    const struct sockaddr *sa = dest;
    return sa && len >= (socklen_t)sizeof(sa_family_t) && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
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

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *dest, socklen_t len)
{
    torify_sendto_fn f = REAL(SENDTO, torify_sendto_fn);
    if (!f)
        return -1;
    if (ip_dest(dest, len) && check("sendto", fd, flags, dest, len) != TORIFY_OK)
        return -1;
    return f(fd, buf, n, flags, dest, len);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    torify_sendmsg_fn f = REAL(SENDMSG, torify_sendmsg_fn);
    if (!f)
        return -1;
    if (msg && ip_dest(msg->msg_name, msg->msg_namelen) &&
        check("sendmsg", fd, flags, msg->msg_name, msg->msg_namelen) != TORIFY_OK)
        return -1;
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
    return f(fd, vec, vlen, flags);
}
