/* shim/nb_helper.c — the helper thread that runs non-blocking SOCKS
 * handshakes (see nb.h and docs/DESIGN.md, "Non-blocking connects").
 *
 * One per process, started by the first non-blocking connect through Tor,
 * with every signal blocked (a program's handlers never run on it), and
 * started again in a forked child when that child makes such a connect.
 * It owns an epoll set watching its dups of the sockets, drives the codec
 * with torify_socks_advance — which never reads past the SOCKS reply, so
 * no application byte is taken — and enforces each connection's deadline.  It only ever touches its own dups and, at completion, the
 * program's epoll sets through its own dups of those.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kcmp.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sys.h"
#include "shim/state.h"
#include "shim/explain.h"
#include "shim/nb.h"
#include "shim/real.h"
#include "core/clock.h"
#include "shim/tor.h"


/* The program may close torify's own fds (a close-all loop, close_range,
 * dup2 onto them) after the helper started, and give the numbers to files
 * of its own.  So every use of the helper's fds first checks they are
 * still ours: the wake-up eventfd by its (anonymous) inode — that tells it
 * from any file, pipe or socket — and the epoll set by kcmp against a
 * second reference.  A helper whose fds are gone fails its connections
 * (EBADF), forgets the numbers without closing them (they are the
 * program's now) and ends; the next non-blocking connect starts a new one
 * with new fds. */

/* All of the helper's state is torify_shim.nb (shim/state.h); the helper
 * thread itself works from its copy of the fds it started with, passed
 * down as h. */
static struct torify_shim_nb *const nb = &torify_shim.nb;

static int real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    torify_epoll_ctl_fn f = REAL(EPOLL_CTL, torify_epoll_ctl_fn);
    return f ? f(epfd, op, fd, ev) : -1;
}

static bool wake_is_ours(int fd, dev_t dev, ino_t ino)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* 1: ep and ep2 are the same epoll set; 0: not (closed, replaced); kcmp
 * missing or not permitted: assume they are. */
static bool epoll_is_ours(int ep, int ep2)
{
    torify_syscall_fn sys = REAL(SYSCALL, torify_syscall_fn);
    if (!sys)
        return true;
    pid_t me = getpid();
    long k = sys(SYS_kcmp, (long)me, (long)me, (long)KCMP_FILE, (long)ep, (long)ep2);
    if (k == 0)
        return true;
    return k < 0 && errno != EBADF && errno != EINVAL;
}

static bool fds_are_ours(const struct torify_nb_fds *h)
{
    int saved = errno;
    bool ok = wake_is_ours(h->wake, h->wake_dev, h->wake_ino) && epoll_is_ours(h->ep, h->ep2);
    errno = saved;
    return ok;
}

void torify_nb_wake(void)
{
    int w = atomic_load(&nb->wake1) - 1;
    /* fstat is async-signal-safe: close() may call this from a handler. */
    if (w >= 0 && wake_is_ours(w, nb->wake_dev, nb->wake_ino)) {
        uint64_t one = 1;
        ssize_t r = write(w, &one, sizeof one);
        (void)r; /* a full counter already means "wake up" */
    }
}

/* ---- completion -------------------------------------------------------- */

static bool same_socket(const struct nb_conn *c)
{
    struct stat st;
    return fstat(c->fd, &st) == 0 && st.st_ino == c->ino && st.st_dev == c->dev;
}

/* Make the program's socket report the failure the way a failed TCP connect
 * does: unconnected (so it may connect again), POLLOUT|POLLHUP.  A unix
 * socket (Tor on a unix path) cannot disconnect: shut it down instead. */
static void disconnect(int fd)
{
    struct sockaddr sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_family = AF_UNSPEC;
    if (torify_real_connect(fd, &sa, sizeof sa) != 0)
        (void)torify_sys_shutdown(fd, SHUT_RDWR);
}

