/*
 * The driver: the sans-IO codec over a socket, without blocking
 * (torify_socks_advance in include/torify/socks.h).
 *
 * The one place that moves SOCKS bytes between a socket and the codec:
 * the blocking helpers (io.c) wait with poll() between calls, libtorify.so's
 * helper thread (shim/nb_helper.c) with its epoll set.  Inside libtorify.so
 * it runs in interposed calls, so it uses only send and recv, never a
 * function the shim interposes; MSG_NOSIGNAL because a proxy that went away
 * must not kill the program with SIGPIPE.
 */
#include <errno.h>
#include <sys/socket.h>

#include "internal.h"

/* Errors of send/recv that mean "the proxy is gone". */
static int peer_gone(int e)
{
    return e == EPIPE || e == ECONNRESET;
}

/* Fail with an I/O error, errno as the system left it (or EIO). */
static enum torify_socks_want io_failed(struct torify_socks *s, int sys_errno)
{
    (void)torify_sx_fail(s, TORIFY_E_IO);
    errno = sys_errno ? sys_errno : EIO;
    return TORIFY_SOCKS_FAILED;
}

/* One send of what the codec offers: 1 progress, 0 would block, -1 failed
 * (the codec is FAILED, errno set). */
static int send_some(struct torify_socks *s, int fd)
{
    const uint8_t *out;
    size_t len = torify_socks_output(s, &out);
    ssize_t r = send(fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (r > 0) {
        torify_err e = torify_socks_sent(s, (size_t)r);
        if (e != TORIFY_OK) {
            (void)torify_sx_fail(s, e); /* cannot happen: r <= len */
            return -1;
        }
        return 1;
    }
    if (r == 0) {
        /* The codec never offers an empty buffer, so nothing was taken and
         * nothing was said to be wrong.  Waiting for POLLOUT would not help:
         * the fd reports writable at once, and the caller would spin until
         * its deadline (or forever, in an event loop without one).  Fail
         * now, as a write that cannot make progress. */
        io_failed(s, EIO);
        return -1;
    }
    return errno == EINTR ? 1 : 0;
}

/* One recv of at most what the codec needs: as send_some. */
static int recv_some(struct torify_socks *s, int fd)
{
    uint8_t buf[sizeof s->in];
    size_t len = torify_socks_need(s);
    ssize_t r;

    if (len > sizeof buf)
        len = sizeof buf; /* cannot happen: in[] bounds every reply */
    r = recv(fd, buf, len, MSG_DONTWAIT);
    if (r > 0) {
        /* On a bad reply the codec is FAILED now: the caller's loop sees it. */
        (void)torify_socks_feed(s, buf, (size_t)r, NULL);
        return 1;
    }
    if (r == 0) {
        (void)torify_socks_eof(s);
        return 1;
    }
    return errno == EINTR ? 1 : 0;
}

enum torify_socks_want torify_socks_advance(struct torify_socks *s, int fd)
{
    for (;;) {
        enum torify_socks_want w = torify_socks_want(s);
        int r;

        if (w == TORIFY_SOCKS_DONE)
            return w;
        if (w == TORIFY_SOCKS_FAILED) {
            torify_err e = torify_socks_error(s);
            /* Misuse (NULL, never initialised) and an error found in an
             * earlier call: errno says what the error means. */
            errno = e == TORIFY_E_IO ? EIO : torify_err_errno(e);
            return w;
        }
        r = w == TORIFY_SOCKS_WANT_WRITE ? send_some(s, fd) : recv_some(s, fd);
        if (r > 0)
            continue;
        if (r < 0)
            return TORIFY_SOCKS_FAILED; /* errno set */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return w;
        if (peer_gone(errno)) {
            (void)torify_socks_eof(s);
            continue;
        }
        if (errno == ECONNREFUSED) {
            /* A non-blocking connect to the proxy failed. */
            (void)torify_sx_fail(s, TORIFY_E_PROXY_UNREACHABLE);
            continue;
        }
        return io_failed(s, errno);
    }
}
