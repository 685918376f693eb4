/*
 * Blocking helpers against a scripted fake proxy in a thread: over a
 * socketpair (handshake_fd) and over loopback / a unix socket (dial,
 * resolve, resolve_ptr).  Every peer is joined before the test returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "test_socks_util.h"

/* ---- scripted peer --------------------------------------------------- */

struct step {
    char op;             /* r: read len bytes, w: write, t: trickle (write bytewise, ms apart),
                            s: sleep ms, c: close, h: hold until the client closes */
    const uint8_t *data;
    size_t len;
    int ms;
};

struct peer {
    int fd;              /* connected end, or a listener when listening */
    int listening;
    const struct step *steps;
    uint8_t rec[2048];   /* what the client sent */
    size_t rec_len;
    int failed;          /* the script could not run as written */
    pthread_t th;
};

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits at most 5 s for fd to be readable: a broken test must not hang. */
static int wait_in(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int64_t end = now_ms() + 5000;
    for (;;) {
        int left = (int)(end - now_ms());
        if (left <= 0)
            return 0;
        int r = poll(&p, 1, left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    sigset_t set;
    int fd = p->fd;

    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (p->listening) {
        if (!wait_in(p->fd)) {
            p->failed = 1;
            return NULL;
        }
        fd = accept(p->fd, NULL, NULL);
        if (fd < 0) {
            p->failed = 1;
            return NULL;
        }
    }
    for (const struct step *s = p->steps; s->op != 0; s++) {
        if (s->op == 'r') {
            size_t got = 0;
            while (got < s->len) {
                if (!wait_in(fd)) {
                    p->failed = 1;
                    goto out;
                }
                ssize_t r = recv(fd, p->rec + p->rec_len, s->len - got, 0);
                if (r <= 0) {
                    p->failed = 1;
                    goto out;
                }
                got += (size_t)r;
                p->rec_len += (size_t)r;
            }
        } else if (s->op == 'w') {
            if (send(fd, s->data, s->len, MSG_NOSIGNAL) != (ssize_t)s->len)
                p->failed = 1;
        } else if (s->op == 't') {
            for (size_t i = 0; i < s->len; i++) {
                sleep_ms(s->ms);
                if (send(fd, s->data + i, 1, MSG_NOSIGNAL) != 1)
                    p->failed = 1;
            }
        } else if (s->op == 's') {
            sleep_ms(s->ms);
        } else if (s->op == 'c') {
            break;
        } else if (s->op == 'h') {
            uint8_t sink[256];
            while (wait_in(fd) && recv(fd, sink, sizeof sink, 0) > 0) {
            }
        }
    }
out:
    close(fd);
    if (p->listening)
        close(p->fd);
    return NULL;
}

/* socketpair: *client gets the other end. */
static void peer_pair(struct peer *p, const struct step *steps, int *client)
{
    int sv[2];
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    p->fd = sv[1];
    p->steps = steps;
    *client = sv[0];
    assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

/* TCP listener on 127.0.0.1, port chosen by the kernel. */
static void peer_tcp(struct peer *p, const struct step *steps, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    memset(p, 0, sizeof *p);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->fd >= 0);
    assert_int_equal(bind(p->fd, (struct sockaddr *)addr, sizeof *addr), 0);
    assert_int_equal(listen(p->fd, 4), 0);
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)addr, &len), 0);
    p->listening = 1;
    p->steps = steps;
    assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

static void peer_join(struct peer *p)
{
    assert_int_equal(pthread_join(p->th, NULL), 0);
}

/* ---- fixtures -------------------------------------------------------- */

static const uint8_t GREET[] = { 0x05, 0x01, 0x00 };
static const uint8_t METHOD_OK[] = { 0x05, 0x00 };
static const uint8_t REPLY_OK_APP[] = { 0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x23, 0x28, 'a', 'p', 'p' };
#define REPLY_LEN 10
/* CONNECT example.com:80 request */
#define REQ_LEN (4 + 1 + 11 + 2)

static struct torify_target example(void)
{
    return host_target("example.com", 80);
}

/* ---- handshake_fd ---------------------------------------------------- */