static void finish(const struct torify_nb_fds *h, struct nb_conn *c, torify_err e, int sys_errno)
{
    (void)real_epoll_ctl(h->ep, EPOLL_CTL_DEL, c->dup, NULL);
    bool cancelled = atomic_load(&c->cancelled);
    int err = 0;
    if (e != TORIFY_OK) {
        err = e == TORIFY_E_IO && sys_errno ? sys_errno : torify_err_errno(e);
        if (!cancelled) {
            disconnect(c->dup);
            char why[TORIFY_EXPLAIN_MAX];
            torify_log(TORIFY_LOG_NOTICE, "connect to %s through Tor failed (%s)%s", c->what, torify_strerror(e),
                       torify_explain(&torify_state_config()->cfg, why, sizeof why));
            torify_log(TORIFY_LOG_DEBUG, "the SOCKS handshake for %s ended in %s", c->what,
                       torify_socks_state_name(&c->codec));
        } else if (!atomic_load(&c->detached)) {
            /* The program let go mid-handshake, but the socket may live on
             * elsewhere (a forked child, a dup): shut it so nobody can mix
             * data into a half-done SOCKS exchange or read its reply.  Not
             * after connect()'s own disconnect (EINTR): the program may be
             * connecting that socket again already. */
            (void)torify_sys_shutdown(c->dup, SHUT_RDWR);
        }
    }
    pthread_mutex_lock(&c->lock);
    /* From here until swapping is 0 again the program's fd number is used
     * (fstat, epoll_ctl ADD): a close() racing with us waits for that
     * (nb_conn.c).  Set only while holding the lock and doing nothing but
     * non-blocking system calls, so that wait always ends. */
    atomic_store(&c->swapping, 1);
    cancelled = atomic_load(&c->cancelled);
    atomic_store(&c->err, err);
    uint64_t w = atomic_load(&c->gs);
    atomic_store(&c->gs, nb_gs(nb_gen_of(w), e == TORIFY_OK ? NB_OK : NB_FAILED));
    for (int i = 0; i < NB_REGS; i++) {
        struct nb_reg *r = &c->regs[i];
        if (r->epfd < 0)
            continue;
        (void)real_epoll_ctl(r->epdup, EPOLL_CTL_DEL, c->evfd, NULL);
        /* Added while ready, the real fd is reported at once (EPOLLET too).
         * The fd number is checked to still be our socket: the program may
         * have closed and reused it in a race with us. */
        if (!cancelled && same_socket(c)) {
            struct epoll_event ev = r->ev;
            (void)real_epoll_ctl(r->epdup, EPOLL_CTL_ADD, c->fd, &ev);
        }
        torify_real_close(r->epdup);
        r->epdup = -1;
        r->epfd = -1;
    }
    atomic_store(&c->swapping, 0);
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_sub(&nb->active, 1);
    uint64_t one = 1;
    if (write(c->evfd, &one, sizeof one) < 0) {
        /* cannot happen: the counter is written once */
    }
    torify_nb_ev_drop(c); /* the helper's hold: no waiter left, no eventfd */
    torify_real_close(c->dup);
    c->dup = -1;
    c->finished = true;
}

/* ---- driving the handshake ---------------------------------------------- */

static void want_events(const struct torify_nb_fds *h, struct nb_conn *c, uint32_t ev)
{
    if (c->interest == ev)
        return;
    struct epoll_event e = { .events = ev, .data.ptr = c };
    if (real_epoll_ctl(h->ep, EPOLL_CTL_MOD, c->dup, &e) == 0)
        c->interest = ev;
}

/* The codec over our dup, through libtorify-socks' one driver; epoll
 * tells when to go on. */
static void drive(const struct torify_nb_fds *h, struct nb_conn *c)
{
    enum torify_socks_want w = torify_socks_advance(&c->codec, c->dup);
    if (w == TORIFY_SOCKS_DONE)
        finish(h, c, TORIFY_OK, 0);
    else if (w == TORIFY_SOCKS_FAILED)
        finish(h, c, torify_socks_error(&c->codec), errno);
    else
        want_events(h, c, w == TORIFY_SOCKS_WANT_WRITE ? EPOLLOUT : EPOLLIN);
}

/* Is c's dup still our reference to the program's socket?  (The program
 * may have closed our numbers and reused them.)  If not, forget it: it is
 * never used, shut down or closed again. */
