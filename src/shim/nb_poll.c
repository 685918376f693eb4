/* shim/nb_poll.c — poll, ppoll, select, pselect: a socket whose connect
 * through Tor is still in flight is not reported until it is usable, and
 * one whose SOCKS reply is still owed (optimistic data, shim/opt.h) is not
 * readable for the reply alone: torify reads the reply when it arrives and
 * reports POLLIN only for data behind it (a failed reply: POLLERR|POLLHUP).
 *
 * Fast path: while no non-blocking connect is in flight in the process
 * (one atomic load), every call goes straight to libc.  Otherwise each fd
 * of the set is checked (one bitmap bit each); only if one of them is
 * connecting is the call rewritten: in a copy of the set that fd is
 * replaced by its connection's eventfd, which the helper signals at
 * completion; the fd's real readiness is then read with a zero-timeout
 * poll.  select/pselect are carried out with ppoll in that case.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "shim/state.h"
#include "shim/nb.h"
#include "shim/opt.h"
#include "shim/real.h"
#include "core/clock.h"

typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
typedef int (*pselect_fn)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);

/* Anything for us to look at: a connect in flight, or a SOCKS reply owed
 * (optimistic data, shim/opt.h). */
static inline bool nb_any(void)
{
    return atomic_load_explicit(&torify_shim.nb.active, memory_order_acquire) > 0 || torify_opt_some_flagged();
}

static int real_ppoll(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *m)
{
    ppoll_fn p = REAL(PPOLL, ppoll_fn);
    return p ? p(f, n, t, m) : -1;
}

static bool connecting(int fd)
{
    if (!torify_nb_maybe_connecting(fd))
        return false;
    enum nb_phase ph;
    struct nb_conn *c = torify_nb_get(fd, &ph);
    if (!c)
        return false;
    torify_nb_put(c);
    return ph == NB_CONNECTING;
}

/* The core: like ppoll (timeout NULL = forever), with connecting fds
 * hidden until done.  Called only when some connect is in flight. */
static int nb_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
    nfds_t subs = 0;
    for (nfds_t i = 0; i < n; i++)
        if (fds[i].fd >= 0 && (torify_opt_flagged(fds[i].fd) || connecting(fds[i].fd)))
            subs++;
    if (subs == 0)
        return real_ppoll(fds, n, tmo, mask);

    /* Checked before anything is allocated: an early return owns nothing. */
    if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000)) {
        errno = EINVAL; /* what the kernel says */
        return -1;
    }
    struct pollfd small[32];
    struct nb_conn *small_c[32];
    struct pollfd *tmp = small;
    struct nb_conn **held = small_c;
    if (n > 32) {
        tmp = malloc(n * sizeof *tmp);
        held = calloc(n, sizeof *held);
        if (!tmp || !held) {
            free(tmp);
            free(held);
            errno = ENOMEM;
            return -1;
        }
    }
    /* A timeout beyond ~146 years is "forever" (the kernel saturates it);
     * in nanoseconds it would overflow. */
    if (tmo && tmo->tv_sec > INT64_MAX / 1000000000 / 2)
        tmo = NULL;
    int64_t deadline = tmo ? torify_now_ns() + (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : 0;
    int result;
    for (;;) {
        for (nfds_t i = 0; i < n; i++) {
            tmp[i] = fds[i];
            tmp[i].revents = 0;
            held[i] = NULL;
            enum nb_phase ph;
            struct nb_conn *c = torify_nb_maybe_connecting(fds[i].fd) ? torify_nb_get(fds[i].fd, &ph) : NULL;
            if (c && ph == NB_CONNECTING && torify_nb_ev_hold(c)) {
                held[i] = c; /* the hold keeps c->evfd open while we wait */
                tmp[i].fd = c->evfd;
                tmp[i].events = POLLIN;
            } else if (c) {
                torify_nb_put(c);
            }
        }
        struct timespec left, *lp = NULL;
        if (tmo) {
            int64_t l = deadline - torify_now_ns();
            if (l < 0)
                l = 0;
            left.tv_sec = l / 1000000000;
            left.tv_nsec = l % 1000000000;
            lp = &left;
        }
        int r = real_ppoll(tmp, n, lp, mask);
        int saved = errno;
        int count = 0;
        for (nfds_t i = 0; i < n; i++) {
            short rev = r > 0 ? tmp[i].revents : 0;
            if (held[i]) {
                rev = 0;
                if (r > 0 && tmp[i].revents) {
                    /* Done: the real fd's own state now. */
                    struct pollfd p = { .fd = fds[i].fd, .events = fds[i].events };
                    if (real_ppoll(&p, 1, &(struct timespec){ 0, 0 }, NULL) > 0)
                        rev = p.revents;
                    if (nb_phase_of(atomic_load(&held[i]->gs)) == NB_FAILED && !atomic_load(&held[i]->err_taken))
                        rev |= POLLERR; /* as a failed TCP connect reports */
                }
                torify_nb_ev_drop(held[i]);
                torify_nb_put(held[i]);
            } else if (rev && torify_opt_flagged(fds[i].fd)) {
                /* The SOCKS reply alone is no data for the program. */
                rev = torify_opt_poll_filter(fds[i].fd, fds[i].events, rev);
            }
            fds[i].revents = rev;
            count += rev != 0;
        }
        if (r < 0) {
            errno = saved;
            result = -1;
            break;
        }
        if (count > 0 || r == 0) {
            result = count;
            break;
        }
        /* Only completions whose real fd has none of the wanted events
         * (e.g. waiting for POLLIN): wait on with the time left. */
    }
    if (tmp != small) {
        free(tmp);
        free(held);
    }
    return result;
}