static void test_handshake_fd_succeeds_and_leaves_app_data_unread(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', REPLY_OK_APP, sizeof REPLY_OK_APP, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example(), res;
    peer_pair(&p, steps, &fd);
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, &res), TORIFY_OK);
    assert_int_equal(res.kind, TORIFY_TARGET_IPV4);
    assert_int_equal(res.port, 9000);
    char app[8] = { 0 };
    assert_int_equal(recv(fd, app, sizeof app, 0), 3);
    assert_string_equal(app, "app");
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
    static const uint8_t want[] = { 0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p',
                                    'l',  'e',  '.',  'c',  'o',  'm',  0x00, 0x50 };
    assert_bytes(p.rec, p.rec_len, want);
}

static void test_handshake_fd_peer_closing_mid_reply_is_truncated(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', REPLY_OK_APP, 6, 0 },
                                  { 'c', NULL, 0, 0 },             { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    peer_pair(&p, steps, &fd);
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_E_PROTO_TRUNCATED);
    assert_int_equal(errno, EPROTO);
    close(fd);
    peer_join(&p);
}

static void test_handshake_fd_slow_peer_within_timeout_succeeds(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 't', METHOD_OK, 2, 20 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 't', REPLY_OK_APP, REPLY_LEN, 20 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 3000 };
    peer_pair(&p, steps, &fd);
    int64_t t0 = now_ms();
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, &o, NULL), TORIFY_OK);
    assert_true(now_ms() - t0 >= 12 * 20 - 20); /* it really waited for every byte */
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
}

static void test_handshake_fd_silent_peer_times_out_on_time(void **state)
{
    const struct step steps[] = { { 'h', NULL, 0, 0 }, { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 200 };
    peer_pair(&p, steps, &fd);
    int64_t t0 = now_ms();
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, &o, NULL), TORIFY_E_TIMEOUT);
    int64_t took = now_ms() - t0;
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(took >= 190);
    assert_true(took < 1500);
    close(fd);
    peer_join(&p);
}

static void test_handshake_fd_trickling_peer_cannot_extend_the_deadline(void **state)
{
    /* One byte every 100 ms: each read makes progress, but the whole
     * handshake is bounded by one overall timeout. */
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 't', REPLY_OK_APP, REPLY_LEN, 100 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 350 };
    peer_pair(&p, steps, &fd);
    int64_t t0 = now_ms();
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, &o, NULL), TORIFY_E_TIMEOUT);
    assert_true(now_ms() - t0 < 800);
    close(fd);
    peer_join(&p);
}

static void test_handshake_fd_works_on_nonblocking_fd_and_keeps_its_flags(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 't', METHOD_OK, 2, 10 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 't', REPLY_OK_APP, sizeof REPLY_OK_APP, 10 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    peer_pair(&p, steps, &fd);
    int fl = fcntl(fd, F_GETFL);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_OK);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    /* app data arrives after the reply; poll for it, it was not swallowed */
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    char app[4] = { 0 };
    size_t got = 0;
    while (got < 3 && poll(&pf, 1, 2000) == 1) {
        ssize_t r = recv(fd, app + got, 3 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    assert_string_equal(app, "app");
    close(fd);
    peer_join(&p);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_handshake_fd_survives_interrupting_signals(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 't', METHOD_OK, 2, 15 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 't', REPLY_OK_APP, REPLY_LEN, 15 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct sigaction sa, old;
    struct itimerval it = { { 0, 3000 }, { 0, 3000 } }, off = { { 0, 0 }, { 0, 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: poll/recv see EINTR */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    peer_pair(&p, steps, &fd);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    torify_err e = torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, NULL);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(e, TORIFY_OK);
    close(fd);
    peer_join(&p);
}

static void test_handshake_fd_peer_gone_before_send_gives_no_sigpipe(void **state)
{
    int sv[2];
    struct torify_target t = example();
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    /* With the default SIGPIPE action this process would die here. */
    assert_int_equal(torify_socks_handshake_fd(sv[0], TORIFY_SOCKS_CONNECT, &t, NULL, NULL),
                     TORIFY_E_PROTO_TRUNCATED);
    close(sv[0]);
}

static void test_handshake_fd_refusal_sets_errno(void **state)
{
    static const uint8_t refused[] = { 0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', refused, sizeof refused, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example();
    peer_pair(&p, steps, &fd);
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_E_S5_CONN_REFUSED);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
    peer_join(&p);
}

static void test_handshake_fd_pipelined_auth_is_one_write(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 9 };
    /* greeting 3 + auth 3+3+1 + request 18, read in one go before answering */
    const struct step steps[] = { { 'r', NULL, 3 + 7 + REQ_LEN, 0 }, { 'w', srv, sizeof srv, 0 },
                                  { 'h', NULL, 0, 0 },                { 0 } };
    struct peer p;
    int fd;
    struct torify_target t = example(), res;
    struct torify_socks_opts o = { .user = "iso", .pass = "x", .flags = TORIFY_SOCKS_PIPELINE };
    peer_pair(&p, steps, &fd);
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, &o, &res), TORIFY_OK);
    assert_int_equal(res.port, 9);
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
    assert_memory_equal(p.rec, "\x05\x01\x02\x01\x03iso\x01x\x05\x01", 12);
}

