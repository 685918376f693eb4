/* shim/opt_epoll.c — epoll_wait, epoll_pwait, epoll_pwait2: the SOCKS reply
 * a socket still owes (optimistic data, shim/opt.h) is no readable event.
 *
 * The program registered the socket itself (the optimistic connect returns
 * at once, there is no placeholder as for a non-blocking connect in
 * shim/nb_epoll.c), so the kernel reports EPOLLIN when Tor's reply arrives.
 * Here, while some fd of the process owes its reply (one load otherwise),
 * each reported event of such a socket goes through torify_opt_poll_filter,
 * as poll's do: the reply is read, the event keeps EPOLLIN only if data
 * follows, a failed reply is EPOLLERR|EPOLLHUP.  An event left with nothing
 * is dropped; if every one is, the wait goes on with the time left.
 *
 * Which fd an event is for: epoll gives the program's epoll_data back, not
 * the fd.  The set's registrations are read from /proc/self/fdinfo/EPFD
 * ("tfd: N events: HEX data: HEX ... ino:HEX"), before the wait (so an
 * EPOLLONESHOT entry, disarmed once it fired, is re-armed with the program's
 * own events when its only event is dropped) and again after it for an
 * event of a registration made meanwhile by another thread.  An event whose
 * data belongs to more than one registration is left as the kernel gave it:
 * at worst the program wakes for the reply and its read says EAGAIN, as
 * without this file.
 *
 * Edge-triggered entries need nothing more: the edge the reply made is
 * consumed here, the data behind it makes a new one.  Level-triggered ones
 * neither: once the reply is read the receive buffer holds only data.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "shim/opt.h"
#include "shim/real.h"
#include "shim/state.h"
#include "core/clock.h"

typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
typedef int (*epoll_pwait_fn)(int, struct epoll_event *, int, int, const sigset_t *);
typedef int (*epoll_pwait2_fn)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);

/* A registration of a socket that owes its reply. */
struct reg {
    int fd;
    uint32_t events;
    uint64_t data;
    unsigned long ino;
    bool ambiguous; /* another registration of the set has the same data */
};

/* More pending sockets in one set than this are filtered only as far as
 * they are listed (the others wake the program for their reply, as
 * without this file). */
#define REGS_MAX 64
/* A set whose fdinfo is larger (some 50,000 registrations) is not read. */
#define FDINFO_MAX (4u << 20)

struct regs {
    int n;
    struct reg r[REGS_MAX];
};

/* Read all of /proc/self/fdinfo/EPFD into a NUL-terminated buffer: buf
 * (size small) or a malloc'd one (*heap).  NULL if it cannot be read. */
