/*
 * guard/keeper.c — the process that keeps the guarded tree's private
 * network namespace and serves DNS inside it.
 *
 *   launcher (supervisor)                 keeper
 *   ---------------------                 ------
 *   socketpair (SEQPACKET), fork    --->  PR_SET_PDEATHSIG SIGKILL, fds closed
 *   first need of the namespace:
 *   "g" (go)                        --->  guard_ns_enter(CLONE_NEWNET)  (ns.c)
 *                                         guard_netns_seal              (netns.c)
 *                                         DNS responder sockets         (dns_serve.c)
 *   status: ok + namespace inode    <---  PR_SET_DUMPABLE 0
 *   socket(): "one of these, please" --->  socket() here, sent back (SCM_RIGHTS)
 *
 * A socket stays in the network namespace it was made in, whoever holds it
 * later: the supervisor installs the keeper's datagram sockets in the
 * guarded program (guard/socket.c), which then can send to any address and
 * reach nothing but this namespace's responder.  The keeper is a separate
 * process because a user namespace can only be entered by a single-threaded
 * one, and because the supervisor must stay in the real network namespace to
 * reach Tor.  It dies with the launcher (PDEATHSIG, and the control socket's
 * hang-up), never outlives it, and is not dumpable: a guarded program of the
 * same user cannot ptrace it (Landlock's scoping forbids it too).
 *
 * It is forked when the namespace is first needed, not at every start: a
 * fork costs the launcher its page tables' copy and a copy-on-write fault
 * on every page either side writes next, a network namespace about a
 * millisecond of CPU to make and again to tear down (docs/GUARD.md, "Where
 * a guarded start's time goes"), and most guarded programs never make a
 * datagram socket.  That first need may come in a supervisor thread, so
 * the fork may be one of a threaded process; what the keeper then uses is
 * safe in such a child: glibc's malloc and stdio are reset by its fork,
 * the log's lock is taken over from a thread the child does not have
 * (core/log_fold.c), the fake map's lock is a robust process-shared one,
 * and the supervisor's own locks are never touched.  PR_SET_PDEATHSIG
 * fires when the forking *thread* ends, and the supervisor's threads end
 * when idle: so only a keeper forked by the launcher's main thread (which
 * lives as long as the launcher) asks for it; any keeper ends at the
 * control socket's hang-up, which the launcher's exit causes however it
 * ends (the keeper alone holds the other end).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include "guard/guard.h"
#include "guard/internal.h"
#include "guard/log.h"

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

/* How long the keeper may take to tell its last refusals and end. */
#define KEEPER_EXIT_GRACE_MS 100

/* What the keeper says once it is ready (or why it is not). */
struct keeper_status {
    int err;            /* 0 or errno */
    uint64_t net_ino;   /* its network namespace */
    uint64_t net_dev;
    int ipv6;
    char why[200];
};

/* One request: count sockets of this kind in the namespace (count <=
 * GUARD_KEEPER_BATCH), sent back in one message. */
struct keeper_req {
    int domain, type, protocol, count;
};

/* In the keeper: answer one socket request from the supervisor. */
void guard_keeper_serve_request(int ctl)
{
    struct keeper_req rq;
    int stray[GUARD_FDPASS_MAX], ns = 0;
    ssize_t n = guard_fd_recv(ctl, &rq, sizeof rq, stray, GUARD_FDPASS_MAX, &ns);
    for (int i = 0; i < ns; i++)
        close(stray[i]);
    if (n <= 0)
        _exit(0); /* the launcher is gone */
    int fds[GUARD_KEEPER_BATCH], made = 0, err = 0;
    if (n != (ssize_t)sizeof rq || (rq.domain != AF_INET && rq.domain != AF_INET6) || rq.count < 1 ||
        rq.count > GUARD_KEEPER_BATCH) {
        err = EINVAL;
    } else {
        while (made < rq.count) {
            int fd = socket(rq.domain, rq.type | SOCK_CLOEXEC, rq.protocol);
            if (fd < 0) {
                err = errno;
                break;
            }
            fds[made++] = fd;
        }
    }
    if (made > 0)
        err = 0; /* some made: the supervisor takes what came */
    guard_fd_send(ctl, &err, sizeof err, fds, made);
    for (int i = 0; i < made; i++)
        close(fds[i]);
}