static void test_handshake_fd_bad_arguments_touch_nothing(void **state)
{
    struct torify_target t = example();
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(-1, TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(errno, EINVAL);
    struct torify_socks_opts o = { .proto = TORIFY_SOCKS4 };
    assert_int_equal(torify_socks_handshake_fd(0, TORIFY_SOCKS_CONNECT, &t, &o, NULL), TORIFY_E_INVAL_TARGET);
}

/* ---- dial / resolve over loopback ------------------------------------ */

static void test_dial_returns_blocking_cloexec_fd_with_app_data_intact(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', REPLY_OK_APP, sizeof REPLY_OK_APP, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    struct sockaddr_in a;
    struct torify_target t = example();
    torify_err e = TORIFY_E_IO;
    peer_tcp(&p, steps, &a);
    int fd = torify_socks_dial((struct sockaddr *)&a, sizeof a, &t, NULL, &e);
    assert_true(fd >= 0);
    assert_int_equal(e, TORIFY_OK);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char app[4] = { 0 };
    assert_int_equal(recv(fd, app, 3, MSG_WAITALL), 3);
    assert_string_equal(app, "app");
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
}

static void test_dial_to_closed_port_is_proxy_unreachable(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof a;
    struct torify_target t = example();
    torify_err e = TORIFY_OK;
    /* A port that was just free: bind, learn it, close. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    errno = 0;
    assert_int_equal(torify_socks_dial((struct sockaddr *)&a, sizeof a, &t, NULL, &e), -1);
    assert_int_equal(e, TORIFY_E_PROXY_UNREACHABLE);
    assert_int_equal(errno, ECONNREFUSED);
}

static void test_dial_to_silent_proxy_times_out(void **state)
{
    const struct step steps[] = { { 'h', NULL, 0, 0 }, { 0 } };
    struct peer p;
    struct sockaddr_in a;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 150 };
    torify_err e = TORIFY_OK;
    peer_tcp(&p, steps, &a);
    int64_t t0 = now_ms();
    assert_int_equal(torify_socks_dial((struct sockaddr *)&a, sizeof a, &t, &o, &e), -1);
    assert_int_equal(e, TORIFY_E_TIMEOUT);
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(now_ms() - t0 < 1000);
    peer_join(&p);
}

/* connect_timeout_ms bounds the connect to the proxy only: a proxy that
 * takes longer than that to answer the handshake is still waited for. */
static void test_dial_connect_timeout_does_not_cut_the_handshake(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 's', NULL, 0, 300 },
                                  { 'w', METHOD_OK, 2, 0 },        { 'r', NULL, REQ_LEN, 0 },
                                  { 'w', REPLY_OK_APP, sizeof REPLY_OK_APP, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    struct sockaddr_in a;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 5000, .connect_timeout_ms = 50 };
    torify_err e = TORIFY_E_IO;
    peer_tcp(&p, steps, &a);
    int fd = torify_socks_dial((struct sockaddr *)&a, sizeof a, &t, &o, &e);
    assert_int_equal(e, TORIFY_OK);
    assert_true(fd >= 0);
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
}

/* A proxy that never answers the SYN (its accept queue, backlog 0, is full,
 * so the kernel drops the SYN): past connect_timeout_ms it is unreachable,
 * as one that refuses, while the handshake would still have had time. */
static void test_dial_to_a_proxy_not_answering_the_syn_is_unreachable_after_the_connect_bound(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof a;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 5000, .connect_timeout_ms = 200 };
    torify_err e = TORIFY_OK;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 0), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    errno = 0;
    assert_int_equal(torify_socks_dial((struct sockaddr *)&a, sizeof a, &t, &o, &e), -1);
    assert_int_equal(e, TORIFY_E_PROXY_UNREACHABLE);
    assert_int_equal(errno, ECONNREFUSED);
    close(filler);
    close(l);
}

