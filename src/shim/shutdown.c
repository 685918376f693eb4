/* shim/shutdown.c — shutdown(SHUT_WR) on a stream through Tor is held.
 *
 * TCP lets a client end its sending half and still read the reply (socat
 * and `nc -N` do so at their input's EOF, many HTTP/1.0 clients after the
 * request).  A Tor stream has no half-close: the FIN reaching Tor's SOCKS
 * port makes it end the stream both ways, so the reply is lost.  For a
 * socket torify connected through Tor, shutdown(SHUT_WR) therefore returns
 * 0 and sends nothing; the stream stays open until the peer ends it or the
 * program closes the socket.  SHUT_RD and SHUT_RDWR go to the kernel as
 * before (after a held SHUT_WR, SHUT_RDWR still ends the stream).
 * PassHalfClose 1 (torify.conf) passes SHUT_WR through instead, for a
 * protocol that needs its EOF to arrive — which over Tor cannot work at all
 * (docs/USAGE.md).
 *
 * Untracked fds and the other directions: one table load, a compare and
 * one bit of the fd bitmap, then a tail jump to libc.
 */
#include <sys/socket.h>

#include "core/log.h"
#include "shim/real.h"
#include "shim/state.h"

static int shutdown_slow(int fd, int how);

EXPORT int shutdown(int fd, int how)
{
    torify_shutdown_fn real = (torify_shutdown_fn)torify_real_loaded(TORIFY_REAL_SHUTDOWN);
    if (__builtin_expect(real != NULL && (how != SHUT_WR || !torify_fd_tracked(fd)), 1))
        return real(fd, how);
    return shutdown_slow(fd, how);
}

__attribute__((noinline)) static int shutdown_slow(int fd, int how)
{
    torify_shutdown_fn real = REAL(SHUTDOWN, torify_shutdown_fn);
    if (!real)
        return -1;
    if (how != SHUT_WR || !torify_fd_tracked(fd) || torify_state_passthrough())
        return real(fd, how);
    const struct torify_state_config *sc = torify_state_config();
    if (sc->cfg.pass_half_close)
        return real(fd, how);
    struct torify_fd_rec rec;
    if (!torify_fd_get(fd, &rec) || rec.state == TORIFY_FD_NONE)
        return real(fd, how);
    torify_log(TORIFY_LOG_DEBUG, "shutdown(%d, SHUT_WR) held: Tor would end the stream both ways", fd);
    return 0;
}