static void keeper_signals(void)
{
    /* Terminal signals reach the whole foreground process group, the
     * keeper included: it ends with the launcher, not before. */
    static const int ignored[] = {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        signal(ignored[i], SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void keeper_main(const struct guard_sup *s, int ctl, int up, pid_t parent, bool deathsig)
{
    struct keeper_status st;
    memset(&st, 0, sizeof st);
    if ((deathsig && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) || getppid() != parent)
        _exit(0);
    keeper_signals();
    /* Only the control socket and stderr (for log lines) stay open: the
     * keeper must not hold the program's pipes or terminal. */
    if (ctl != 3) {
        if (dup2(ctl, 3) < 0)
            _exit(1);
        ctl = 3;
    }
    if (up >= 0) {
        if (up != 4 && dup2(up, 4) < 0)
            _exit(1);
        up = 4;
        fcntl(up, F_SETFD, FD_CLOEXEC);
    }
    close_range(up >= 0 ? 5 : 4, ~0U, 0);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 3)
            close(null);
    }
    fcntl(ctl, F_SETFD, FD_CLOEXEC);

    /* Idle until the supervisor first needs the namespace; the launcher's
     * end (hang-up, or PDEATHSIG) ends the wait. */
    char go = 0;
    ssize_t g;
    do
        g = recv(ctl, &go, 1, 0);
    while (g < 0 && errno == EINTR);
    if (g != 1 || go != 'g')
        _exit(0);

    bool userns = false;
    int r = guard_ns_enter(CLONE_NEWNET, &userns, st.why, sizeof st.why);
    bool v6 = false;
    if (r == 0) {
        r = guard_netns_seal(&v6);
        if (r < 0)
            snprintf(st.why, sizeof st.why, "setting up its loopback: %s", strerror(-r));
    }
    struct guard_dns_server srv;
    if (r == 0) {
        r = guard_dns_server_open(&srv, v6);
        if (r < 0)
            snprintf(st.why, sizeof st.why, "opening the DNS responder: %s", strerror(-r));
    }
    if (r == 0) {
        struct stat ns;
        if (stat("/proc/self/ns/net", &ns) != 0) {
            r = -errno;
            snprintf(st.why, sizeof st.why, "/proc/self/ns/net: %s", strerror(errno));
        } else {
            st.net_ino = ns.st_ino;
            st.net_dev = ns.st_dev;
        }
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    st.err = r < 0 ? -r : 0;
    st.ipv6 = v6;
    if (guard_fd_send(ctl, &st, sizeof st, NULL, 0) != 0 || r < 0)
        _exit(0);
    guard_dns_server_run(&srv, s, ctl, up);
    _exit(0);
}

void guard_keeper_start(struct guard_keeper *k)
{
    memset(k, 0, sizeof *k);
    k->pid = -1;
    k->ctl = -1;
    k->up[0] = k->up[1] = -1;
    pthread_mutex_init(&k->mu, NULL);
    atomic_store(&k->state, KEEPER_UNBORN);
}

/* With k->mu held: fork the keeper, idle.  0, or -1 with k->why. */
static int keeper_fork(struct guard_keeper *k, const struct guard_sup *s)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        snprintf(k->why, sizeof k->why, "socketpair: %s", strerror(errno));
        return -1;
    }
    k->up[0] = k->up[1] = -1;
    if (s->cfg.resolve_through_tor && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, k->up) != 0) {
        snprintf(k->why, sizeof k->why, "socketpair: %s", strerror(errno));
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    pid_t parent = getpid();
    bool deathsig = gettid() == parent; /* the main thread */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(k->why, sizeof k->why, "fork: %s", strerror(errno));
        close(sp[0]);
        close(sp[1]);
        if (k->up[0] >= 0) {
            close(k->up[0]);
            close(k->up[1]);
            k->up[0] = k->up[1] = -1;
        }
        return -1;
    }
    if (pid == 0) {
        close(sp[0]);
        if (k->up[0] >= 0)
            close(k->up[0]);
        /* dup2 over 3 must not close the other end: move ctl clear of it. */
        int ctl = sp[1], up = k->up[1];
        if (up == 3) {
            up = fcntl(up, F_DUPFD_CLOEXEC, 5);
            close(3);
        }
        keeper_main(s, ctl, up, parent, deathsig);
        _exit(0);
    }
    close(sp[1]);
    if (k->up[1] >= 0)
        close(k->up[1]);
    k->up[1] = -1;
    k->pid = pid;
    k->ctl = sp[0];
    atomic_store(&k->state, KEEPER_IDLE);
    return 0;
}