static void test_dial_over_unix_socket(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', REPLY_OK_APP, REPLY_LEN, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    struct sockaddr_storage ss;
    socklen_t len;
    char name[64];
    struct torify_target t = example();
    snprintf(name, sizeof name, "unix:@torify-test-%ld", (long)getpid());
    assert_int_equal(torify_sockaddr_parse(name, &ss, &len), TORIFY_OK);
    memset(&p, 0, sizeof p);
    p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(p.fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(p.fd, 1), 0);
    p.listening = 1;
    p.steps = steps;
    assert_int_equal(pthread_create(&p.th, NULL, peer_main, &p), 0);
    torify_err e;
    int fd = torify_socks_dial((struct sockaddr *)&ss, len, &t, NULL, &e);
    assert_int_equal(e, TORIFY_OK);
    assert_true(fd >= 0);
    close(fd);
    peer_join(&p);
}

static void test_resolve_returns_the_address(void **state)
{
    static const uint8_t ans[] = { 0x05, 0x00, 0x00, 0x01, 198, 51, 100, 7, 0, 0 };
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, 4 + 1 + 11 + 2, 0 }, { 'w', ans, sizeof ans, 0 },
                                  { 'h', NULL, 0, 0 },              { 0 } };
    struct peer p;
    struct sockaddr_in a;
    struct torify_target out;
    peer_tcp(&p, steps, &a);
    assert_int_equal(torify_socks_resolve((struct sockaddr *)&a, sizeof a, "example.com", NULL, &out), TORIFY_OK);
    peer_join(&p);
    assert_int_equal(out.kind, TORIFY_TARGET_IPV4);
    static const uint8_t ip[4] = { 198, 51, 100, 7 };
    assert_memory_equal(out.addr, ip, 4);
    assert_int_equal(p.rec[3 + 1], 0xf0);
}

static void test_resolve_rejects_bad_names_without_connecting(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET }; /* port 0: would fail if used */
    struct torify_target out;
    char longn[300];
    memset(longn, 'n', sizeof longn - 1);
    longn[sizeof longn - 1] = 0;
    assert_int_equal(torify_socks_resolve((struct sockaddr *)&a, sizeof a, "", NULL, &out), TORIFY_E_INVAL_HOST_EMPTY);
    assert_int_equal(torify_socks_resolve((struct sockaddr *)&a, sizeof a, longn, NULL, &out),
                     TORIFY_E_INVAL_HOST_TOO_LONG);
    assert_int_equal(errno, EINVAL);
}

static void test_resolve_ptr_returns_the_name_and_refuses_short_buffers(void **state)
{
    static const uint8_t ans[] = { 0x05, 0x00, 0x00, 0x03, 8, 'h', 'o', 's', 't', '.', 'o', 'r', 'g', 0, 0 };
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, 4 + 4 + 2, 0 },     { 'w', ans, sizeof ans, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    struct sockaddr_in a;
    struct torify_target addr = v4_target(198, 51, 100, 7, 0);
    char name[16];
    peer_tcp(&p, steps, &a);
    assert_int_equal(torify_socks_resolve_ptr((struct sockaddr *)&a, sizeof a, &addr, NULL, name, sizeof name),
                     TORIFY_OK);
    peer_join(&p);
    assert_string_equal(name, "host.org");

    peer_tcp(&p, steps, &a);
    memset(name, 'Z', sizeof name);
    assert_int_equal(torify_socks_resolve_ptr((struct sockaddr *)&a, sizeof a, &addr, NULL, name, 8),
                     TORIFY_E_INVAL_ARGUMENT); /* "host.org" needs 9 */
    peer_join(&p);
    assert_int_equal(name[0], 'Z');
}

