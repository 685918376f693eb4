/*
 * guard/connect.c — one connect() of the guarded program, done by the
 * supervisor.
 *
 * The kernel re-reads user memory if a notified syscall is continued
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE), so a second thread of the program
 * could swap an allowed sockaddr (AF_UNIX) for a forbidden one after our
 * check.  The guard therefore never continues a connect: it reads the
 * sockaddr once, decides on that copy, and performs the connect itself —
 *   direct:  on the program's own socket (a duplicate got with
 *            pidfd_getfd), to the copied address;
 *   torify:  on a new socket of its own to Tor, SOCKS CONNECT to the copied
 *            destination, then swapped in at the program's fd number
 *            (SECCOMP_IOCTL_NOTIF_ADDFD + SETFD).
 * The notification is checked to be still pending (NOTIF_ID_VALID) after
 * every read of the program's state and before acting, so a pid reused by
 * another process is never acted upon.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "core/clock.h"
#include "core/policy.h"
#include "guard/internal.h"
#include "guard/log.h"

/* AF_UNIX paths are resolved by the kernel against the caller's cwd: a
 * relative path is rewritten to go through the program's cwd link. */
static int unix_abs(pid_t tid, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (*len <= (socklen_t)off || un->sun_path[0] == '\0' || un->sun_path[0] == '/')
        return 0; /* unnamed, abstract or absolute: as is */
    size_t plen = strnlen(un->sun_path, (size_t)*len - off);
    char rel[sizeof un->sun_path + 1];
    memcpy(rel, un->sun_path, plen);
    rel[plen] = '\0';
    int n = snprintf(un->sun_path, sizeof un->sun_path, "/proc/%d/cwd/%s", (int)tid, rel);
    if (n < 0 || (size_t)n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    *len = (socklen_t)(off + (size_t)n + 1);
    return 0;
}

static void describe(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    struct torify_target t;
    if ((ss->ss_family == AF_INET || ss->ss_family == AF_INET6) &&
        torify_target_sockaddr(&t, (const struct sockaddr *)ss, sizeof *ss) == TORIFY_OK) {
        torify_target_format(&t, buf, len);
        return;
    }
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        snprintf(buf, len, "unix:%s%.*s", un->sun_path[0] ? "" : "@", (int)sizeof un->sun_path - 1,
                 un->sun_path + (un->sun_path[0] ? 0 : 1));
        return;
    }
    snprintf(buf, len, "family %d", (int)ss->ss_family);
}

/* A blocking TCP connect is first given one clock tick (SO_SNDTIMEO, the
 * kernel's own bound on a blocking connect, set on the program's socket for
 * the length of this call and then put back): to Tor's address on this
 * machine it is done by then, and the answer goes back from this thread
 * without handing receiving on (which costs a wake-up of another thread on
 * the other CPU, about as much as the rest of the connect).  Still in
 * flight after the tick (a full backlog, a network far away), the rest is
 * waited for after the hand-on, up to the program's own SO_SNDTIMEO. */