static bool dup_is_ours(struct nb_conn *c)
{
    struct stat st;
    int saved = errno;
    bool ok = c->dup >= 0 && fstat(c->dup, &st) == 0 && st.st_ino == c->ino && st.st_dev == c->dev;
    errno = saved;
    if (!ok)
        c->dup = -1;
    return ok;
}

/* The TCP connect to Tor failed (why: its errno): the connect fails, and
 * nothing goes anywhere else. */
static void unreachable(const struct torify_nb_fds *h, struct nb_conn *c, int why)
{
    torify_tor_log_unreachable(&torify_state_config()->cfg, c->what, why);
    finish(h, c, TORIFY_E_PROXY_UNREACHABLE, 0);
}

static void step(const struct torify_nb_fds *h, struct nb_conn *c, uint32_t events)
{
    if (!dup_is_ours(c)) {
        finish(h, c, TORIFY_E_IO, EBADF);
        return;
    }
    if (!c->tcp_up) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        torify_getsockopt_fn gso = REAL(GETSOCKOPT, torify_getsockopt_fn);
        if (!gso || gso(c->dup, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno ? errno : EIO;
        if (soerr != 0) {
            unreachable(h, c, soerr);
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        c->tcp_up = true;
    }
    drive(h, c);
}

static void take_queue(const struct torify_nb_fds *h, struct nb_conn **active)
{
    pthread_mutex_lock(&nb->helper_lock);
    struct nb_conn *q = NULL;
    if (atomic_load(&nb->gen) == h->gen) { /* a superseded helper takes no new work */
        q = nb->queue;
        nb->queue = NULL;
    }
    pthread_mutex_unlock(&nb->helper_lock);
    while (q) {
        struct nb_conn *c = q;
        q = q->next;
        struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
        c->interest = EPOLLOUT;
        c->next = *active;
        *active = c;
        if (real_epoll_ctl(h->ep, EPOLL_CTL_ADD, c->dup, &e) != 0)
            finish(h, c, TORIFY_E_IO, errno);
    }
}

/* This helper's fds are gone (or it was superseded): fail what it drives
 * and, if it is still the current helper, what waits in the queue, then
 * forget the numbers. */
static void abandon(struct torify_nb_fds *h, struct nb_conn *active)
{
    torify_log(TORIFY_LOG_NOTICE, "the program closed torify's handshake helper's fds: "
                                  "connections in flight fail (EBADF), the next one starts a new helper");
    pthread_mutex_lock(&nb->helper_lock);
    struct nb_conn *q = NULL;
    if (atomic_load(&nb->gen) == h->gen) {
        q = nb->queue;
        nb->queue = NULL;
        nb->helper_pid = 0;
        nb->helper.ep = nb->helper.ep2 = nb->helper.wake = -1;
        atomic_store(&nb->wake1, 0);
    }
    pthread_mutex_unlock(&nb->helper_lock);
    while (q) {
        struct nb_conn *c = q;
        q = q->next;
        c->next = active;
        active = c;
    }
    while (active) {
        struct nb_conn *c = active;
        active = c->next;
        if (!c->finished) {
            (void)dup_is_ours(c);
            finish(h, c, TORIFY_E_IO, EBADF);
        }
        torify_nb_put(c); /* the helper's reference */
    }
}

static void *helper_main(void *arg)
{
    struct torify_nb_fds h = *(struct torify_nb_fds *)arg;
    free(arg);
    struct nb_conn *active = NULL;
    for (;;) {
        if (atomic_load(&nb->gen) != h.gen || !fds_are_ours(&h))
            break;
        int64_t now = torify_now_ms();
        int timeout = -1;
        for (struct nb_conn *c = active; c; c = c->next) {
            int64_t left = (c->tcp_up ? c->deadline_ms : c->connect_deadline_ms) - now;
            if (left < 0)
                left = 0;
            if (timeout < 0 || left < timeout)
                timeout = left > 1000 ? 1000 : (int)left; /* also: notice being superseded */
        }
        struct epoll_event evs[64];
        int n = epoll_wait(h.ep, evs, 64, timeout);
        if (n < 0 && errno != EINTR)
            break; /* the number is no epoll set any more */
        for (int i = 0; i < n; i++) {
            struct nb_conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t v;
                if (wake_is_ours(h.wake, h.wake_dev, h.wake_ino)) {
                    ssize_t r = read(h.wake, &v, sizeof v);
                    (void)r;
                }
                take_queue(&h, &active);
            } else if (!c->finished) {
                step(&h, c, evs[i].events);
            }
        }
        /* Cancels, deadlines, and letting go of finished connections. */
        now = torify_now_ms();
        for (struct nb_conn **pp = &active; *pp;) {
            struct nb_conn *c = *pp;
            if (!c->finished && atomic_load(&c->cancelled))
                finish(&h, c, TORIFY_E_IO, ECANCELED);
            else if (!c->finished && !c->tcp_up && now >= c->connect_deadline_ms &&
                     c->connect_deadline_ms < c->deadline_ms)
                unreachable(&h, c, ETIMEDOUT); /* the table's connect bound: Tor is not there */
            else if (!c->finished && now >= c->deadline_ms)
                finish(&h, c, TORIFY_E_TIMEOUT, 0);
            if (c->finished) {
                *pp = c->next;
                torify_nb_put(c); /* the helper's reference */
            } else {
                pp = &c->next;
            }
        }
    }
    abandon(&h, active);
    return NULL;
}

/* ---- fork ---------------------------------------------------------------- */

/* In a forked child: the parent's helper does not exist here.  Connections
 * it was driving go on in the parent (the socket is shared); in the child
 * they become orphans — plain sockets as far as torify is concerned — and
 * the child's copies of the helper's fds are closed. */
static void orphan(struct nb_conn *c)
{
    /* Every lock, whatever the phase: the parent's helper may have been in
     * finish() (phase already OK/FAILED, lock still held) at the fork, and
     * the child recycles and locks this object again on a later connect. */
    pthread_mutex_init(&c->lock, NULL);
    atomic_store(&c->swapping, 0); /* the parent's helper does not exist here */
    uint64_t w = atomic_load(&c->gs);
    enum nb_phase p = nb_phase_of(w);
    if (p != NB_RESERVED && p != NB_CONNECTING)
        return;
    if (c->dup >= 0)
        torify_real_close(c->dup);
    c->dup = -1;
    for (int i = 0; i < NB_REGS; i++) {
        if (c->regs[i].epdup >= 0)
            torify_real_close(c->regs[i].epdup);
        c->regs[i].epdup = c->regs[i].epfd = -1;
    }
    atomic_store(&c->gs, nb_gs(nb_gen_of(w), NB_ORPHAN));
    if (p == NB_CONNECTING) {
        torify_nb_ev_drop(c); /* the parent's helper's hold */
        torify_nb_put(c); /* and its reference */
    }
}

void torify_nb_after_fork_child(void)
{
    pthread_mutex_init(&nb->helper_lock, NULL);
    /* The child's copies of the helper's fds — unless the program closed
     * them and the numbers are its files now. */
    if (nb->helper_pid && fds_are_ours(&nb->helper)) {
        torify_real_close(nb->helper.ep);
        torify_real_close(nb->helper.ep2);
        torify_real_close(nb->helper.wake);
    }
    nb->helper.ep = nb->helper.ep2 = nb->helper.wake = -1;
    atomic_store(&nb->wake1, 0);
    nb->helper_pid = 0;
    nb->queue = NULL;
    atomic_store(&nb->active, 0);
    torify_nb_each(orphan);
}

/* ---- starting, submitting ---------------------------------------------------- */

/* torify's own fds sit at high numbers when possible, so the program's own
 * fd numbering (lowest free number) is disturbed as little as possible. */
int torify_nb_dup_high(int fd)
{
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 256);
    if (d < 0)
        d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return d;
}