static void closed_port(struct sockaddr_in *a)
{
    socklen_t len = sizeof *a;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)a, sizeof *a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)a, &len), 0);
    close(s);
}

static void test_handshake_fd_waits_for_a_nonblocking_connect_in_progress(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', REPLY_OK_APP, REPLY_LEN, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    struct sockaddr_in a;
    struct torify_target t = example();
    peer_tcp(&p, steps, &a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    assert_true(r == 0 || errno == EINPROGRESS);
    /* No wait for the connect here: the shim may hand over such a socket. */
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_OK);
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
}

static void test_handshake_fd_on_refused_nonblocking_connect_is_proxy_unreachable(void **state)
{
    struct sockaddr_in a;
    struct torify_target t = example();
    closed_port(&a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (r == 0 || errno != EINPROGRESS) {
        close(fd);
        skip(); /* the kernel refused synchronously: nothing left to test */
    }
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &t, NULL, NULL),
                     TORIFY_E_PROXY_UNREACHABLE);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
}

static void test_dial_to_missing_unix_socket_is_proxy_unreachable(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct torify_target t = example();
    torify_err e = TORIFY_OK;
    assert_int_equal(torify_sockaddr_parse("unix:/nonexistent/torify/socks", &ss, &len), TORIFY_OK);
    assert_int_equal(torify_socks_dial((struct sockaddr *)&ss, len, &t, NULL, &e), -1);
    assert_int_equal(e, TORIFY_E_PROXY_UNREACHABLE);
    assert_int_equal(errno, ECONNREFUSED);
}

static void test_helpers_reject_missing_arguments(void **state)
{
    struct torify_target t = example(), out;
    struct sockaddr_in a;
    torify_err e = TORIFY_OK;
    char name[8];
    closed_port(&a);
    assert_int_equal(torify_socks_dial(NULL, sizeof a, &t, NULL, &e), -1);
    assert_int_equal(e, TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(torify_socks_resolve((struct sockaddr *)&a, sizeof a, NULL, NULL, &out), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_resolve_ptr((struct sockaddr *)&a, sizeof a, &t, NULL, NULL, 8),
                     TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_resolve_ptr((struct sockaddr *)&a, sizeof a, &t, NULL, name, 0),
                     TORIFY_E_INVAL_ARGUMENT);
}

static void test_resolve_helpers_report_unreachable_proxy(void **state)
{
    struct sockaddr_in a;
    struct torify_target out, addr = v4_target(192, 0, 2, 1, 0);
    char name[64];
    closed_port(&a);
    assert_int_equal(torify_socks_resolve((struct sockaddr *)&a, sizeof a, "example.com", NULL, &out),
                     TORIFY_E_PROXY_UNREACHABLE);
    assert_int_equal(torify_socks_resolve_ptr((struct sockaddr *)&a, sizeof a, &addr, NULL, name, sizeof name),
                     TORIFY_E_PROXY_UNREACHABLE);
    assert_int_equal(errno, ECONNREFUSED);
}

static void test_handshake_fd_on_non_socket_is_io_error_keeping_system_errno(void **state)
{
    int pv[2];
    struct torify_target t = example();
    assert_int_equal(pipe(pv), 0);
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(pv[1], TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_E_IO);
    assert_int_equal(errno, ENOTSOCK); /* the real reason, not a mapped one */
    close(pv[0]);
    close(pv[1]);
    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(pv[1], TORIFY_SOCKS_CONNECT, &t, NULL, NULL), TORIFY_E_IO);
    assert_int_equal(errno, EBADF);
}