static char *read_fdinfo(int epfd, char *buf, size_t small, char **heap)
{
    char path[48];
    char *p = path + sizeof path;
    *--p = '\0';
    unsigned v = (unsigned)epfd;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    static const char pre[] = "/proc/self/fdinfo/";
    p -= sizeof pre - 1;
    memcpy(p, pre, sizeof pre - 1);
    int f = open(p, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return NULL;
    char *b = buf;
    size_t cap = small, have = 0;
    *heap = NULL;
    for (;;) {
        if (cap - have < 2) {
            if (cap >= FDINFO_MAX)
                goto fail;
            char *nb = realloc(*heap, cap * 4);
            if (!nb)
                goto fail;
            if (!*heap)
                memcpy(nb, buf, have);
            *heap = b = nb;
            cap *= 4;
        }
        ssize_t n = read(f, b + have, cap - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        have += (size_t)n;
    }
    torify_real_close(f);
    b[have] = '\0';
    return b;
fail:
    torify_real_close(f);
    free(*heap);
    *heap = NULL;
    return NULL;
}

static const char *skip_to(const char *s, const char *key, const char *end)
{
    size_t k = strlen(key);
    for (; s + k <= end; s++)
        if (memcmp(s, key, k) == 0)
            return s + k;
    return NULL;
}

static bool hex(const char **s, const char *end, uint64_t *out)
{
    const char *p = *s;
    while (p < end && *p == ' ')
        p++;
    if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    uint64_t v = 0;
    const char *start = p;
    for (; p < end; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0 || v >> 60)
            break;
        v = v << 4 | (uint64_t)d;
    }
    if (p == start)
        return false;
    *s = p;
    *out = v;
    return true;
}

/* One "tfd:" line of [s, end): its fd, events, data and inode. */
static bool parse_line(const char *s, const char *end, int *fd, uint32_t *events, uint64_t *data,
                       unsigned long *ino)
{
    if ((size_t)(end - s) < 4 || memcmp(s, "tfd:", 4) != 0)
        return false;
    s += 4;
    while (s < end && *s == ' ')
        s++;
    long v = 0;
    const char *d0 = s;
    while (s < end && *s >= '0' && *s <= '9' && v < (1l << 30))
        v = v * 10 + (*s++ - '0');
    if (s == d0)
        return false;
    uint64_t ev, dt, in = 0;
    const char *p = skip_to(s, "events:", end);
    if (!p || !hex(&p, end, &ev))
        return false;
    p = skip_to(p, "data:", end);
    if (!p || !hex(&p, end, &dt))
        return false;
    const char *q = skip_to(p, "ino:", end);
    if (q)
        (void)hex(&q, end, &in);
    *fd = (int)v;
    *events = (uint32_t)ev;
    *data = dt;
    *ino = (unsigned long)in;
    return true;
}

/* The registrations of epfd whose fd owes its reply, each marked if its
 * data is not its own.  false if the set cannot be read. */
static bool read_regs(int epfd, struct regs *out)
{
    char small[4096], *heap;
    char *b = read_fdinfo(epfd, small, sizeof small, &heap);
    out->n = 0;
    if (!b)
        return false;
    const char *end = b + strlen(b);
    for (int pass = 0; pass < 2; pass++) {
        for (const char *s = b; s < end;) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            const char *le = nl ? nl : end;
            int fd;
            uint32_t events;
            uint64_t data;
            unsigned long ino;
            if (parse_line(s, le, &fd, &events, &data, &ino)) {
                if (pass == 0) {
                    if (torify_opt_flagged(fd) && out->n < REGS_MAX)
                        out->r[out->n++] = (struct reg){ fd, events, data, ino, false };
                } else {
                    for (int i = 0; i < out->n; i++)
                        if (out->r[i].data == data && (out->r[i].fd != fd || out->r[i].ino != ino))
                            out->r[i].ambiguous = true;
                }
            }
            s = le + 1;
        }
    }
    free(heap);
    return true;
}

static const struct reg *find(const struct regs *rs, uint64_t data)
{
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].data == data)
            return rs->r[i].ambiguous ? NULL : &rs->r[i];
    return NULL;
}

enum wait_kind { WAIT_MS, WAIT_NS };

/* The filtered wait.  deadline: torify_now_ns() at which to stop, or -1
 * for none; timeout_ms / ts: the program's own, for the first call. */