static int connect_blocking_tcp(struct guard_sup *s, int dup, const struct sockaddr *sa, socklen_t len)
{
    struct timeval orig, tick = {0, 1}; /* rounded up to one tick by the kernel */
    socklen_t l = sizeof orig;
    if (getsockopt(dup, SOL_SOCKET, SO_SNDTIMEO, &orig, &l) != 0 || l != sizeof orig ||
        setsockopt(dup, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick) != 0) {
        guard_may_block(s);
        return connect(dup, sa, len) == 0 ? 0 : -errno;
    }
    int64_t t0 = torify_now_ms();
    int r = connect(dup, sa, len) == 0 ? 0 : -errno;
    if (setsockopt(dup, SOL_SOCKET, SO_SNDTIMEO, &orig, sizeof orig) != 0)
        guard_log(s, TORIFY_LOG_NOTICE, "guard: could not restore a socket's SO_SNDTIMEO: %s", strerror(errno));
    if (r != -EINPROGRESS)
        return r; /* done, or failed, within the tick */
    guard_may_block(s);
    int64_t bound = orig.tv_sec || orig.tv_usec ? (int64_t)orig.tv_sec * 1000 + (orig.tv_usec + 999) / 1000 : -1;
    for (;;) {
        int wait = -1;
        if (bound >= 0) {
            int64_t left = bound - (torify_now_ms() - t0);
            wait = left > 0 ? (left > INT32_MAX ? INT32_MAX : (int)left) : 0;
        }
        struct pollfd p = {.fd = dup, .events = POLLOUT};
        int pr = poll(&p, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -errno;
        if (pr == 0)
            return -EINPROGRESS; /* the program's SO_SNDTIMEO ran out: what the kernel says then */
        break;
    }
    int soerr = 0;
    l = sizeof soerr;
    if (getsockopt(dup, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0)
        return -errno;
    return -soerr;
}

/* connect() the program's own socket (dup, the duplicate taken once per
 * connect) to the copy.  A blocking socket may wait (a full backlog, an
 * exempt network far away): the receiving role is handed on first, after
 * the first tick for TCP (above). */
static int do_direct(struct guard_sup *s, int dup, pid_t tid, struct sockaddr_storage *ss, socklen_t len)
{
    int r = ss->ss_family == AF_UNIX ? unix_abs(tid, ss, &len) : 0;
    if (r < 0)
        return r;
    int fl = fcntl(dup, F_GETFL);
    if (fl < 0)
        return -errno;
    if (fl & O_NONBLOCK)
        return connect(dup, (struct sockaddr *)ss, len) == 0 ? 0 : -errno;
    if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)
        return connect_blocking_tcp(s, dup, (struct sockaddr *)ss, len);
    guard_may_block(s);
    return connect(dup, (struct sockaddr *)ss, len) == 0 ? 0 : -errno;
}

/* Options a program commonly sets before connect(); they are carried from
 * its socket to ours so the swap does not silently drop them.  Others
 * (bind addresses, marks, BPF attachments) are not: see docs/GUARD.md. */
static const struct {
    int level, name;
} carried[] = {
    {IPPROTO_TCP, TCP_NODELAY},   {SOL_SOCKET, SO_KEEPALIVE},    {IPPROTO_TCP, TCP_KEEPIDLE},
    {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT},    {SOL_SOCKET, SO_RCVBUF},
    {SOL_SOCKET, SO_SNDBUF},      {SOL_SOCKET, SO_OOBINLINE},   {IPPROTO_TCP, TCP_USER_TIMEOUT},
};

static void carry_options(int from, int to)
{
    for (size_t i = 0; i < sizeof carried / sizeof carried[0]; i++) {
        int v = 0;
        socklen_t l = sizeof v;
        if (getsockopt(from, carried[i].level, carried[i].name, &v, &l) == 0 && l == sizeof v) {
            /* The kernel reports SO_RCVBUF/SO_SNDBUF doubled; setting the
             * half gives the same size back. */
            if (carried[i].level == SOL_SOCKET && (carried[i].name == SO_RCVBUF || carried[i].name == SO_SNDBUF))
                v /= 2;
            setsockopt(to, carried[i].level, carried[i].name, &v, sizeof v);
        }
    }
    struct timeval tv;
    socklen_t l = sizeof tv;
    if (getsockopt(from, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) == 0 && l == sizeof tv)
        setsockopt(to, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    l = sizeof tv;
    if (getsockopt(from, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) == 0 && l == sizeof tv)
        setsockopt(to, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* What the program's socket is: it must be an unconnected IP stream
 * socket, as connect() itself would demand.  Reports O_NONBLOCK.  Uses the
 * duplicate *taken when there is one (taking it over: *taken becomes -1),
 * else gets one.  Returns the duplicate (the caller closes it) or -errno. */
static int check_program_socket(int pidfd, int fd, int *taken, bool *nonblock)
{
    int dup = *taken >= 0 ? *taken : guard_pidfd_getfd(pidfd, fd);
    *taken = -1;
    if (dup < 0)
        return dup == -ESRCH ? -EBADF : dup;
    int r = 0, domain = 0, type = 0;
    socklen_t ol = sizeof domain;
    struct stat st;
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    if (fstat(dup, &st) != 0 || !S_ISSOCK(st.st_mode))
        r = -ENOTSOCK;
    else if (getsockopt(dup, SOL_SOCKET, SO_DOMAIN, &domain, &ol) != 0)
        r = -errno;
    else if (domain != AF_INET && domain != AF_INET6)
        r = -EAFNOSUPPORT;
    else if ((ol = sizeof type, getsockopt(dup, SOL_SOCKET, SO_TYPE, &type, &ol)) != 0)
        r = -errno;
    else if (type != SOCK_STREAM)
        r = -EPERM; /* a datagram socket from outside the guard: Tor carries no UDP */
    else if (getpeername(dup, (struct sockaddr *)&peer, &pl) == 0)
        r = -EISCONN;
    if (r == 0) {
        int fl = fcntl(dup, F_GETFL);
        if (fl < 0)
            r = -errno;
        else
            *nonblock = (fl & O_NONBLOCK) != 0;
    }
    if (r < 0) {
        close(dup);
        return r;
    }
    return dup;
}

/* A new socket to Tor with the SOCKS CONNECT done; fd or -errno.  The
 * credentials are the ones the shim would use in the same process
 * (IsolatePID: "torify-<pid>-<start time>"), so its connects share
 * circuits with the shim's and not with other processes'. */
static int dial_tor(const struct guard_sup *s, const struct torify_target *target, pid_t tid)
{
    const struct torify_config *c = &s->cfg;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    long pid = tid;
    unsigned long long start = 0;
    if (c->isolate_pid && !c->has_user && !c->has_pass) {
        pid_t tgid = guard_tgid_of(tid);
        pid = tgid > 0 ? tgid : tid;
        start = guard_start_time((pid_t)pid);
    }
    struct torify_socks_opts o;
    torify_policy_socks_opts(c, pid, start, TORIFY_TOR_HANDSHAKE_MS, user, pass, &o);
    /* The supervisor is not interposed: libtorify-socks' own dial (socks/
     * dial.h with libc's calls) connects to Tor within TORIFY_TOR_CONNECT_MS
     * and does the handshake within the whole timeout, as the shim, so
     * neither a Tor that accepts and stalls nor one that never answers the
     * SYN holds a worker (and the program's connect) forever. */
    errno = 0;
    torify_err e = TORIFY_OK;
    int sock = torify_socks_dial((const struct sockaddr *)&c->tor_addr, c->tor_addr_len, target, &o, &e);
    if (sock < 0) {
        /* Tor is not there: fail closed. */
        int en = e == TORIFY_E_PROXY_UNREACHABLE || !errno ? ECONNREFUSED : errno;
        return -en;
    }
    return sock;
}

static int do_torify(struct guard_sup *s, uint64_t id, int pidfd, pid_t tid, int fd, int *dup,
                     const struct torify_target *target)
{
    bool nonblock = false;
    int orig = check_program_socket(pidfd, fd, dup, &nonblock);
    if (orig < 0)
        return orig;
    int cloexec = guard_fd_cloexec(tid, fd);
    if (cloexec < 0) {
        close(orig);
        return -EBADF;
    }
    guard_may_block(s); /* the handshake waits for Tor */
    int sock = dial_tor(s, target, tid);
    if (sock < 0) {
        close(orig);
        return sock;
    }
    carry_options(orig, sock);
    close(orig);
    int r;
    /* The handshake is done blocking (the program's thread waits in
     * connect); the socket gets the program's O_NONBLOCK for what follows. */
    if (nonblock && fcntl(sock, F_SETFL, O_NONBLOCK) != 0) {
        r = -errno;
        close(sock);
        return r;
    }
    r = guard_addfd_setfd(s, id, sock, fd, cloexec == 1);
    close(sock);
    return r;
}

/* A TCP connect to port 53: a DNS query over TCP (glibc's and Go's fallback,
 * dig +tcp).  Instead of Tor, it goes to torify's responder: a stream socket
 * of the sealed namespace, connected there to the very address asked (every
 * address is the responder's, guard/netns.c), swapped in like a torified one. */
static int do_dns_tcp(struct guard_sup *s, uint64_t id, int pidfd, pid_t tid, int fd, int *dup, int domain,
                      const struct sockaddr_storage *ss, socklen_t len)
{
    bool nonblock = false;
    int orig = check_program_socket(pidfd, fd, dup, &nonblock);
    if (orig < 0)
        return orig;
    int cloexec = guard_fd_cloexec(tid, fd);
    int sock = cloexec < 0 ? -EBADF : guard_keeper_socket(&s->keeper, domain, SOCK_STREAM, 0);
    if (sock < 0) {
        close(orig);
        return sock;
    }
    guard_may_block(s); /* a blocking connect, to a responder that may be busy */
    int r = connect(sock, (const struct sockaddr *)ss, len) == 0 ? 0 : -errno;
    if (r == 0)
        carry_options(orig, sock);
    close(orig);
    if (r == 0 && nonblock && fcntl(sock, F_SETFL, O_NONBLOCK) != 0)
        r = -errno;
    if (r == 0)
        r = guard_addfd_setfd(s, id, sock, fd, cloexec == 1);
    close(sock);
    return r;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* With the sealed namespace: a datagram socket of it connects anywhere
 * (there is nowhere to leak to), and a TCP connect to port 53 goes to the
 * responder.  Returns true when handled (*r: the result). */
static bool namespace_connect(struct guard_sup *s, const struct seccomp_notif *n, int pidfd, pid_t tid, int fd,
                              int *dupp, const struct sockaddr_storage *ss, socklen_t len, const char *what,
                              int *r)
{
    int dup = *dupp;
    if (dup < 0)
        return false; /* the ordinary path reports it */
    int type = 0, domain = 0;
    socklen_t ol = sizeof type;
    bool handled = false;
    if (getsockopt(dup, SOL_SOCKET, SO_TYPE, &type, &ol) == 0) {
        if (type == SOCK_STREAM && port_of(ss) == 53) {
            ol = sizeof domain;
            if (getsockopt(dup, SOL_SOCKET, SO_DOMAIN, &domain, &ol) != 0)
                domain = 0;
        }
        if (type == SOCK_DGRAM && guard_keeper_owns(&s->keeper, dup)) {
            *r = connect(dup, (const struct sockaddr *)ss, len) == 0 ? 0 : -errno;
            guard_log(s, TORIFY_LOG_DEBUG, "guard: pid %d datagram socket connected to %s in the sealed namespace (%s)",
                      (int)tid, what, *r ? strerror(-*r) : "ok");
            handled = true;
        } else if (type == SOCK_STREAM && port_of(ss) == 53 && (domain == AF_INET || domain == AF_INET6)) {
            *r = do_dns_tcp(s, n->id, pidfd, tid, fd, dupp, domain, ss, len);
            guard_log(s, TORIFY_LOG_INFO, "guard: pid %d TCP connect to %s goes to torify's DNS responder (%s)",
                      (int)tid, what, *r ? strerror(-*r) : "ok");
            handled = true;
        }
    }
    return handled;
}

void guard_handle_connect(struct guard_sup *s, const struct seccomp_notif *n)
{
    const pid_t tid = (pid_t)n->pid;
    const int fd = (int)n->data.args[0];            /* the kernel truncates to int */
    const int ulen = (int)n->data.args[2];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);

    if (ulen < 0 || (size_t)ulen > sizeof ss) {
        guard_reply(s, n->id, -1, EINVAL);
        return;
    }
    socklen_t len = (socklen_t)ulen;
    int r = len ? guard_read_mem(tid, n->data.args[1], &ss, len) : 0;
    int pidfd = guard_pidfd_open_thread(tid);
    int dup = -1; /* the program's socket, taken at most once (below) */
    /* From here on the copy is all we use; the pid is known to be the
     * notifying thread's only while the notification is pending. */
    if (!guard_notif_valid(s, n->id))
        goto out;
    if (r < 0 || pidfd < 0) {
        guard_reply(s, n->id, -1, r < 0 ? EFAULT : -pidfd);
        goto out;
    }

    char what[300];
    describe(&ss, what, sizeof what);
    /* One duplicate of the program's socket per connect: what the
     * namespace check looks at is what a direct connect uses and a
     * torified one swaps.  Not waiting for the keeper: before its namespace
     * is up no socket lives there (guard_keeper_up). */
    bool ip = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
    bool tried = ip && guard_keeper_up(&s->keeper);
    if (tried)
        dup = guard_pidfd_getfd(pidfd, fd);
    if (dup >= 0 && namespace_connect(s, n, pidfd, tid, fd, &dup, &ss, len, what, &r)) {
        if (!(r == -ENOENT && !guard_notif_valid(s, n->id)))
            guard_reply(s, n->id, r < 0 ? -1 : 0, r < 0 ? -r : 0);
        goto out;
    }
    struct torify_target target;
    int err_no = 0;
    torify_err why = TORIFY_OK;
    switch (guard_decide(&s->cfg, &ss, len, s->map, &target, &err_no, &why)) {
    case GUARD_DIRECT:
        if (!tried)
            dup = guard_pidfd_getfd(pidfd, fd);
        r = dup >= 0 ? do_direct(s, dup, tid, &ss, len) : dup == -ESRCH ? -EBADF : dup;
        atomic_fetch_add(&s->n_direct, 1);
        guard_log(s, TORIFY_LOG_DEBUG, "guard: pid %d connect to %s done directly (%s)", (int)tid, what,
                  r ? strerror(-r) : "ok");
        break;
    case GUARD_TORIFY:
        r = do_torify(s, n->id, pidfd, tid, fd, &dup, &target);
        if (r == -ENOENT && !guard_notif_valid(s, n->id))
            goto out; /* interrupted meanwhile: the program will retry */
        atomic_fetch_add(&s->n_torified, 1);
        guard_log(s, TORIFY_LOG_INFO, "guard: pid %d connect to %s torified (%s)", (int)tid, what,
                  r ? strerror(-r) : "ok");
        break;
    case GUARD_REFUSE:
    default:
        r = -(err_no ? err_no : EPERM);
        atomic_fetch_add(&s->n_refused, 1);
        char why_text[TORIFY_LOG_LINE_MAX];
        guard_log(s, TORIFY_LOG_NOTICE, "refused connect to %s (%s)", what,
                  torify_policy_refusal_text(why, why_text, sizeof why_text));
        break;
    }
    guard_reply(s, n->id, r < 0 ? -1 : 0, r < 0 ? -r : 0);
out:
    if (dup >= 0)
        close(dup);
    if (pidfd >= 0)
        close(pidfd);
}