static void test_dial_over_ipv6_loopback(void **state)
{
    const struct step steps[] = { { 'r', NULL, sizeof GREET, 0 }, { 'w', METHOD_OK, 2, 0 },
                                  { 'r', NULL, REQ_LEN, 0 },       { 'w', REPLY_OK_APP, sizeof REPLY_OK_APP, 0 },
                                  { 'h', NULL, 0, 0 },             { 0 } };
    struct peer p;
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    socklen_t len = sizeof a;
    struct sockaddr_storage ss;
    socklen_t sl;
    char text[64];
    struct torify_target t = example();
    torify_err e;

    memset(&p, 0, sizeof p);
    p.fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p.fd < 0 || bind(p.fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (p.fd >= 0)
            close(p.fd);
        skip(); /* no ::1 in this environment */
    }
    assert_int_equal(listen(p.fd, 1), 0);
    assert_int_equal(getsockname(p.fd, (struct sockaddr *)&a, &len), 0);
    p.listening = 1;
    p.steps = steps;
    assert_int_equal(pthread_create(&p.th, NULL, peer_main, &p), 0);
    snprintf(text, sizeof text, "[::1]:%u", (unsigned)ntohs(a.sin6_port));
    assert_int_equal(torify_sockaddr_parse(text, &ss, &sl), TORIFY_OK);
    int fd = torify_socks_dial((struct sockaddr *)&ss, sl, &t, NULL, &e);
    assert_int_equal(e, TORIFY_OK);
    assert_true(fd >= 0);
    char app[4] = { 0 };
    assert_int_equal(recv(fd, app, 3, MSG_WAITALL), 3);
    assert_string_equal(app, "app");
    close(fd);
    peer_join(&p);
    assert_false(p.failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_fd_succeeds_and_leaves_app_data_unread),
        cmocka_unit_test(test_handshake_fd_peer_closing_mid_reply_is_truncated),
        cmocka_unit_test(test_handshake_fd_slow_peer_within_timeout_succeeds),
        cmocka_unit_test(test_handshake_fd_silent_peer_times_out_on_time),
        cmocka_unit_test(test_handshake_fd_trickling_peer_cannot_extend_the_deadline),
        cmocka_unit_test(test_handshake_fd_works_on_nonblocking_fd_and_keeps_its_flags),
        cmocka_unit_test(test_handshake_fd_survives_interrupting_signals),
        cmocka_unit_test(test_handshake_fd_peer_gone_before_send_gives_no_sigpipe),
        cmocka_unit_test(test_handshake_fd_refusal_sets_errno),
        cmocka_unit_test(test_handshake_fd_pipelined_auth_is_one_write),
        cmocka_unit_test(test_handshake_fd_bad_arguments_touch_nothing),
        cmocka_unit_test(test_dial_returns_blocking_cloexec_fd_with_app_data_intact),
        cmocka_unit_test(test_dial_to_closed_port_is_proxy_unreachable),
        cmocka_unit_test(test_dial_to_silent_proxy_times_out),
        cmocka_unit_test(test_dial_connect_timeout_does_not_cut_the_handshake),
        cmocka_unit_test(test_dial_to_a_proxy_not_answering_the_syn_is_unreachable_after_the_connect_bound),
        cmocka_unit_test(test_dial_over_unix_socket),
        cmocka_unit_test(test_dial_over_ipv6_loopback),
        cmocka_unit_test(test_resolve_returns_the_address),
        cmocka_unit_test(test_resolve_rejects_bad_names_without_connecting),
        cmocka_unit_test(test_resolve_ptr_returns_the_name_and_refuses_short_buffers),
        cmocka_unit_test(test_handshake_fd_waits_for_a_nonblocking_connect_in_progress),
        cmocka_unit_test(test_handshake_fd_on_refused_nonblocking_connect_is_proxy_unreachable),
        cmocka_unit_test(test_dial_to_missing_unix_socket_is_proxy_unreachable),
        cmocka_unit_test(test_helpers_reject_missing_arguments),
        cmocka_unit_test(test_resolve_helpers_report_unreachable_proxy),
        cmocka_unit_test(test_handshake_fd_on_non_socket_is_io_error_keeping_system_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