static int opt_epoll(int epfd, struct epoll_event *ev, int max, enum wait_kind kind, int timeout_ms,
                     const struct timespec *ts, const sigset_t *mask)
{
    epoll_pwait_fn pw = REAL(EPOLL_PWAIT, epoll_pwait_fn);
    epoll_pwait2_fn pw2 = kind == WAIT_NS ? REAL(EPOLL_PWAIT2, epoll_pwait2_fn) : NULL;
    torify_epoll_ctl_fn ctl = REAL(EPOLL_CTL, torify_epoll_ctl_fn);
    if (!pw || (kind == WAIT_NS && !pw2) || !ctl)
        return -1;
    if (max <= 0 || (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))) {
        errno = EINVAL; /* what the kernel says; checked before the set is read */
        return -1;
    }
    int64_t deadline = -1;
    if (kind == WAIT_MS && timeout_ms >= 0)
        deadline = torify_now_ns() + (int64_t)timeout_ms * 1000000;
    else if (kind == WAIT_NS && ts && ts->tv_sec < INT64_MAX / 1000000000 / 2)
        deadline = torify_now_ns() + (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
    struct regs before, after;
    for (bool first = true;; first = false) {
        bool have_before = torify_opt_some_flagged() && read_regs(epfd, &before);
        int64_t left = deadline < 0 ? -1 : deadline - torify_now_ns();
        if (deadline >= 0 && left < 0)
            left = 0;
        int r;
        if (kind == WAIT_NS) {
            struct timespec t = { (time_t)(left / 1000000000), (long)(left % 1000000000) };
            r = pw2(epfd, ev, max, first ? ts : left < 0 ? NULL : &t, mask);
        } else {
            /* Rounded up: never wake before the program's time is out. */
            int ms = first ? timeout_ms : left < 0 ? -1 : (int)((left + 999999) / 1000000);
            r = pw(epfd, ev, max, ms, mask);
        }
        if (r <= 0)
            return r;
        int saved = errno;
        bool have_after = false;
        int kept = 0;
        for (int i = 0; i < r; i++) {
            uint64_t data = ev[i].data.u64;
            const struct reg *g = have_before ? find(&before, data) : NULL;
            bool rearm = g && (g->events & EPOLLONESHOT);
            if (!g && torify_opt_some_flagged()) {
                /* Registered after the set was read (another thread). */
                if (!have_after)
                    have_after = read_regs(epfd, &after);
                g = have_after ? find(&after, data) : NULL;
                if (g && (g->events & EPOLLONESHOT))
                    g = NULL; /* its events are gone with the shot: cannot re-arm, leave it */
            }
            uint32_t e = ev[i].events;
            if (g && torify_opt_flagged(g->fd)) {
                short f = torify_opt_poll_filter(g->fd, (short)(g->events & 0xffff), (short)(e & 0xffff));
                e = (e & ~0xffffu) | (uint16_t)f;
                if (e == 0 && rearm) {
                    struct epoll_event again = { .events = g->events, .data.u64 = data };
                    (void)ctl(epfd, EPOLL_CTL_MOD, g->fd, &again);
                }
            }
            if (e == 0)
                continue; /* only the reply was there */
            ev[kept] = ev[i];
            ev[kept].events = e;
            kept++;
        }
        errno = saved;
        if (kept > 0 || (deadline >= 0 && torify_now_ns() >= deadline))
            return kept;
    }
}

/* Hot in event loops: while no socket owes its reply, a load, a branch and
 * a tail jump to libc. */
__attribute__((noinline)) static int epoll_wait_slow(int epfd, struct epoll_event *ev, int max, int timeout)
{
    if (!torify_opt_some_flagged()) {
        epoll_wait_fn w = REAL(EPOLL_WAIT, epoll_wait_fn);
        return w ? w(epfd, ev, max, timeout) : -1;
    }
    return opt_epoll(epfd, ev, max, WAIT_MS, timeout, NULL, NULL);
}

EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    epoll_wait_fn w = (epoll_wait_fn)torify_real_loaded(TORIFY_REAL_EPOLL_WAIT);
    if (__builtin_expect(w != NULL && !torify_opt_some_flagged(), 1))
        return w(epfd, ev, max, timeout);
    return epoll_wait_slow(epfd, ev, max, timeout);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    if (!torify_opt_some_flagged()) {
        epoll_pwait_fn w = REAL(EPOLL_PWAIT, epoll_pwait_fn);
        return w ? w(epfd, ev, max, timeout, mask) : -1;
    }
    return opt_epoll(epfd, ev, max, WAIT_MS, timeout, NULL, mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts, const sigset_t *mask)
{
    if (!torify_opt_some_flagged()) {
        epoll_pwait2_fn w = REAL(EPOLL_PWAIT2, epoll_pwait2_fn);
        return w ? w(epfd, ev, max, ts, mask) : -1;
    }
    return opt_epoll(epfd, ev, max, WAIT_NS, 0, ts, mask);
}
