/*
 * The blocking handshake over a connected fd: the driver (drive.c) between
 * poll() waits.
 *
 * libtorify.so runs this inside its interposed connect(), so besides the
 * driver's send/recv it calls only poll — never connect/sendto/socket,
 * which the shim itself interposes.  The driver uses MSG_DONTWAIT, so a
 * blocking fd behaves like a non-blocking one here and poll() enforces one
 * overall deadline; the fd's own O_NONBLOCK flag is never touched.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "dial.h"
#include "internal.h"

#define DEFAULT_TIMEOUT_MS 30000

/* The tree's one monotonic clock (a header: libtorify-socks still stands
 * alone), so the shim mixes these deadlines with its own. */
int64_t torify_sx_now_ms(void)
{
    return torify_now_ms();
}

int torify_sx_timeout_ms(const struct torify_socks_opts *opts)
{
    if (opts == NULL || opts->timeout_ms <= 0)
        return DEFAULT_TIMEOUT_MS;
    return opts->timeout_ms;
}

void torify_sx_deadlines(const struct torify_socks_opts *opts, int64_t *conn, int64_t *all)
{
    int64_t now = torify_sx_now_ms();
    *all = now + torify_sx_timeout_ms(opts);
    *conn = *all;
    if (opts != NULL && opts->connect_timeout_ms > 0 && now + opts->connect_timeout_ms < *all)
        *conn = now + opts->connect_timeout_ms;
}

int torify_sx_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - torify_sx_now_ms();
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int r;

        if (left <= 0)
            return 0;
        r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 1; /* readable, writable, or an error the next call reports */
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* The driver between waits, under one deadline. */
static torify_err run(struct torify_socks *s, int fd, int64_t deadline_ms)
{
    for (;;) {
        enum torify_socks_want w = torify_socks_advance(s, fd);
        int ready;

        if (w == TORIFY_SOCKS_DONE)
            return TORIFY_OK;
        if (w == TORIFY_SOCKS_FAILED)
            return torify_socks_error(s); /* errno as the driver set it */
        ready = torify_sx_wait(fd, w == TORIFY_SOCKS_WANT_WRITE ? POLLOUT : POLLIN, deadline_ms);
        if (ready == 0)
            return TORIFY_E_TIMEOUT;
        if (ready < 0)
            return TORIFY_E_IO;
    }
}

torify_err torify_sx_handshake(int fd, enum torify_socks_cmd cmd, const struct torify_target *target,
                            const struct torify_socks_opts *opts, struct torify_target *result,
                            int64_t deadline_ms)
{
    struct torify_socks s;
    enum torify_socks_proto proto = TORIFY_SOCKS5;
    torify_err e;

    if (opts != NULL && opts->proto != 0)
        proto = opts->proto;
    if (fd < 0) {
        e = TORIFY_E_INVAL_ARGUMENT;
    } else {
        e = torify_socks_init(&s, proto, cmd, target, opts ? opts->user : NULL, opts ? opts->pass : NULL,
                              opts ? opts->flags : 0);
        if (e == TORIFY_OK)
            e = run(&s, fd, deadline_ms);
    }
    if (e == TORIFY_OK) {
        if (result != NULL)
            *result = *torify_socks_result(&s);
        return TORIFY_OK;
    }
    /* For TORIFY_E_IO the system's errno is the better explanation. */
    if (e != TORIFY_E_IO)
        errno = torify_err_errno(e);
    return e;
}

torify_err torify_socks_handshake_fd(int fd, enum torify_socks_cmd cmd, const struct torify_target *target,
                                     const struct torify_socks_opts *opts, struct torify_target *result)
{
    return torify_sx_handshake(fd, cmd, target, opts, result, torify_sx_now_ms() + torify_sx_timeout_ms(opts));
}
