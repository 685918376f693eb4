/* shim/connect.c — connect(): every IP stream goes through Tor or nowhere.
 *
 * Fake address  -> SOCKS request with the hostname (Tor's exit resolves it).
 * Real address  -> exempt networks and (if allowed) loopback directly, Tor's
 *                  own address directly, anything else as a SOCKS request
 *                  with the IP.
 * Tor unreachable or refusing -> the connect fails; never a direct fallback.
 *
 * The handshake is completed before connect() returns, also on
 * non-blocking sockets (see docs/DESIGN.md, "non-blocking extension point":
 * the fd record's CONNECTING state and codec slot are where an
 * EINPROGRESS-driven handshake will live).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fakemap.h"
#include "core/log.h"
#include "core/policy.h"
#include "core/state.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

#define EXPORT __attribute__((visibility("default")))

static int refuse(torify_err e, const struct sockaddr *sa, socklen_t len)
{
    char where[80];
    int err = torify_refuse(e, "connect to %s", torify_tor_fmt_sockaddr(sa, len, where, sizeof where));
    errno = err;
    return -1;
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
 * TORIFY_OK, or an error with errno set. */
static torify_err via_tor(int fd, const struct torify_config *c, const struct torify_target *target)
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
        sock = torify_real_socket(c->tor_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
            return TORIFY_E_IO;
        copy_options(fd, sock);
    } else if (fl & O_NONBLOCK) {
        /* For now the handshake completes before connect returns. */
        if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            return TORIFY_E_IO;
    }
    if (torify_tor_connect_wait(sock, (const struct sockaddr *)&c->tor_addr, c->tor_addr_len,
                                TORIFY_TOR_CONNECT_MS) != 0) {
        char where[80], t[300];
        int why = errno;
        torify_log(TORIFY_LOG_NOTICE, "cannot reach Tor at %s (%s): connect to %s refused, nothing sent directly",
                   c->tor_unix[0] ? c->tor_unix
                                  : torify_tor_fmt_sockaddr((const struct sockaddr *)&c->tor_addr, c->tor_addr_len,
                                                            where, sizeof where),
                   strerror(why), torify_target_format(target, t, sizeof t));
        e = TORIFY_E_PROXY_UNREACHABLE;
        goto out;
    }
    struct torify_socks_opts o;
    char user[256], pass[256];
    torify_tor_opts(c, &o, TORIFY_TOR_HANDSHAKE_MS, user, pass);
    e = torify_socks_handshake_fd(sock, TORIFY_SOCKS_CONNECT, target, &o, NULL);
    if (e != TORIFY_OK) {
        char t[300];
        torify_log(TORIFY_LOG_NOTICE, "connect to %s through Tor failed (%s)",
                   torify_target_format(target, t, sizeof t), torify_strerror(e));
        goto out;
    }
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
    if (e != TORIFY_OK && e != TORIFY_E_IO)
        errno = torify_err_errno(e);
    return e;
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    /* Local sockets pass untouched and cheaply. */
    if (!sa || len < (socklen_t)sizeof(sa_family_t) || sa->sa_family == AF_UNIX)
        return torify_real_connect(fd, sa, len);

    if (torify_state_passthrough())
        return torify_real_connect(fd, sa, len);
    const struct torify_state_config *st = torify_state_config();
    const struct torify_config *c = &st->cfg;
    int type = torify_sock_type(fd);
    if (type < 0)
        return torify_real_connect(fd, sa, len); /* not a socket: the kernel says so */

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
        torify_log(TORIFY_LOG_INFO, "connect to %s through Tor", torify_target_format(&rec.target, t, sizeof t));
        e = via_tor(fd, c, &rec.target);
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
    torify_close_track_on();
    if (!torify_fd_set(fd, &rec) && rec.fake_slot != TORIFY_FAKEMAP_NO_SLOT)
        torify_fakemap_release(torify_state_fakemap(NULL), rec.fake_slot);
    return 0;
}
