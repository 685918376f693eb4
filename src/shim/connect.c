/* shim/connect.c — connect(): every IP stream goes through Tor or nowhere.
 *
 * Fake address  -> SOCKS request with the hostname (Tor's exit resolves it).
 * Real address  -> exempt networks and (if allowed) loopback directly, Tor's
 *                  own address directly, anything else as a SOCKS request
 *                  with the IP.
 * Tor unreachable or refusing -> the connect fails; never a direct fallback.
 *
 * Blocking sockets: the handshake completes before connect() returns.
 * Non-blocking sockets (and blocking ones with SO_SNDTIMEO): the handshake
 * runs on the helper thread (shim/nb.h) and connect() returns EINPROGRESS
 * (or waits up to SO_SNDTIMEO for it), see docs/DESIGN.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fakemap.h"
#include "core/log.h"
#include "core/sys.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/nb.h"
#include "shim/explain.h"
#include "shim/opt.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

static int refuse(torify_err e, const struct sockaddr *sa, socklen_t len)
{
    char where[80];
    int err = torify_refuse(e, "connect to %s", torify_tor_fmt_sockaddr(sa, len, where, sizeof where));
    errno = err;
    return -1;
}

/* Tor's address does not answer: the connect fails, nothing goes direct. */
static void log_tor_unreachable(const struct torify_config *c, const struct torify_target *target, int why)
{
    char t[300];
    torify_tor_log_unreachable(c, torify_target_format(target, t, sizeof t), why);
}

/* Options a program may have set on its socket before connect, carried
 * over when the connection to Tor needs a socket of another family. */
static void copy_options(int from, int to)
{
    static const struct { int level, name; } opts[] = {
        { IPPROTO_TCP, TCP_NODELAY }, { SOL_SOCKET, SO_KEEPALIVE },
        { SOL_SOCKET, SO_SNDBUF },    { SOL_SOCKET, SO_RCVBUF },
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        int v = 0;
        socklen_t l = sizeof v;
        /* Best effort: a unix socket has no TCP_NODELAY, and that is fine. */
        if (getsockopt(from, opts[i].level, opts[i].name, &v, &l) == 0)
            (void)setsockopt(to, opts[i].level, opts[i].name, &v, l);
    }
}

/* Connect fd to Tor and run the SOCKS CONNECT for target.  Returns
 * TORIFY_OK, or an error with errno set.  started: the non-blocking path
 * already started fd's connect to Tor (then EISCONN means "done").
 * oc non-NULL: optimistic data (shim/opt.h): only the request is sent,
 * and *oc gets the connection that owes its reply (NULL when this one
 * waited for its reply after all). */
static torify_err via_tor(int fd, const struct torify_config *c, const struct torify_target *target, bool started,
                          struct opt_conn **oc, uint32_t *ogen)
{
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0)
        return TORIFY_E_IO;
    int domain = torify_sock_domain(fd);
    int sock = fd;
    torify_err e = TORIFY_OK;
    if (domain != c->tor_addr.ss_family) {
        /* Tor is on a unix socket or another IP family: connect a socket of
         * the right kind, and later put it in the program's fd slot. */
        sock = torify_real_socket(c->tor_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock < 0)
            return TORIFY_E_IO;
        copy_options(fd, sock);
    } else if (!(fl & O_NONBLOCK)) {
        /* Non-blocking while torify connects it, so the deadline bounds the
         * connect to Tor (a blocking connect waits as long as the kernel
         * retries a SYN nobody answers); the program's flags come back at
         * the end.  A non-blocking socket here is the blocking fall-back (no
         * connection object or fd left for the helper): the handshake
         * completes before connect returns, which POSIX allows. */
        if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
            return TORIFY_E_IO;
    }
    struct torify_socks_opts o;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    torify_tor_opts(c, &o, TORIFY_TOR_HANDSHAKE_MS, user, pass);
    int64_t conn_by, all_by;
    torify_sx_deadlines(&o, &conn_by, &all_by);
    /* started: connect_async connected fd to Tor (EISCONN), never elsewhere. */
    if (torify_sx_connect(&torify_tor_sys, sock, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len, conn_by,
                          started) != TORIFY_OK) {
        log_tor_unreachable(c, target, errno);
        e = TORIFY_E_PROXY_UNREACHABLE;
        goto out;
    }
    if (oc) {
        *oc = torify_opt_begin(sock, fd, target, &o, all_by, ogen, &e);
        if (!*oc && e == TORIFY_OK)
            goto handshake; /* nothing sent: the reply is waited for here */
        if (!*oc)
            goto failed;
        goto connected;
    }
handshake:
    e = torify_sx_handshake(sock, TORIFY_SOCKS_CONNECT, target, &o, NULL, all_by);
