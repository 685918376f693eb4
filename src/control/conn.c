/*
 * control/conn.c — the blocking client's connection: open (through
 * socks/dial.h's connect-with-deadline, the one way in the tree to reach
 * Tor as this process), send a command line, read replies, hand events to
 * the caller's handler.
 *
 * Bytes read past a reply stay in rbuf for the next one: Tor may send an
 * event right behind an answer, in the same segment.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torify/control.h>
#include "control/internal.h"
#include "control/open_sys.h"
#include "socks/dial.h"
#include "socks/internal.h"

/* Bounds of one reply: GETINFO answers torify asks for are small, a
 * circuit or stream list of a busy Tor a few hundred lines. */
#define CTL_REPLY_MAX (1u << 20)
#define CTL_LINE_MAX (64u << 10)
#define CTL_CMD_MAX 8192

struct torify_ctl {
    int fd;
    int timeout_ms;
    struct torify_ctl_parser parser;
    torify_ctl_event_fn on_event;
    void *event_arg;
    char rbuf[4096];
    size_t roff, rlen;
    char store[CTL_REPLY_MAX];
    const struct torify_sx_sys *sys;
};

/* Mapped, not malloc'ed: libtorify.so opens one after a failed connect
 * (shim/explain.c), which may run where malloc must not (a program's
 * signal handler, a forked child of a threaded program). */
static struct torify_ctl *ctl_alloc(void)
{
    void *p = mmap(NULL, sizeof(struct torify_ctl), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

struct torify_ctl *torify_ctl_open_sys(const struct torify_sx_sys *sys, const struct sockaddr *sa, socklen_t len,
                                       int timeout_ms, torify_err *err)
{
    struct torify_ctl *c;
    torify_err e;

    if (sa == NULL || timeout_ms <= 0) {
        *err = TORIFY_E_INVAL_ARGUMENT;
        errno = EINVAL;
        return NULL;
    }
    c = ctl_alloc();
    if (c == NULL) {
        *err = TORIFY_E_IO;
        return NULL;
    }
    c->sys = sys;
    c->timeout_ms = timeout_ms;
    torify_ctl_parser_init(&c->parser, c->store, sizeof c->store, CTL_LINE_MAX);
    c->fd = torify_sx_open(sys, sa, len, torify_sx_now_ms() + timeout_ms, &e);
    if (c->fd < 0) {
        int saved = errno;
        munmap(c, sizeof *c);
        *err = e == TORIFY_E_PROXY_UNREACHABLE ? TORIFY_E_CTL_UNREACHABLE : e;
        errno = saved;
        return NULL;
    }
    *err = TORIFY_OK;
    return c;
}

struct torify_ctl *torify_ctl_open(const struct sockaddr *sa, socklen_t len, int timeout_ms, torify_err *err)
{
    return torify_ctl_open_sys(&torify_sx_libc, sa, len, timeout_ms, err);
}

void torify_ctl_close(struct torify_ctl *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        c->sys->close(c->fd);
    /* The store may hold an AUTHCHALLENGE answer; the rbuf our own nothing
     * secret (commands are written straight from the caller's buffer). */
    torify_ctl_wipe(c->store, sizeof c->store);
    munmap(c, sizeof *c);
}

int torify_ctl_fd(const struct torify_ctl *c)
{
    return c->fd;
}

void torify_ctl_set_event_handler(struct torify_ctl *c, torify_ctl_event_fn fn, void *arg)
{
    c->on_event = fn;
    c->event_arg = arg;
}

static torify_err send_all(struct torify_ctl *c, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = torify_sx_wait(c->fd, POLLOUT, deadline);
            if (r == 0) {
                errno = ETIMEDOUT;
                return TORIFY_E_TIMEOUT;
            }
            if (r < 0)
                return TORIFY_E_IO;
            continue;
        }
        return TORIFY_E_IO;
    }
    return TORIFY_OK;
}

/* The next complete reply (an event or not), before deadline. */
static torify_err read_reply(struct torify_ctl *c, int64_t deadline, const struct torify_ctl_reply **out)
{
    torify_ctl_parser_next(&c->parser);
    for (;;) {
        if (c->roff < c->rlen) {
            size_t used;
            enum torify_ctl_status st =
                torify_ctl_parser_feed(&c->parser, c->rbuf + c->roff, c->rlen - c->roff, &used);
            c->roff += used;
            if (st == TORIFY_CTL_REPLY) {
                *out = torify_ctl_parser_reply(&c->parser);
                return TORIFY_OK;
            }
            if (st == TORIFY_CTL_ERROR)
                return torify_ctl_parser_error(&c->parser);
            continue;
        }
        ssize_t n = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
        if (n > 0) {
            c->roff = 0;
            c->rlen = (size_t)n;
            continue;
        }
        if (n == 0)
            return TORIFY_E_CTL_TRUNCATED; /* closed: mid-reply or before one, no answer either way */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return TORIFY_E_IO;
        int r = torify_sx_wait(c->fd, POLLIN, deadline);
        if (r == 0) {
            errno = ETIMEDOUT;
            return TORIFY_E_TIMEOUT;
        }
        if (r < 0)
            return TORIFY_E_IO;
    }
}

torify_err torify_ctl_command(struct torify_ctl *c, const char *line, const struct torify_ctl_reply **reply)
{
    char cmd[CTL_CMD_MAX];
    size_t n;
    int64_t deadline = torify_sx_now_ms() + c->timeout_ms;
    const struct torify_ctl_reply *r;
    torify_err e;

    if (reply != NULL)
        *reply = NULL;
    if (line == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    n = strnlen(line, sizeof cmd - 2);
    if (n > sizeof cmd - 3)
        return TORIFY_E_CTL_TOO_LONG;
    if (memchr(line, '\r', n) || memchr(line, '\n', n))
        return TORIFY_E_INVAL_ARGUMENT;
    memcpy(cmd, line, n);
    memcpy(cmd + n, "\r\n", 2);
    e = send_all(c, cmd, n + 2, deadline);
    torify_ctl_wipe(cmd, sizeof cmd); /* it may have been AUTHENTICATE */
    if (e != TORIFY_OK)
        return e;
    for (;;) {
        e = read_reply(c, deadline, &r);
        if (e != TORIFY_OK)
            return e;
        if (!torify_ctl_reply_is_event(r))
            break;
        if (c->on_event != NULL)
            c->on_event(c->event_arg, r);
    }
    if (reply != NULL)
        *reply = r;
    return torify_ctl_reply_ok(r) ? TORIFY_OK : TORIFY_E_CTL_REFUSED;
}

torify_err torify_ctl_read_event(struct torify_ctl *c, int timeout_ms, const struct torify_ctl_reply **event)
{
    const struct torify_ctl_reply *r;
    torify_err e;
    int64_t deadline = torify_sx_now_ms() + (timeout_ms < 0 ? c->timeout_ms : timeout_ms);

    *event = NULL;
    e = read_reply(c, deadline, &r);
    if (e != TORIFY_OK)
        return e;
    /* Only events come unasked; anything else is a confused peer. */
    if (!torify_ctl_reply_is_event(r))
        return TORIFY_E_CTL_MALFORMED;
    *event = r;
    return TORIFY_OK;
}