/* With k->mu held: read the keeper's status (once). */
static void keeper_await(struct guard_keeper *k, const struct guard_sup *s)
{
    struct keeper_status st;
    memset(&st, 0, sizeof st);
    struct pollfd p = {.fd = k->ctl, .events = POLLIN};
    int stray[GUARD_FDPASS_MAX], ns = 0;
    ssize_t n = -1;
    int pr;
    do
        pr = poll(&p, 1, 5000);
    while (pr < 0 && errno == EINTR);
    if (pr == 1)
        n = guard_fd_recv(k->ctl, &st, sizeof st, stray, GUARD_FDPASS_MAX, &ns);
    for (int i = 0; i < ns; i++)
        close(stray[i]);
    if (n != (ssize_t)sizeof st || st.err != 0) {
        if (n == (ssize_t)sizeof st) {
            st.why[sizeof st.why - 1] = '\0';
            snprintf(k->why, sizeof k->why, "%s", st.why);
        } else {
            snprintf(k->why, sizeof k->why, "its helper process did not start");
        }
        close(k->ctl);
        k->ctl = -1;
        if (k->up[0] >= 0)
            close(k->up[0]);
        k->up[0] = -1;
        kill(k->pid, SIGKILL);
        while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        k->pid = -1;
        atomic_store(&k->state, KEEPER_DOWN);
        guard_log(s, TORIFY_LOG_INFO, "guard: no private network namespace for datagram sockets (%s): "
                                      "UDP, and DNS of programs that resolve names themselves, is refused",
                  k->why);
        return;
    }
    k->net_ino = st.net_ino;
    k->net_dev = st.net_dev;
    k->ipv6 = st.ipv6 != 0;
    atomic_store(&k->state, KEEPER_UP);
    guard_log(s, TORIFY_LOG_DEBUG, "guard: datagram sockets are made in a sealed network namespace "
                                   "(pid %d), DNS on port 53 is answered by torify",
              (int)k->pid);
}

bool guard_keeper_ready(struct guard_keeper *k, const struct guard_sup *s)
{
    int st = atomic_load(&k->state);
    if (st != KEEPER_UNBORN && st != KEEPER_IDLE && st != KEEPER_PENDING)
        return st == KEEPER_UP;
    pthread_mutex_lock(&k->mu);
    if (atomic_load(&k->state) == KEEPER_UNBORN && keeper_fork(k, s) != 0) {
        atomic_store(&k->state, KEEPER_DOWN);
        guard_log(s, TORIFY_LOG_INFO, "guard: no private network namespace for datagram sockets (%s): "
                                      "UDP, and DNS of programs that resolve names themselves, is refused",
                  k->why);
    }
    if (atomic_load(&k->state) == KEEPER_IDLE) {
        /* A failed send shows as no status: keeper_await says why. */
        (void)guard_fd_send(k->ctl, "g", 1, NULL, 0);
        atomic_store(&k->state, KEEPER_PENDING);
    }
    if (atomic_load(&k->state) == KEEPER_PENDING)
        keeper_await(k, s);
    st = atomic_load(&k->state);
    pthread_mutex_unlock(&k->mu);
    return st == KEEPER_UP;
}

/* One round trip to the keeper for up to count sockets, under k->mu. */
static int ask_locked(struct guard_keeper *k, int domain, int type, int protocol, int count, int *fds, int *got)
{
    struct keeper_req rq = {domain, type, protocol, count};
    int err = EIO;
    *got = 0;
    if (guard_fd_send(k->ctl, &rq, sizeof rq, NULL, 0) == 0) {
        ssize_t n = guard_fd_recv(k->ctl, &err, sizeof err, fds, count, got);
        if (n != (ssize_t)sizeof err)
            err = EIO;
    }
    if (*got > 0)
        return 0;
    return -(err ? err : EIO);
}

int guard_keeper_socket(struct guard_keeper *k, int domain, int type, int protocol)
{
    if (atomic_load(&k->state) != KEEPER_UP)
        return -ENOSYS;
    int fd = -1, r;
    pthread_mutex_lock(&k->mu);
    /* UDP sockets, the common request (a resolver makes one per query),
     * come from a small stock fetched GUARD_KEEPER_BATCH at a time: one
     * round trip to the keeper per batch instead of per socket.  Stocked
     * ones are blocking; O_NONBLOCK is a flag of the file, set here on the
     * one handed out, which nobody else holds. */
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    int slot = domain == AF_INET ? 0 : domain == AF_INET6 ? 1 : -1;
    if (slot >= 0 && base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)) {
        if (k->stock_n[slot] == 0) {
            int got = 0;
            r = ask_locked(k, domain, SOCK_DGRAM, 0, GUARD_KEEPER_BATCH, k->stock[slot], &got);
            k->stock_n[slot] = got;
            if (r < 0) {
                pthread_mutex_unlock(&k->mu);
                return r;
            }
        }
        fd = k->stock[slot][--k->stock_n[slot]];
        pthread_mutex_unlock(&k->mu);
        if ((type & SOCK_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
            r = -errno;
            close(fd);
            return r;
        }
        return fd;
    }
    int got = 0;
    r = ask_locked(k, domain, type, protocol, 1, &fd, &got);
    pthread_mutex_unlock(&k->mu);
    return r < 0 ? r : fd;
}

