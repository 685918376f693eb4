/* shim/inbound.c — listen/accept/accept4: inbound policy.
 *
 * With AllowInbound 0, IP sockets may listen on loopback only (Tor's
 * advice for hidden-service back ends: bind to localhost); a listener on any other address,
 * the wildcard included, is refused.  accept() on such a listener (one
 * inherited from a parent that was not torified) is refused too.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

static torify_err check_listener(const char *call, int fd)
{
    if (torify_state_passthrough())
        return TORIFY_OK;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return TORIFY_OK; /* not a socket: the kernel reports it */
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return TORIFY_OK;
    const struct torify_state_config *st = torify_state_config();
    torify_err e = torify_policy_listen(&st->cfg, (struct sockaddr *)&ss, len);
    if (e != TORIFY_OK) {
        char where[80];
        errno = torify_refuse(e, "%s on %s", call, torify_tor_fmt_sockaddr((struct sockaddr *)&ss, len, where, sizeof where));
    }
    return e;
}

EXPORT int listen(int fd, int backlog)
{
    torify_listen_fn f = REAL(LISTEN, torify_listen_fn);
    if (!f)
        return -1;
    if (check_listener("listen", fd) != TORIFY_OK)
        return -1;
    return f(fd, backlog);
}

static int accepted(int r)
{
    /* A new fd number may carry stale state from a close we never saw. */
    if (r >= 0 && torify_fd_tracked(r))
        torify_fd_clear(r);
    return r;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    torify_accept_fn f = REAL(ACCEPT, torify_accept_fn);
    if (!f)
        return -1;
    if (check_listener("accept", fd) != TORIFY_OK)
        return -1;
    return accepted(f(fd, addr, len));
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    torify_accept4_fn f = REAL(ACCEPT4, torify_accept4_fn);
    if (!f)
        return -1;
    if (check_listener("accept4", fd) != TORIFY_OK)
        return -1;
    return accepted(f(fd, addr, len, flags));
}
