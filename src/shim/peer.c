/* shim/peer.c — getpeername(): the address the program connected to.
 *
 * For a socket torify connected through Tor, the kernel's peer is Tor; the
 * program expects the (fake or real) address it passed to connect().  The
 * kernel's answer is checked first, so a stale record (fd closed behind our
 * back, e.g. by dup2) can never mask a different connection.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/policy.h"
#include "shim/state.h"
#include "shim/nb.h"
#include "shim/real.h"

static bool peer_is_tor(const struct torify_config *c, const struct sockaddr_storage *ss, socklen_t len)
{
    if (c->tor_addr.ss_family == AF_UNIX)
        return ss->ss_family == AF_UNIX;
    struct torify_ip a, b;
    if (torify_ip_from_sockaddr((const struct sockaddr *)ss, len, &a) != 0 ||
        torify_ip_from_sockaddr((const struct sockaddr *)&c->tor_addr, c->tor_addr_len, &b) != 0)
        return false;
    return a.family == b.family && a.port == b.port && memcmp(a.addr, b.addr, a.family == AF_INET ? 4 : 16) == 0;
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    torify_getpeername_fn f = REAL(GETPEERNAME, torify_getpeername_fn);
    if (!f)
        return -1;
    if (!torify_fd_tracked(fd) || !addr || !len)
        return f(fd, addr, len);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (f(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    struct torify_fd_rec rec;
    bool have = torify_fd_get(fd, &rec);
    if (have && rec.state == TORIFY_FD_CONNECTING) {
        /* Handed to the helper: connected once the handshake is done. */
        enum nb_phase ph;
        struct nb_conn *c = torify_nb_get(fd, &ph);
        if (c)
            torify_nb_put(c);
        if (c && (ph == NB_CONNECTING || ph == NB_FAILED) && peer_is_tor(&torify_state_config()->cfg, &ss, sl)) {
            errno = ENOTCONN; /* what the kernel says before a connect completes */
            return -1;
        }
        if (c && ph == NB_OK)
            rec.state = TORIFY_FD_CONNECTED;
    }
    if (!have || rec.state != TORIFY_FD_CONNECTED || !peer_is_tor(&torify_state_config()->cfg, &ss, sl)) {
        /* Not (or no longer) ours: the kernel's answer, as libc gives it. */
        size_t n = *len < sl ? *len : sl;
        memcpy(addr, &ss, n);
        *len = sl;
        return 0;
    }
    size_t n = *len < rec.peer_len ? *len : rec.peer_len;
    memcpy(addr, &rec.peer, n);
    *len = rec.peer_len;
    return 0;
}