failed:
    if (e != TORIFY_OK) {
        char t[300], why[TORIFY_EXPLAIN_MAX];
        torify_log(TORIFY_LOG_NOTICE, "connect to %s through Tor failed (%s)%s",
                   torify_target_format(target, t, sizeof t), torify_strerror(e), torify_explain(c, why, sizeof why));
        goto out;
    }
connected:
    if (sock != fd) {
        if (dup3(sock, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
            e = TORIFY_E_IO;
            goto out;
        }
    }
out:
    if (sock != fd) {
        int saved = errno;
        torify_real_close(sock);
        errno = saved;
    }
    /* The program's file status flags (O_NONBLOCK...) as it set them. */
    if (fcntl(fd, F_SETFL, fl) != 0 && e == TORIFY_OK)
        e = TORIFY_E_IO;
    if (e != TORIFY_OK && oc && *oc) {
        int saved = errno;
        torify_opt_release_from_record(fd, *oc, *ogen);
        *oc = NULL;
        errno = saved;
    }
    if (e != TORIFY_OK && e != TORIFY_E_IO)
        errno = torify_err_errno(e);
    return e;
}


/* ---- the non-blocking path (shim/nb.h) ------------------------------------ */

#define FALLBACK (-2)
#define FALLBACK_STARTED (-3) /* the same, with fd's connect to Tor already started */

/* SO_SNDTIMEO in milliseconds, 0 when unset. */
static int sndtimeo_ms(int fd)
{
    struct timeval tv;
    socklen_t l = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
        return 0;
    long long ms = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    return ms > TORIFY_TOR_HANDSHAKE_MS ? TORIFY_TOR_HANDSHAKE_MS : (int)ms;
}

/* Start the TCP connect of fd to Tor without waiting.  0, or -1 with errno. */
static int start_tor_connect(int fd, const struct torify_config *c, int fl, int fdfl)
{
    if (torify_sock_domain(fd) == c->tor_addr.ss_family) {
        if (torify_real_connect(fd, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len) == 0 ||
            errno == EINPROGRESS || errno == EINTR)
            return 0; /* EINTR: a blocking connect goes on in the background */
        return -1;
    }
    /* Tor is on a unix socket or another IP family: a socket of its kind
     * takes the program's fd slot now, flags and options kept. */
    int sock = torify_real_socket(c->tor_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock < 0)
        return -1;
    copy_options(fd, sock);
    int r = torify_real_connect(sock, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len);
    if ((r == 0 || errno == EINPROGRESS) && dup3(sock, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) >= 0 &&
        fcntl(fd, F_SETFL, fl) == 0) {
        torify_real_close(sock);
        return 0;
    }
    int saved = errno;
    torify_real_close(sock);
    errno = saved == EAGAIN ? ECONNREFUSED : saved;
    return -1;
}

/* A blocking socket with SO_SNDTIMEO: wait for the helper like the kernel
 * waits for a TCP connect.  The outcome; or EINPROGRESS after the timeout,
 * the handshake going on in the background (as Linux does); or, when a
 * signal handler runs, EINTR with the handshake aborted and the socket
 * disconnected: a program must never be able to write into a half-done
 * SOCKS exchange (Linux would let the TCP connect go on; a write on it
 * would wait, ours could not). */
static int wait_blocking(int fd, struct nb_conn *conn, int timeout_ms)
{
    struct pollfd p = { .fd = conn->evfd, .events = POLLIN };
    int r = poll(&p, 1, timeout_ms); /* our poll: fd itself is not in the set */
    int why = errno;
    enum nb_phase ph = nb_phase_of(atomic_load(&conn->gs));
    if (ph == NB_OK)
        return 0;
    if (ph == NB_FAILED) {
        int err = torify_nb_take_error(conn);
        torify_fd_clear(fd); /* failed: the socket may connect again */
        errno = err ? err : ECONNREFUSED;
        return -1;
    }
    if (r == 0) {
        errno = EINPROGRESS;
        return -1;
    }
    struct sockaddr un;
    memset(&un, 0, sizeof un);
    un.sa_family = AF_UNSPEC;
    if (torify_real_connect(fd, &un, sizeof un) != 0)
        (void)torify_sys_shutdown(fd, SHUT_RDWR);
    atomic_store(&conn->detached, 1);
    torify_fd_clear(fd); /* cancels: the helper lets go */
    errno = r < 0 && why != EINTR ? why : EINTR;
    return -1;
}

/* Returns 0, -1 with errno, or FALLBACK/FALLBACK_STARTED (use the blocking
 * path). */
