/*
 * Connections to the proxy (socks/dial.h) and the blocking helpers that
 * open their own: torify_socks_dial, torify_socks_resolve,
 * torify_socks_resolve_ptr.
 *
 * The one connect-with-deadline of the tree.  The system calls come from
 * the caller: the public helpers pass libc's (torify_sx_libc, by name);
 * inside libtorify.so those names are the shim's wrappers, so the shim
 * passes the real ones (shim/tor.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dial.h"
#include "internal.h"

const struct torify_sx_sys torify_sx_libc = { socket, connect, close };

static void close_keep_errno(const struct torify_sx_sys *sys, int fd)
{
    int saved = errno;
    sys->close(fd);
    errno = saved;
}

torify_err torify_sx_connect(const struct torify_sx_sys *sys, int fd, const struct sockaddr *proxy,
                             socklen_t len, int64_t deadline_ms, bool started)
{
    int r, soerr = 0;
    socklen_t sl = sizeof soerr;

    if (sys->connect(fd, proxy, len) == 0)
        return TORIFY_OK;
    if (started && errno == EISCONN)
        return TORIFY_OK; /* the connect the caller started is done */
    /* In flight: a non-blocking fd, or a signal cut a blocking connect
     * short (EINTR), or it was started before (EALREADY).  The kernel goes
     * on connecting; wait for the outcome. */
    if (errno != EINPROGRESS && errno != EINTR && errno != EALREADY)
        return TORIFY_E_PROXY_UNREACHABLE;
    r = torify_sx_wait(fd, POLLOUT, deadline_ms);
    if (r == 0) {
        errno = ETIMEDOUT;
        return TORIFY_E_TIMEOUT;
    }
    if (r < 0)
        return TORIFY_E_IO;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        return TORIFY_E_IO;
    if (soerr != 0) {
        errno = soerr;
        return TORIFY_E_PROXY_UNREACHABLE;
    }
    return TORIFY_OK;
}

int torify_sx_open(const struct torify_sx_sys *sys, const struct sockaddr *proxy, socklen_t len,
                   int64_t deadline_ms, torify_err *err)
{
    int fd;

    if (proxy == NULL || len < (socklen_t)sizeof(sa_family_t)) {
        *err = TORIFY_E_INVAL_ARGUMENT;
        errno = EINVAL;
        return -1;
    }
    fd = sys->socket(proxy->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = TORIFY_E_IO;
        return -1;
    }
    *err = torify_sx_connect(sys, fd, proxy, len, deadline_ms, false);
    if (*err != TORIFY_OK) {
        close_keep_errno(sys, fd);
        return -1;
    }
    return fd;
}

int torify_sx_exchange(const struct torify_sx_sys *sys, const struct sockaddr *proxy, socklen_t len,
                       enum torify_socks_cmd cmd, const struct torify_target *target,
                       const struct torify_socks_opts *opts, struct torify_target *result, torify_err *err)
{
    int64_t conn, all;
    int fd;

    torify_sx_deadlines(opts, &conn, &all);
    fd = torify_sx_open(sys, proxy, len, conn, err);
    if (fd < 0) {
        /* Not connected within the connect bound while the handshake still
         * had time: the proxy is not there (as when it refuses), it is not
         * merely slow. */
        if (*err == TORIFY_E_TIMEOUT && conn < all)
            *err = TORIFY_E_PROXY_UNREACHABLE;
        if (*err != TORIFY_E_IO)
            errno = torify_err_errno(*err);
        return -1;
    }
    *err = torify_sx_handshake(fd, cmd, target, opts, result, all);
    if (*err != TORIFY_OK) {
        close_keep_errno(sys, fd);
        return -1;
    }
    return fd;
}

int torify_socks_dial(const struct sockaddr *proxy, socklen_t proxy_len, const struct torify_target *target,
                      const struct torify_socks_opts *opts, torify_err *err)
{
    torify_err e;
    int fd = torify_sx_exchange(&torify_sx_libc, proxy, proxy_len, TORIFY_SOCKS_CONNECT, target, opts, NULL, &e);
    int fl;

    if (fd >= 0) {
        /* The caller gets an ordinary blocking socket, as connect() gives. */
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            e = TORIFY_E_IO;
            close_keep_errno(&torify_sx_libc, fd);
            fd = -1;
        }
    }
    if (err != NULL)
        *err = e;
    return fd;
}

torify_err torify_socks_resolve(const struct sockaddr *proxy, socklen_t proxy_len, const char *hostname,
                                const struct torify_socks_opts *opts, struct torify_target *out)
{
    struct torify_target t, res;
    torify_err e;
    int fd;

    if (hostname == NULL || out == NULL) {
        errno = EINVAL;
        return TORIFY_E_INVAL_ARGUMENT;
    }
    /* strnlen bound: one past the limit is enough to know it is too long. */
    e = torify_target_host(&t, hostname, strnlen(hostname, TORIFY_SX_FIELD_MAX + 1), 0);
    if (e != TORIFY_OK) {
        errno = torify_err_errno(e);
        return e;
    }
    fd = torify_sx_exchange(&torify_sx_libc, proxy, proxy_len, TORIFY_SOCKS_RESOLVE, &t, opts, &res, &e);
    if (fd < 0)
        return e;
    close(fd);
    *out = res;
    return TORIFY_OK;
}

torify_err torify_socks_resolve_ptr(const struct sockaddr *proxy, socklen_t proxy_len,
                                    const struct torify_target *addr, const struct torify_socks_opts *opts,
                                    char *name, size_t name_len)
{
    struct torify_target res;
    torify_err e;
    int fd;

    if (addr == NULL || name == NULL || name_len == 0) {
        errno = EINVAL;
        return TORIFY_E_INVAL_ARGUMENT;
    }
    fd = torify_sx_exchange(&torify_sx_libc, proxy, proxy_len, TORIFY_SOCKS_RESOLVE_PTR, addr, opts, &res, &e);
    if (fd < 0)
        return e;
    close(fd);
    if ((size_t)res.host_len + 1 > name_len) {
        errno = EINVAL; /* a cut name would be a different name */
        return TORIFY_E_INVAL_ARGUMENT;
    }
    memcpy(name, res.host, (size_t)res.host_len + 1);
    return TORIFY_OK;
}