__attribute__((noinline)) static int poll_slow(struct pollfd *fds, nfds_t n, int timeout)
{
    struct timespec t = { timeout / 1000, (long)(timeout % 1000) * 1000000 };
    return nb_ppoll(fds, n, timeout < 0 ? NULL : &t, NULL);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    poll_fn p = (poll_fn)torify_real_loaded(TORIFY_REAL_POLL);
    if (__builtin_expect(p != NULL && !nb_any(), 1))
        return p(fds, n, timeout); /* a tail jump: no stack frame */
    if (!nb_any()) {
        p = REAL(POLL, poll_fn);
        return p ? p(fds, n, timeout) : -1;
    }
    return poll_slow(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
    if (!nb_any())
        return real_ppoll(fds, n, tmo, mask);
    return nb_ppoll(fds, n, tmo, mask);
}

/* _FORTIFY_SOURCE builds call these. */
extern void __chk_fail(void) __attribute__((noreturn));
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask, size_t fdslen);

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        __chk_fail();
    return poll(fds, n, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask,
                       size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        __chk_fail();
    return ppoll(fds, n, tmo, mask);
}

/* ---- select ------------------------------------------------------------------ */

/* Bit access without FD_ISSET, whose fortified form aborts above FD_SETSIZE
 * (a program may pass larger sets it allocated itself). */
#define NBITS (8 * sizeof(unsigned long))
static inline bool bit(const fd_set *s, int fd)
{
    return s && (((const unsigned long *)(const void *)s)[fd / NBITS] >> (fd % NBITS)) & 1ul;
}
static inline void set_bit(fd_set *s, int fd)
{
    ((unsigned long *)(void *)s)[fd / NBITS] |= 1ul << (fd % NBITS);
}

static bool select_needs_us(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
    if (!nb_any())
        return false;
    for (int fd = 0; fd < nfds; fd++)
        if ((bit(r, fd) || bit(w, fd) || bit(e, fd)) && (torify_opt_flagged(fd) || connecting(fd)))
            return true;
    return false;
}

#define POLLIN_SET (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define POLLOUT_SET (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define POLLEX_SET (POLLPRI)

static int select_via_ppoll(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
                            const sigset_t *mask)
{
    nfds_t n = 0;
    for (int fd = 0; fd < nfds; fd++)
        n += bit(r, fd) || bit(w, fd) || bit(e, fd);
    struct pollfd *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    nfds_t k = 0;
    for (int fd = 0; fd < nfds; fd++) {
        if (!(bit(r, fd) || bit(w, fd) || bit(e, fd)))
            continue;
        p[k].fd = fd;
        p[k].events = (short)((bit(r, fd) ? POLLIN : 0) | (bit(w, fd) ? POLLOUT : 0) | (bit(e, fd) ? POLLPRI : 0));
        k++;
    }
    int rc = nb_ppoll(p, n, tmo, mask);
    if (rc < 0) {
        int saved = errno;
        free(p);
        errno = saved;
        return -1;
    }
    for (nfds_t i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL) {
            free(p);
            errno = EBADF;
            return -1;
        }
    size_t words = ((size_t)nfds + NBITS - 1) / NBITS;
    fd_set *sets[3] = { r, w, e };
    for (int s = 0; s < 3; s++)
        if (sets[s])
            memset(sets[s], 0, words * sizeof(unsigned long));
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        short rev = p[i].revents;
        int fd = p[i].fd;
        if (r && (p[i].events & POLLIN) && (rev & POLLIN_SET)) {
            set_bit(r, fd);
            count++;
        }
        if (w && (p[i].events & POLLOUT) && (rev & POLLOUT_SET)) {
            set_bit(w, fd);
            count++;
        }
        if (e && (p[i].events & POLLPRI) && (rev & POLLEX_SET)) {
            set_bit(e, fd);
            count++;
        }
    }
    free(p);
    return count;
}

EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (!select_needs_us(nfds, r, w, e)) {
        select_fn f = REAL(SELECT, select_fn);
        return f ? f(nfds, r, w, e, tv) : -1;
    }
    if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
        errno = EINVAL;
        return -1;
    }
    struct timespec t;
    int64_t start = torify_now_ns();
    if (tv) {
        t.tv_sec = tv->tv_sec;
        t.tv_nsec = tv->tv_usec * 1000;
    }
    int rc = select_via_ppoll(nfds, r, w, e, tv ? &t : NULL, NULL);
    if (tv) {
        /* Linux select() leaves the time not slept in *tv. */
        /* Subtracted field by field: tv_sec may be huge ("forever"). */
        int64_t el = torify_now_ns() - start;
        int64_t sec = (int64_t)tv->tv_sec - el / 1000000000;
        int64_t usec = (int64_t)tv->tv_usec - (el % 1000000000) / 1000;
        if (usec < 0) {
            usec += 1000000;
            sec--;
        }
        if (sec < 0)
            sec = usec = 0;
        tv->tv_sec = (time_t)sec;
        tv->tv_usec = (suseconds_t)usec;
    }
    return rc;
}

EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo, const sigset_t *mask)
{
    if (!select_needs_us(nfds, r, w, e)) {
        pselect_fn f = REAL(PSELECT, pselect_fn);
        return f ? f(nfds, r, w, e, tmo, mask) : -1;
    }
    if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    return select_via_ppoll(nfds, r, w, e, tmo, mask);
}