static int connect_async(int fd, const struct torify_config *c, struct torify_fd_rec *rec, int fl, bool nonblock,
                         int wait_ms, bool *owned)
{
    *owned = false;
    if ((unsigned)fd >= TORIFY_FD_MAX || !torify_nb_helper_ensure())
        return FALLBACK;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0)
        return FALLBACK;
    uint32_t gen;
    struct nb_conn *conn = torify_nb_alloc(&gen);
    if (!conn)
        return FALLBACK;
    if (start_tor_connect(fd, c, fl, fdfl) != 0) {
        log_tor_unreachable(c, &rec->target, errno);
        atomic_store(&conn->gs, nb_gs(gen, NB_FAILED));
        torify_nb_put(conn);
        torify_nb_put(conn);
        errno = torify_err_errno(TORIFY_E_PROXY_UNREACHABLE);
        return -1;
    }
    int timeout = wait_ms > 0 ? wait_ms : TORIFY_TOR_HANDSHAKE_MS;
    if (!torify_nb_prepare(conn, gen, fd, c, &rec->target, nonblock ? timeout : TORIFY_TOR_HANDSHAKE_MS))
        return FALLBACK_STARTED; /* the TCP connect to Tor is in flight: the blocking path waits for it */
    rec->state = TORIFY_FD_CONNECTING;
    rec->codec = conn;
    rec->codec_gen = gen;
    torify_close_track_on();
    /* The record first, so epoll_ctl/poll see the fd as connecting as soon
     * as connect() returns; then the helper. */
    bool tracked = torify_fd_set(fd, rec);
    if (tracked) {
        *owned = true; /* the record holds the fake name now; close releases it */
        atomic_fetch_add(&conn->refs, 1); /* for the wait below */
        if (!nonblock)
            (void)torify_nb_ev_hold(conn); /* not submitted yet: the helper's hold keeps it open */
    }
    torify_nb_submit(conn);
    if (!tracked) {
        /* No record (no memory): the helper finishes and lets go. */
        atomic_store(&conn->cancelled, 1);
        torify_nb_put(conn);
        torify_nb_wake();
        errno = ENOBUFS;
        return -1;
    }
    int r;
    if (nonblock) {
        errno = EINPROGRESS;
        r = -1;
    } else {
        r = wait_blocking(fd, conn, wait_ms);
        int e = errno;
        torify_nb_ev_drop(conn);
        errno = e;
    }
    int saved = errno;
    torify_nb_put(conn);
    errno = saved;
    return r;
}

/* connect() again on a socket torify started connecting without waiting:
 * what the kernel says for a plain TCP socket.  Returns 1 when handled. */
static int connect_again(int fd, int *ret)
{
    enum nb_phase ph;
    struct nb_conn *conn = torify_nb_get(fd, &ph);
    if (!conn)
        return 0;
    int handled = 1;
    if (ph == NB_CONNECTING) {
        errno = EALREADY;
        *ret = -1;
    } else if (ph == NB_FAILED) {
        int err = torify_nb_take_error(conn);
        torify_fd_clear(fd); /* the next connect() starts afresh */
        errno = err ? err : ECONNABORTED;
        *ret = -1;
    } else if (ph == NB_OK) {
        /* What Linux says for TCP: 0 the first time after completion, then
         * the kernel's own EISCONN (asked with Tor's address: never a
         * direct connect; a unix socket to Tor answers EISCONN at once). */
        const struct torify_config *c = &torify_state_config()->cfg;
        *ret = torify_real_connect(fd, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len);
        if (!atomic_exchange(&conn->ok_taken, 1))
            *ret = 0; /* the kernel's TCP socket also moved to "connected" now */
    } else {
        handled = 0; /* orphan (forked child): a plain socket */
    }
    int saved = errno;
    torify_nb_put(conn);
    errno = saved;
    return handled;
}

