/* shim/sockopt.c — getsockopt(SO_ERROR) for a connect through Tor in flight.
 *
 * While the helper runs the handshake the socket's own SO_ERROR belongs to
 * the helper (it reads the outcome of the TCP connect to Tor there), so
 * the program gets 0 — "no error yet", as for a plain connect in progress.
 * After a failure the program gets the errno of the SOCKS failure once
 * (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT...), then 0, like the kernel's
 * SO_ERROR.  Every other option, and untracked fds, go straight to libc.
 * Optimistic data (shim/opt.h): a socket whose SOCKS reply failed reports
 * that errno the same way, once, also when the failed reply has arrived
 * but nothing has read it yet (torify_opt_take_error reads it first).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "shim/state.h"
#include "shim/nb.h"
#include "shim/opt.h"
#include "shim/real.h"


static int getsockopt_slow(int fd, int level, int name, void *val, socklen_t *len);

/* Untracked fds and other options: one table load, a few compares and a
 * tail jump to libc (no stack frame); the rest is out of line. */
EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    torify_getsockopt_fn real = (torify_getsockopt_fn)torify_real_loaded(TORIFY_REAL_GETSOCKOPT);
    if (__builtin_expect(real != NULL && (level != SOL_SOCKET || name != SO_ERROR || !torify_fd_tracked(fd)), 1))
        return real(fd, level, name, val, len);
    return getsockopt_slow(fd, level, name, val, len);
}

static int so_error_tracked(torify_getsockopt_fn real, int fd, void *val, socklen_t *len);

__attribute__((noinline)) static int getsockopt_slow(int fd, int level, int name, void *val, socklen_t *len)
{
    torify_getsockopt_fn real = REAL(GETSOCKOPT, torify_getsockopt_fn);
    if (!real)
        return -1;
    if (level != SOL_SOCKET || name != SO_ERROR || !torify_fd_tracked(fd))
        return real(fd, level, name, val, len);
    return so_error_tracked(real, fd, val, len);
}

/* Out of line, so the untracked case above stays a few instructions. */
__attribute__((noinline)) static int so_error_tracked(torify_getsockopt_fn real, int fd, void *val, socklen_t *len)
{
    const int level = SOL_SOCKET, name = SO_ERROR;
    if (!val || !len || *len < (socklen_t)sizeof(int))
        return real(fd, level, name, val, len);
    if (torify_opt_flagged(fd)) {
        /* Optimistic data: the reply's failure is this socket's error
         * (the kernel's is 0: connect to Tor succeeded). */
        int v = torify_opt_take_error(fd);
        memcpy(val, &v, sizeof v);
        *len = sizeof v;
        return 0;
    }
    enum nb_phase ph;
    struct nb_conn *c = torify_nb_get(fd, &ph);
    if (!c)
        return real(fd, level, name, val, len);
    int v;
    if (ph == NB_CONNECTING) {
        v = 0;
    } else if (ph == NB_FAILED) {
        v = torify_nb_take_error(c);
    } else {
        torify_nb_put(c);
        return real(fd, level, name, val, len);
    }
    torify_nb_put(c);
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    return 0;
}
