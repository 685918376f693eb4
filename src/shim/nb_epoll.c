/* shim/nb_epoll.c — epoll_ctl(): a connecting socket stays out of the
 * program's epoll sets until its handshake through Tor is done.
 *
 * While a connect is in flight, ADD/MOD/DEL of its fd are recorded in the
 * connection (nb.h) and applied to a placeholder eventfd registered with
 * no events but the program's epoll_data; at completion the helper swaps
 * the real fd in.  So epoll_wait needs no interposition and reports the fd
 * only when the connection through Tor is usable.
 *
 * A socket may also be registered before connect() (ADD of an unconnected
 * socket).  For those the last epoll fd it was added to is remembered
 * (one atomic store per ADD of an untracked fd < 65536), and connect()
 * reads the registration back from /proc/self/fdinfo of that epoll fd,
 * checked by inode, and moves it onto the placeholder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/state.h"
#include "shim/nb.h"
#include "shim/real.h"

static struct nb_reg *find_reg(struct nb_conn *c, int epfd)
{
    for (int i = 0; i < NB_REGS; i++)
        if (c->regs[i].epfd == epfd)
            return &c->regs[i];
    return NULL;
}

/* Is epfd still the epoll set r was recorded for?  The program may have
 * closed it and got the same number for a new set (all epoll fds share one
 * anonymous inode, so fstat cannot tell): kcmp compares the files.  Where
 * kcmp is missing, assume it is. */
/* kcmp(KCMP_FILE) of two of our fds: 0 same file, -1 cannot tell. */
static long kcmp_files(int a, int b)
{
    torify_syscall_fn sys = REAL(SYSCALL, torify_syscall_fn);
    if (!sys)
        return -1;
    pid_t me = getpid();
    return sys(SYS_kcmp, (long)me, (long)me, (long)KCMP_FILE, (long)a, (long)b);
}

static bool same_set(const struct nb_reg *r, int epfd)
{
    long k = kcmp_files(epfd, r->epdup);
    return k == 0 || k < 0;
}

/* A registration in a set the program has closed since: forget it (the
 * placeholder goes with our dup of the dead set). */
static void drop_reg(struct nb_conn *c, struct nb_reg *r, torify_epoll_ctl_fn real)
{
    (void)real(r->epdup, EPOLL_CTL_DEL, c->evfd, NULL);
    torify_real_close(r->epdup);
    r->epdup = r->epfd = -1;
}

/* The registration of c in the program's set epfd, or NULL. */
static struct nb_reg *live_reg(struct nb_conn *c, int epfd, torify_epoll_ctl_fn real)
{
    struct nb_reg *r = find_reg(c, epfd);
    if (r && !same_set(r, epfd)) {
        drop_reg(c, r, real);
        r = NULL;
    }
    if (!r) /* another number for a set we know (the program dup'ed its epoll fd)? */
        for (int i = 0; i < NB_REGS; i++)
            if (c->regs[i].epfd >= 0 && kcmp_files(epfd, c->regs[i].epdup) == 0)
                return &c->regs[i];
    return r;
}

/* The placeholder's events: the program's flags (so the kernel applies its
 * own rules to them: EPOLLEXCLUSIVE with EPOLLONESHOT, MOD of an exclusive
 * entry...) without any readiness event.  An eventfd never reports
 * EPOLLERR/EPOLLHUP, so the placeholder is never ready. */
static uint32_t placeholder_events(uint32_t events)
{
    return events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP);
}

/* Register c's placeholder in epfd for the program's (events, data).
 * c->lock held.  0 or an errno. */
static int add_reg(struct nb_conn *c, int epfd, const struct epoll_event *ev)
{
    torify_epoll_ctl_fn real = REAL(EPOLL_CTL, torify_epoll_ctl_fn);
    if (!real)
        return ENOSYS;
    if (live_reg(c, epfd, real))
        return EEXIST;
    struct nb_reg *r = find_reg(c, -1);
    if (!r)
        return ENOSPC;
    int d = torify_nb_dup_high(epfd);
    if (d < 0)
        return errno == EBADF ? EBADF : ENOMEM;
    struct epoll_event ph = { .events = placeholder_events(ev->events), .data = ev->data };
    if (real(d, EPOLL_CTL_ADD, c->evfd, &ph) != 0) {
        int e = errno;
        torify_real_close(d);
        return e;
    }
    r->epfd = epfd;
    r->epdup = d;
    r->ev = *ev;
    return 0;
}

static int epoll_ctl_tracked(torify_epoll_ctl_fn real, int epfd, int op, int fd, struct epoll_event *event);

static int epoll_ctl_slow(int epfd, int op, int fd, struct epoll_event *event);

/* Hot in event loops (a MOD per change of interest): the untracked case is
 * one table load, a bitmap test and a tail jump to libc (no stack frame);
 * the rest lives out of line. */
EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    torify_epoll_ctl_fn real = (torify_epoll_ctl_fn)torify_real_loaded(TORIFY_REAL_EPOLL_CTL);
    if (__builtin_expect(real != NULL && !torify_fd_tracked(fd), 1)) {
        if (op != EPOLL_CTL_MOD && (unsigned)fd < TORIFY_NB_PRE_MAX)
            atomic_store_explicit(&torify_shim.nb.pre_epfd[fd], op == EPOLL_CTL_ADD ? epfd + 1 : 0, memory_order_relaxed);
        return real(epfd, op, fd, event);
    }
    return epoll_ctl_slow(epfd, op, fd, event);
}

__attribute__((noinline)) static int epoll_ctl_slow(int epfd, int op, int fd, struct epoll_event *event)
{
    torify_epoll_ctl_fn real = REAL(EPOLL_CTL, torify_epoll_ctl_fn);
    if (!real)
        return -1;
    if (!torify_fd_tracked(fd)) {
        if (op != EPOLL_CTL_MOD && (unsigned)fd < TORIFY_NB_PRE_MAX)
            atomic_store_explicit(&torify_shim.nb.pre_epfd[fd], op == EPOLL_CTL_ADD ? epfd + 1 : 0, memory_order_relaxed);
        return real(epfd, op, fd, event);
    }
    return epoll_ctl_tracked(real, epfd, op, fd, event);
}

__attribute__((noinline)) static int epoll_ctl_tracked(torify_epoll_ctl_fn real, int epfd, int op, int fd,
                                                      struct epoll_event *event)
{
    if (!torify_nb_maybe_connecting(fd))
        return real(epfd, op, fd, event); /* done long ago: no fstat per MOD */
    enum nb_phase ph;
    struct nb_conn *c = torify_nb_get(fd, &ph);
    if (!c)
        return real(epfd, op, fd, event);
    if (ph != NB_CONNECTING) {
        torify_nb_put(c);
        return real(epfd, op, fd, event);
    }
    pthread_mutex_lock(&c->lock);
    int err = 0;
    bool passed = false;
    int r = 0;
    if (nb_phase_of(atomic_load(&c->gs)) != NB_CONNECTING || c->fd != fd) {
        /* Completed meanwhile: the real fd is what the program gets now. */
        passed = true;
    } else if (epfd == fd || epfd < 0) {
        err = epfd == fd ? EINVAL : EBADF;
    } else if (op == EPOLL_CTL_ADD) {
        err = event ? add_reg(c, epfd, event) : EFAULT;
    } else if (op == EPOLL_CTL_MOD) {
        struct nb_reg *g = live_reg(c, epfd, real);
        if (!event) {
            err = EFAULT;
        } else if (!g) {
            err = ENOENT;
        } else {
            struct epoll_event ph2 = { .events = placeholder_events(event->events), .data = event->data };
            if (real(g->epdup, EPOLL_CTL_MOD, c->evfd, &ph2) != 0)
                err = errno;
            else
                g->ev = *event;
        }
    } else if (op == EPOLL_CTL_DEL) {
        struct nb_reg *g = live_reg(c, epfd, real);
        if (!g) {
            err = ENOENT;
        } else {
            (void)real(g->epdup, EPOLL_CTL_DEL, c->evfd, NULL);
            torify_real_close(g->epdup);
            g->epdup = g->epfd = -1;
        }
    } else {
        err = EINVAL;
    }
    if (passed)
        r = real(epfd, op, fd, event);
    int saved = errno;
    pthread_mutex_unlock(&c->lock);
    torify_nb_put(c);
    if (err) {
        errno = err;
        return -1;
    }
    errno = saved;
    return r;
}

/* ---- registrations made before connect() ------------------------------------ */

void torify_nb_take_epoll_regs(struct nb_conn *c)
{
    if ((unsigned)c->fd >= TORIFY_NB_PRE_MAX)
        return;
    int v = atomic_exchange_explicit(&torify_shim.nb.pre_epfd[c->fd], 0, memory_order_relaxed);
    if (v <= 0)
        return;
    int epfd = v - 1;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return;
    /* Lines "tfd: N events: HEX data: HEX  pos:N ino:HEX sdev:HEX". */
    char buf[4096];
    size_t have = 0;
    bool found = false;
    struct epoll_event ev;
    for (;;) {
        ssize_t n = read(f, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            int tfd;
            unsigned events;
            unsigned long long data, ino;
            char *ip = strstr(line, "ino:");
            if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &data) == 3 && tfd == c->fd && ip &&
                sscanf(ip, "ino:%llx", &ino) == 1 && ino == (unsigned long long)c->ino) {
                ev.events = events;
                ev.data.u64 = data;
                found = true;
            }
            line = nl + 1;
        }
        have = strlen(line);
        memmove(buf, line, have);
        if (found)
            break;
    }
    torify_real_close(f);
    if (!found)
        return;
    torify_epoll_ctl_fn real = REAL(EPOLL_CTL, torify_epoll_ctl_fn);
    if (!real)
        return;
    /* Placeholder first, then out with the real fd: the program's entry is
     * never missing from its set. */
    if (add_reg(c, epfd, &ev) == 0)
        (void)real(epfd, EPOLL_CTL_DEL, c->fd, NULL);
}