int torify_nb_move_high(int fd)
{
    if (fd < 0)
        return fd;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 256);
    if (d < 0)
        return fd;
    torify_real_close(fd);
    return d;
}

bool torify_nb_helper_ensure(void)
{
    torify_shim_fork_init(); /* a forked child forgets this helper (torify_nb_after_fork_child) */
    pid_t me = getpid();
    pthread_mutex_lock(&nb->helper_lock);
    bool ok = nb->helper_pid == me;
    if (ok && !fds_are_ours(&nb->helper)) {
        /* The program closed the helper's fds: that helper ends when it
         * sees the new generation; its numbers are the program's now. */
        atomic_fetch_add(&nb->gen, 1);
        nb->helper.ep = nb->helper.ep2 = nb->helper.wake = -1;
        atomic_store(&nb->wake1, 0);
        nb->helper_pid = 0;
        ok = false;
    }
    if (!ok) {
        struct torify_nb_fds *h = malloc(sizeof *h);
        int ep = torify_nb_move_high(epoll_create1(EPOLL_CLOEXEC));
        int ep2 = ep >= 0 ? torify_nb_dup_high(ep) : -1;
        int wk = torify_nb_move_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
        struct stat st;
        if (h && ep >= 0 && ep2 >= 0 && wk >= 0 && fstat(wk, &st) == 0 &&
            real_epoll_ctl(ep, EPOLL_CTL_ADD, wk, &e) == 0) {
            h->ep = ep;
            h->ep2 = ep2;
            h->wake = wk;
            h->wake_dev = st.st_dev;
            h->wake_ino = st.st_ino;
            h->gen = atomic_fetch_add(&nb->gen, 1) + 1;
            nb->helper = *h;
            nb->wake_dev = st.st_dev;
            nb->wake_ino = st.st_ino;
            atomic_store(&nb->wake1, wk + 1);
            sigset_t all, old;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &old);
            pthread_attr_t a;
            pthread_t t;
            pthread_attr_init(&a);
            pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&a, 256 * 1024);
            ok = pthread_create(&t, &a, helper_main, h) == 0; /* it frees h */
            pthread_attr_destroy(&a);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            if (ok) {
                nb->helper_pid = me;
            } else {
                nb->helper.ep = nb->helper.ep2 = nb->helper.wake = -1;
                atomic_store(&nb->wake1, 0);
            }
        }
        if (!ok) {
            free(h);
            if (ep >= 0)
                torify_real_close(ep);
            if (ep2 >= 0)
                torify_real_close(ep2);
            if (wk >= 0)
                torify_real_close(wk);
            torify_log(TORIFY_LOG_NOTICE, "cannot start the handshake helper thread: non-blocking connects block");
        }
    }
    pthread_mutex_unlock(&nb->helper_lock);
    return ok;
}