static int sockaddr_port(const struct sockaddr *sa, socklen_t len)
{
    struct torify_ip ip;
    return torify_ip_from_sockaddr(sa, len, &ip) == 0 ? ip.port : -1;
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    /* Local sockets pass untouched and cheaply. */
    if (!sa || len < (socklen_t)sizeof(sa_family_t) || sa->sa_family == AF_UNIX)
        return torify_real_connect(fd, sa, len);
    int again;
    if (torify_fd_tracked(fd) && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
        connect_again(fd, &again))
        return again;

    if (torify_state_passthrough())
        return torify_real_connect(fd, sa, len);
    const struct torify_state_config *st = torify_state_config();
    const struct torify_config *c = &st->cfg;
    int type = torify_sock_type(fd);
    if (type < 0)
        return torify_real_connect(fd, sa, len); /* not a socket: the kernel says so */
    /* Under the guard's sealed namespace the supervisor connects a datagram
     * socket where it reaches nothing but torify's responder, and sends a
     * TCP connect to port 53 (a DNS query over TCP) to that responder: both
     * are the kernel's (and the guard's) business. */
    if (((type & 0xf) == SOCK_DGRAM || ((type & 0xf) == SOCK_STREAM && sockaddr_port(sa, len) == 53)) &&
        torify_shim_udp_sealed())
        return torify_real_connect(fd, sa, len);

    torify_err err;
    enum torify_connect_action a = torify_policy_connect(c, type, sa, len, &err);
    if (a == TORIFY_CONNECT_DIRECT)
        return torify_real_connect(fd, sa, len);
    if (a == TORIFY_CONNECT_REFUSE)
        return refuse(err, sa, len);
    if (st->config_err != TORIFY_OK)
        return refuse(TORIFY_E_REFUSE_CONFIG, sa, len);

    struct torify_ip ip;
    torify_ip_from_sockaddr(sa, len, &ip);
    struct torify_fd_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.fake_slot = TORIFY_FAKEMAP_NO_SLOT;
    torify_err e;
    bool optimistic = false;
    struct opt_conn *oc = NULL;
    uint32_t ogen = 0;
    if (a == TORIFY_CONNECT_FAKE) {
        torify_err me = TORIFY_E_IO;
        struct torify_fakemap *m = torify_state_fakemap(&me);
        char name[TORIFY_FAKEMAP_NAME_MAX + 1];
        /* Held from the lookup on, so the name cannot be recycled under us. */
        e = m ? torify_fakemap_lookup_hold(m, ip.family, ip.addr, name, sizeof name, &rec.fake_slot)
              : TORIFY_E_REFUSE_UNKNOWN_FAKE;
        if (e != TORIFY_OK)
            return refuse(TORIFY_E_REFUSE_UNKNOWN_FAKE, sa, len);
        e = torify_target_host(&rec.target, name, strlen(name), ip.port);
    } else if (ip.family == AF_INET) {
        e = torify_target_ipv4(&rec.target, ip.addr, ip.port);
    } else {
        e = torify_target_ipv6(&rec.target, ip.addr, ip.port);
    }
    if (e == TORIFY_OK) {
        char t[300];
        bool started = false;
        torify_log(TORIFY_LOG_INFO, "connect to %s through Tor", torify_target_format(&rec.target, t, sizeof t));
        int fl = fcntl(fd, F_GETFL);
        bool nonblock = fl >= 0 && (fl & O_NONBLOCK);
        int wait_ms = fl >= 0 ? sndtimeo_ms(fd) : 0;
        /* Optimistic data: the request is on its way when connect returns,
         * blocking or not (the connect to Tor's own address is local), and
         * the reply is read before the program reads (shim/opt.h). */
        optimistic = torify_opt_wanted(c);
        if (!optimistic && (nonblock || wait_ms > 0)) {
            size_t n = len < sizeof rec.peer ? len : sizeof rec.peer;
            memcpy(&rec.peer, sa, n);
            rec.peer_len = (socklen_t)n;
            bool owned;
            int r = connect_async(fd, c, &rec, fl, nonblock, wait_ms, &owned);
            started = r == FALLBACK_STARTED;
            if (r != FALLBACK && !started) {
                if (!owned && rec.fake_slot != TORIFY_FAKEMAP_NO_SLOT) {
                    /* Failed before a record took over the name's hold. */
                    int saved = errno;
                    torify_fakemap_release(torify_state_fakemap(NULL), rec.fake_slot);
                    errno = saved;
                }
                return r;
            }
        }
        e = via_tor(fd, c, &rec.target, started, optimistic ? &oc : NULL, &ogen);
    } else {
        errno = torify_err_errno(e);
    }
    if (e != TORIFY_OK) {
        int saved = errno;
        if (rec.fake_slot != TORIFY_FAKEMAP_NO_SLOT)
            torify_fakemap_release(torify_state_fakemap(NULL), rec.fake_slot);
        errno = saved ? saved : ECONNREFUSED;
        return -1;
    }
    rec.state = TORIFY_FD_CONNECTED;
    size_t n = len < sizeof rec.peer ? len : sizeof rec.peer;
    memcpy(&rec.peer, sa, n);
    rec.peer_len = (socklen_t)n;
    rec.opt = oc;
    rec.opt_gen = ogen;
    torify_close_track_on();
    if (!torify_fd_set(fd, &rec)) {
        if (rec.fake_slot != TORIFY_FAKEMAP_NO_SLOT)
            torify_fakemap_release(torify_state_fakemap(NULL), rec.fake_slot);
        /* No record to hold the reply owed: it is waited for here. */
        if (oc && torify_opt_wait_unrecorded(oc, ogen) != 0)
            return -1;
        return 0;
    }
    if (oc)
        torify_opt_arm(fd, oc);
    return 0;
}
