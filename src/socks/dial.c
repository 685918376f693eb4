/*
 * Blocking helpers that open their own connection to the proxy:
 * torify_socks_dial, torify_socks_resolve, torify_socks_resolve_ptr.
 *
 * These call socket() and connect() by name.  Inside libtorify.so those
 * names are interposed, so the shim uses only torify_socks_handshake_fd and
 * the codec; these helpers are for programs linking libtorify-socks.a.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static void close_keep_errno(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* A non-blocking connection to the proxy, established before the deadline. */
static int open_proxy(const struct sockaddr *proxy, socklen_t len, int64_t deadline_ms, torify_err *err)
{
    int fd, r, soerr = 0;
    socklen_t sl = sizeof soerr;

    if (proxy == NULL || len < (socklen_t)sizeof(sa_family_t)) {
        *err = TORIFY_E_INVAL_ARGUMENT;
        return -1;
    }
    fd = socket(proxy->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = TORIFY_E_IO;
        return -1;
    }
    r = connect(fd, proxy, len);
    if (r == 0)
        return fd;
    /* EINTR on a non-blocking connect: the attempt goes on in the kernel. */
    if (errno != EINPROGRESS && errno != EINTR) {
        *err = TORIFY_E_PROXY_UNREACHABLE;
        close_keep_errno(fd);
        return -1;
    }
    r = torify_sx_wait(fd, POLLOUT, deadline_ms);
    if (r <= 0) {
        *err = r == 0 ? TORIFY_E_TIMEOUT : TORIFY_E_IO;
        close_keep_errno(fd);
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        *err = TORIFY_E_PROXY_UNREACHABLE;
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

/* Open, handshake, and on failure close; returns the fd or -1. */
static int exchange(const struct sockaddr *proxy, socklen_t len, enum torify_socks_cmd cmd,
                    const struct torify_target *target, const struct torify_socks_opts *opts,
                    struct torify_target *result, torify_err *err)
{
    int64_t deadline = torify_sx_now_ms() + torify_sx_timeout_ms(opts);
    int fd = open_proxy(proxy, len, deadline, err);

    if (fd < 0) {
        if (*err != TORIFY_E_IO)
            errno = torify_err_errno(*err);
        return -1;
    }
    *err = torify_sx_handshake(fd, cmd, target, opts, result, deadline);
    if (*err != TORIFY_OK) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

int torify_socks_dial(const struct sockaddr *proxy, socklen_t proxy_len, const struct torify_target *target,
                      const struct torify_socks_opts *opts, torify_err *err)
{
    torify_err e;
    int fd = exchange(proxy, proxy_len, TORIFY_SOCKS_CONNECT, target, opts, NULL, &e);
    int fl;

    if (fd >= 0) {
        /* The caller gets an ordinary blocking socket, as connect() gives. */
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            e = TORIFY_E_IO;
            close_keep_errno(fd);
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
    fd = exchange(proxy, proxy_len, TORIFY_SOCKS_RESOLVE, &t, opts, &res, &e);
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
    fd = exchange(proxy, proxy_len, TORIFY_SOCKS_RESOLVE_PTR, addr, opts, &res, &e);
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