bool torify_nb_prepare(struct nb_conn *c, uint32_t gen, int fd, const struct torify_config *cfg,
                       const struct torify_target *target, int timeout_ms)
{
    struct stat st;
    c->fd = fd;
    c->dup = torify_nb_dup_high(fd);
    c->evfd = torify_nb_move_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (c->dup < 0 || c->evfd < 0 || fstat(fd, &st) != 0)
        goto fail;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    torify_target_format(target, c->what, sizeof c->what);
    struct torify_socks_opts o;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    torify_tor_opts(cfg, &o, timeout_ms, user, pass);
    /* The deadlines every connection to Tor has (socks/dial.h). */
    torify_sx_deadlines(&o, &c->connect_deadline_ms, &c->deadline_ms);
    if (torify_socks_init(&c->codec, o.proto ? o.proto : TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, target, o.user,
                          o.pass, o.flags) != TORIFY_OK)
        goto fail;
    pthread_mutex_lock(&c->lock);
    torify_nb_take_epoll_regs(c);
    pthread_mutex_unlock(&c->lock);
    (void)gen;
    return true;
fail:
    if (c->dup >= 0)
        torify_real_close(c->dup);
    c->dup = -1;
    /* Both references go: the object is recycled (closing evfd). */
    atomic_store(&c->gs, nb_gs(gen, NB_FAILED));
    torify_nb_put(c);
    torify_nb_put(c);
    return false;
}

void torify_nb_submit(struct nb_conn *c)
{
    uint64_t w = atomic_load(&c->gs);
    atomic_fetch_add(&nb->active, 1);
    atomic_store(&c->gs, nb_gs(nb_gen_of(w), NB_CONNECTING));
    pthread_mutex_lock(&nb->helper_lock);
    c->next = nb->queue;
    nb->queue = c;
    pthread_mutex_unlock(&nb->helper_lock);
    torify_nb_wake();
}