bool guard_keeper_up(const struct guard_keeper *k)
{
    return atomic_load(&k->state) == KEEPER_UP;
}

bool guard_keeper_owns(const struct guard_keeper *k, int sockfd)
{
    if (atomic_load(&k->state) != KEEPER_UP)
        return false;
    int ns = ioctl(sockfd, SIOCGSKNS);
    if (ns < 0)
        return false;
    struct stat st;
    bool mine = fstat(ns, &st) == 0 && st.st_ino == k->net_ino && st.st_dev == k->net_dev;
    close(ns);
    return mine;
}

int torify_guard_dns_check(char *buf, size_t len)
{
    return guard_keeper_probe(buf, len);
}

int guard_keeper_probe(char *why, size_t why_len)
{
    /* What torify show reports: can this machine make the namespace?  A
     * child tries (unshare needs a single-threaded caller) and says. */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        char w[200] = "";
        bool userns;
        bool v6;
        int r = guard_ns_enter(CLONE_NEWNET, &userns, w, sizeof w);
        if (r == 0 && (r = guard_netns_seal(&v6)) < 0)
            snprintf(w, sizeof w, "setting up its loopback: %s", strerror(-r));
        if (r == 0)
            snprintf(w, sizeof w, "%s", userns ? "in a user namespace" : "privileged");
        char out[210];
        int n = snprintf(out, sizeof out, "%c%s", r == 0 ? '+' : '-', w);
        ssize_t wr = write(pfd[1], out, (size_t)(n < 0 ? 0 : n));
        (void)wr;
        _exit(0);
    }
    close(pfd[1]);
    char buf[210];
    ssize_t n;
    do
        n = read(pfd[0], buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (n <= 1) {
        snprintf(why, why_len, "the probe process said nothing");
        return -1;
    }
    buf[n] = '\0';
    snprintf(why, why_len, "%s", buf + 1);
    return buf[0] == '+' ? 0 : -1;
}

void guard_keeper_stop(struct guard_keeper *k)
{
    if (atomic_load(&k->state) == KEEPER_DOWN)
        return;
    /* The hang-up tells the keeper to report its last refused datagrams
     * and end; it gets a moment for that, then is killed (PDEATHSIG would
     * do it too when the launcher exits). */
    pthread_mutex_lock(&k->mu);
    int was = atomic_load(&k->state);
    bool pending = was == KEEPER_IDLE || was == KEEPER_PENDING;
    atomic_store(&k->state, KEEPER_DOWN);
    if (was == KEEPER_UNBORN) {
        pthread_mutex_unlock(&k->mu); /* never needed, never forked */
        return;
    }
    close(k->ctl);
    k->ctl = -1;
    for (int f = 0; f < 2; f++)
        while (k->stock_n[f] > 0)
            close(k->stock[f][--k->stock_n[f]]);
    pthread_mutex_unlock(&k->mu);
    if (pending) {
        /* Nothing ever asked for the namespace, or its status was never
         * read: no socket of the program lives there and there is nothing
         * to report.  Not waited for (it would finish its set-up first). */
        kill(k->pid, SIGKILL);
        while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return;
    }
    /* Woken by its exit (a pidfd becomes readable), not by polling: a
     * sleep here was paid at the end of every guarded run. */
    int pfd = guard_pidfd_open(k->pid);
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int pr;
        do
            pr = poll(&p, 1, KEEPER_EXIT_GRACE_MS);
        while (pr < 0 && errno == EINTR);
        close(pfd);
    }
    /* Without a pidfd (it is looked at again every 2 ms), or with one
     * once it woke or timed out (a single look). */
    for (int i = 0; i < (pfd >= 0 ? 1 : KEEPER_EXIT_GRACE_MS / 2); i++) {
        pid_t w = waitpid(k->pid, NULL, WNOHANG);
        if (w == k->pid || (w < 0 && errno == ECHILD))
            return;
        if (pfd < 0)
            usleep(2000);
    }
    kill(k->pid, SIGKILL);
    while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
