/*
 * test_guard_supervisor — the supervisor answering a guarded child's
 * connect() calls, all on loopback: a stub SOCKS5 server in this process
 * plays Tor and records what it was asked; the child runs under the real
 * filter with the real supervisor.  The stub never dials anything, so the
 * destinations asked for (10.x, 2001:db8::) are never contacted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "core/fakemap.h"
#include "core/fakemap_ask.h"
#include "guard/internal.h"

/* ---- a stub SOCKS5 server: no auth, CONNECT, answers "hello" ---------- */

struct stub {
    int lfd;
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t mu;
    int n_requests;
    uint8_t atyp;
    uint8_t addr[16];
    uint16_t dport;
    char user[256], pass[256];
    int active;          /* sessions being served */
    pthread_cond_t idle;
};

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

struct conn_job {
    struct stub *s;
    int c;
};

/* One SOCKS5 session; requests for port 7 are answered 1.5 s late. */
static void *serve_one(void *arg)
{
    struct conn_job *j = arg;
    struct stub *s = j->s;
    int c = j->c;
    free(j);
    uint8_t g[2], m[255], h[4], a[16], p[2];
    size_t alen = 0;
    int ok_greet = read_full(c, g, 2) == 0 && g[1] > 0 && read_full(c, m, g[1]) == 0;
    if (ok_greet && m[0] == 2) {
        /* RFC 1929: record the user name and accept. */
        uint8_t v, l;
        char user[256] = {0}, pass[256] = {0};
        ok_greet = write(c, "\x05\x02", 2) == 2 && read_full(c, &v, 1) == 0 && read_full(c, &l, 1) == 0 &&
                   read_full(c, user, l) == 0 && read_full(c, &l, 1) == 0 && read_full(c, pass, l) == 0 &&
                   write(c, "\x01\x00", 2) == 2;
        pthread_mutex_lock(&s->mu);
        snprintf(s->user, sizeof s->user, "%s", user);
        snprintf(s->pass, sizeof s->pass, "%s", pass);
        pthread_mutex_unlock(&s->mu);
    } else if (ok_greet) {
        ok_greet = write(c, "\x05\x00", 2) == 2;
    }
    if (ok_greet && read_full(c, h, 4) == 0) {
        alen = h[3] == 1 ? 4 : h[3] == 4 ? 16 : 0;
        if (alen && read_full(c, a, alen) == 0 && read_full(c, p, 2) == 0) {
            uint16_t dport = (uint16_t)(p[0] << 8 | p[1]);
            pthread_mutex_lock(&s->mu);
            s->n_requests++;
            s->atyp = h[3];
            memcpy(s->addr, a, alen);
            s->dport = dport;
            pthread_mutex_unlock(&s->mu);
            if (dport == 7)
                usleep(1500 * 1000);
            static const uint8_t ok[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
            /* Answer and hang up. */
            if (write(c, ok, sizeof ok) == sizeof ok) {
                ssize_t w = write(c, "hello", 5);
                (void)w;
            }
        }
    }
    close(c);
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *stub_main(void *arg)
{
    struct stub *s = arg;
    for (;;) {
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        struct conn_job *j = malloc(sizeof *j);
        pthread_t t;
        if (!j) {
            close(c);
            continue;
        }
        j->s = s;
        j->c = c;
        pthread_mutex_lock(&s->mu);
        s->active++;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&t, NULL, serve_one, j) != 0) {
            close(c);
            free(j);
            pthread_mutex_lock(&s->mu);
            s->active--;
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        pthread_detach(t);
    }
}

static struct stub *stub_start(void)
{
    struct stub *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof in;
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&in, sizeof in), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&in, &l), 0);
    s->port = ntohs(in.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, stub_main, s), 0);
    return s;
}

/* What the stub recorded, read under its lock. */
struct record {
    int n_requests;
    uint8_t atyp;
    uint8_t addr[16];
    uint16_t dport;
    char user[256], pass[256];
};

static struct record rec_of(struct stub *s)
{
    struct record r;
    pthread_mutex_lock(&s->mu);
    r.n_requests = s->n_requests;
    r.atyp = s->atyp;
    memcpy(r.addr, s->addr, sizeof r.addr);
    r.dport = s->dport;
    memcpy(r.user, s->user, sizeof r.user);
    memcpy(r.pass, s->pass, sizeof r.pass);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void stub_stop(struct stub *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    close(s->lfd);
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->mu);
    while (s->active > 0)
        pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    free(s);
}

/* ---- a guarded child -------------------------------------------------- */

static struct torify_config cfg_for(uint16_t tor_port)
{
    struct torify_config c;
    memset(&c, 0, sizeof c);
    struct sockaddr_in *t = (struct sockaddr_in *)&c.tor_addr;
    t->sin_family = AF_INET;
    t->sin_port = htons(tor_port);
    t->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.tor_addr_len = sizeof *t;
    c.proto = TORIFY_SOCKS5;
    c.fake4.family = AF_INET;
    c.fake4.addr[0] = 127, c.fake4.addr[1] = 192;
    c.fake4.prefix = 10;
    c.log_level_set = true;
    c.log_level = TORIFY_LOG_QUIET;
    return c;
}

static bool isolate_next; /* IsolatePID for the next supervised() */
static bool inbound_next; /* AllowInbound for the next supervised() */
static struct torify_fakemap *map_next; /* the tree's fake map for the next supervised() */
static pid_t isolated_child; /* pid of the last supervised() child */

/* Run fn in a child under the filter, supervised by this process.
 * Returns fn's exit status (0 good, else an errno or a code). */
static int supervised(int (*fn)(void *), void *arg, uint16_t tor_port)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        close(sp[0]);
        int l = guard_filter_install();
        if (l < 0)
            _exit(199);
        /* Hand the listener over as the launcher does. */
        char b = 'L';
        struct iovec iov = {&b, 1};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } u;
        memset(&u, 0, sizeof u);
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &l, sizeof l);
        if (sendmsg(sp[1], &m, 0) != 1)
            _exit(198);
        close(l);
        close(sp[1]);
        _exit(fn(arg));
    }
    close(sp[1]);
    char b;
    struct iovec iov = {&b, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    assert_int_equal(recvmsg(sp[0], &m, MSG_CMSG_CLOEXEC), 1);
    int l;
    memcpy(&l, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof l);
    close(sp[0]);

    /* Static, one per run: the detached loop thread may still read it
     * after the child is gone. */
    static struct guard_sup sups[32];
    static size_t used;
    assert_true(used < sizeof sups / sizeof sups[0]);
    struct guard_sup *s = &sups[used++];
    s->listener = l;
    s->cfg = cfg_for(tor_port);
    s->cfg.isolate_pid = isolate_next;
    s->cfg.allow_inbound = inbound_next;
    s->map = map_next;
    assert_int_equal(guard_supervisor_start(s), 0);
    isolated_child = pid;
    int st;
    assert_true(waitpid(pid, &st, 0) == pid);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 199);
    return WEXITSTATUS(st);
}

static struct stub *cur;

static int connect_to(int fd, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        len = sizeof *in;
    } else {
        inet_pton(AF_INET6, ip, &in6->sin6_addr);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        len = sizeof *in6;
    }
    return (int)syscall(SYS_connect, fd, &ss, len) == 0 ? 0 : errno;
}

/* Child: connect through raw syscall, then expect the stub's "hello". */
static int child_torified_v4(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int e = connect_to(fd, "10.11.12.13", 8080);
    if (e)
        return e;
    char buf[6] = {0};
    return read_full(fd, buf, 5) == 0 && strcmp(buf, "hello") == 0 ? 0 : 100;
}

static void test_ip_connect_is_torified_with_the_requested_destination(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_torified_v4, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 1);
    assert_int_equal(rec.atyp, 1);
    assert_memory_equal(rec.addr, "\x0a\x0b\x0c\x0d", 4);
    assert_int_equal(rec.dport, 8080);
    stub_stop(cur);
}

static int child_torified_v6(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int e = connect_to(fd, "2001:db8::7", 443);
    if (e)
        return e;
    char buf[6] = {0};
    return read_full(fd, buf, 5) == 0 && strcmp(buf, "hello") == 0 ? 0 : 100;
}

static void test_ipv6_connect_is_torified_as_an_ipv6_request(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_torified_v6, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.atyp, 4);
    assert_memory_equal(rec.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
    assert_int_equal(rec.dport, 443);
    stub_stop(cur);
}

/* The swapped-in socket keeps O_NONBLOCK and FD_CLOEXEC of the original. */
static int child_flags_kept(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int plain = socket(AF_INET, SOCK_STREAM, 0);
    int e = connect_to(fd, "10.0.0.1", 80);
    if (e)
        return e;
    if (!(fcntl(fd, F_GETFL) & O_NONBLOCK) || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
        return 101;
    if ((e = connect_to(plain, "10.0.0.2", 80)) != 0)
        return e;
    if ((fcntl(plain, F_GETFL) & O_NONBLOCK) || (fcntl(plain, F_GETFD) & FD_CLOEXEC))
        return 102;
    return 0;
}

static int child_options_kept(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct timeval tv = {7, 0};
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return 140;
    int e = connect_to(fd, "10.0.0.3", 80);
    if (e)
        return e;
    int v = 0;
    socklen_t l = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &l) != 0 || v != 1)
        return 141;
    l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &l) != 0 || v != 1)
        return 142;
    struct timeval got;
    l = sizeof got;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &l) != 0 || got.tv_sec != 7)
        return 143;
    return 0;
}

static void test_swapped_socket_keeps_options_set_before_connect(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_options_kept, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 1);
    stub_stop(cur);
}

static void test_swapped_socket_keeps_nonblock_and_cloexec(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_flags_kept, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 2);
    stub_stop(cur);
}

static int child_fake(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    return connect_to(fd, "127.192.0.5", 80);
}

static void test_unknown_fake_address_is_refused(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_fake, NULL, cur->port), torify_err_errno(TORIFY_E_REFUSE_UNKNOWN_FAKE));
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 0);
    stub_stop(cur);
}

static int child_tor_down(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    return connect_to(fd, "10.0.0.1", 80);
}

static void test_tor_unreachable_fails_closed(void **st)
{
    (void)st;
    /* Port 1 on loopback: nothing listens, the connect must just fail. */
    assert_int_equal(supervised(child_tor_down, NULL, 1), ECONNREFUSED);
}

/* A Tor that never answers the SYN (its accept queue, backlog 0, is full):
 * the supervisor's connect to it gives up at core/policy.h's
 * TORIFY_TOR_CONNECT_MS and the program's connect fails closed, as when
 * nothing listens — not after the handshake's two minutes (ETIMEDOUT). */
static void test_tor_not_answering_the_syn_fails_closed_at_the_connect_bound(void **st)
{
    (void)st;
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 0), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(supervised(child_tor_down, NULL, ntohs(a.sin_port)), ECONNREFUSED);
    close(filler);
    close(l);
}

static int child_bad_fds(void *arg)
{
    (void)arg;
    int e = connect_to(9999, "10.0.0.1", 80);
    if (e != EBADF)
        return 110;
    int p[2];
    if (pipe(p) != 0)
        return 111;
    e = connect_to(p[0], "10.0.0.1", 80);
    return e == ENOTSOCK ? 0 : 112;
}

static void test_bad_fd_and_non_socket_get_the_kernels_errors(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_bad_fds, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 0);
    stub_stop(cur);
}

/* AF_UNIX: the supervisor connects the program's own socket; a relative
 * path is resolved in the program's cwd, not the supervisor's. */
static char unix_dir[64];

static int child_unix(void *arg)
{
    (void)arg;
    if (chdir(unix_dir) != 0)
        return 120;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "sock");
    if (connect(fd, (struct sockaddr *)&un, sizeof un) != 0)
        return errno;
    char buf[4] = {0};
    return read_full(fd, buf, 3) == 0 && strcmp(buf, "uds") == 0 ? 0 : 121;
}

static void *unix_server(void *arg)
{
    int lfd = *(int *)arg;
    int c = accept(lfd, NULL, NULL);
    if (c >= 0) {
        ssize_t w = write(c, "uds", 3);
        (void)w;
        close(c);
    }
    return NULL;
}

static void test_unix_connect_with_relative_path_uses_the_programs_cwd(void **st)
{
    (void)st;
    snprintf(unix_dir, sizeof unix_dir, "/tmp/guard-unit-XXXXXX");
    assert_non_null(mkdtemp(unix_dir));
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s/sock", unix_dir);
    assert_int_equal(bind(lfd, (struct sockaddr *)&un, sizeof un), 0);
    assert_int_equal(listen(lfd, 4), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, unix_server, &lfd), 0);
    int r = supervised(child_unix, NULL, 1);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(t, NULL);
    close(lfd);
    unlink(un.sun_path);
    rmdir(unix_dir);
    assert_int_equal(r, 0);
}

/* Many threads at once while the stub is slow to accept is covered by the
 * integration test; here: several connects in a row reuse the same fds. */
static int child_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int e = connect_to(fd, "10.0.0.9", (uint16_t)(1000 + i));
        if (e)
            return e;
        char buf[6] = {0};
        if (read_full(fd, buf, 5) != 0)
            return 130;
        close(fd);
    }
    return 0;
}

static void test_twenty_connects_in_a_row_all_torified(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_many, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 20);
    assert_int_equal(rec.dport, 1019);
    stub_stop(cur);
}

static int child_isolated(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    return connect_to(fd, "10.0.0.4", 80);
}

static void test_isolate_pid_gives_per_process_credentials_like_the_shim(void **st)
{
    (void)st;
    cur = stub_start();
    isolate_next = true;
    int r = supervised(child_isolated, NULL, cur->port);
    isolate_next = false;
    assert_int_equal(r, 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 1);
    /* "torify-<pid>-<start time>" / "isolate", as core/policy.c makes them. */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "torify-%d-", (int)isolated_child);
    assert_true(strncmp(rec.user, prefix, strlen(prefix)) == 0);
    assert_true(strlen(rec.user) > strlen(prefix));
    assert_string_equal(rec.pass, "isolate");
    stub_stop(cur);
}

static void test_without_isolation_no_credentials_are_sent(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_isolated, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_string_equal(rec.user, "");
    stub_stop(cur);
}

/* One thread's connect waits for a slow handshake (port 7, 1.5 s); the
 * other's must not wait behind it. */
static void *slow_connect(void *arg)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    *(int *)arg = connect_to(fd, "10.0.0.6", 7);
    close(fd);
    return NULL;
}

static int child_slow_and_fast(void *arg)
{
    (void)arg;
    int slow_result = -1;
    pthread_t t;
    if (pthread_create(&t, NULL, slow_connect, &slow_result) != 0)
        return 170;
    usleep(200 * 1000); /* the slow one is in its handshake now */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int e = connect_to(fd, "10.0.0.6", 8);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    pthread_join(t, NULL);
    if (e || slow_result)
        return 171;
    return ms < 700 ? 0 : 172;
}

static void test_slow_handshake_does_not_stall_other_connects(void **st)
{
    (void)st;
    cur = stub_start();
    assert_int_equal(supervised(child_slow_and_fast, NULL, cur->port), 0);
    struct record rec = rec_of(cur);
    assert_int_equal(rec.n_requests, 2);
    stub_stop(cur);
}

/* A blocking direct connect that waits (a unix listener whose backlog is
 * full) must not stall another thread's connect: the supervisor thread
 * that waits in it hands receiving on.  The waiting connect has a 5 s
 * SO_SNDTIMEO: if the other connect could only be served after it, it
 * ends in EAGAIN instead of being accepted. */
struct unix_wait {
    struct sockaddr_un full;
    int result;
    pid_t tid;
};

static void *blocking_unix_connect(void *arg)
{
    struct unix_wait *w = arg;
    w->tid = (pid_t)syscall(SYS_gettid);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        w->result = 180;
        return NULL;
    }
    w->result = connect(fd, (struct sockaddr *)&w->full, sizeof w->full) == 0 ? 0 : errno;
    close(fd);
    return NULL;
}

/* Is thread tid inside connect()?  (/proc/self/task/TID/syscall starts
 * with the number of the call it waits in.) */
static bool in_connect(pid_t tid)
{
    char path[64], buf[32] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && atoi(buf) == SYS_connect;
}

static int unix_listener(struct sockaddr_un *a, const char *tag, int backlog)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "guard-unit-%s-%d", tag, (int)getpid()); /* abstract */
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)a, sizeof *a) != 0 || listen(l, backlog) != 0)
        return -1;
    return l;
}

static int child_blocked_direct_and_another(void *arg)
{
    (void)arg;
    struct unix_wait w = {.result = -1, .tid = 0};
    struct sockaddr_un open_a;
    int full = unix_listener(&w.full, "full", 0), other = unix_listener(&open_a, "open", 8);
    if (full < 0 || other < 0)
        return 181;
    /* One connection waiting to be accepted fills a backlog of 0. */
    int first = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (first < 0 || connect(first, (struct sockaddr *)&w.full, sizeof w.full) != 0)
        return 182;
    pthread_t t;
    if (pthread_create(&t, NULL, blocking_unix_connect, &w) != 0)
        return 183;
    while (__atomic_load_n(&w.tid, __ATOMIC_SEQ_CST) == 0 || !in_connect(w.tid))
        usleep(1000);
    usleep(100 * 1000); /* the supervisor now waits in that connect (not asserted: ordering only) */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int e = fd < 0 ? 184 : connect(fd, (struct sockaddr *)&open_a, sizeof open_a) == 0 ? 0 : errno;
    /* Room in the full backlog: the waiting connect completes. */
    int a = accept(full, NULL, NULL);
    pthread_join(t, NULL);
    if (e)
        return 185;
    if (a < 0)
        return 186;
    return w.result == 0 ? 0 : w.result == EAGAIN ? 187 : 188;
}

static void test_blocking_direct_connect_does_not_stall_other_connects(void **st)
{
    (void)st;
    assert_int_equal(supervised(child_blocked_direct_and_another, NULL, 9), 0);
}

/* The same with a blocking TCP connect to Tor's own address (direct)
 * whose listener's accept queue is full: the SYN is dropped until there is
 * room (the kernel retries it after 1 s).  Another thread's connect goes
 * through meanwhile, and the waiting one returns 0 once accepted, as a
 * blocking connect does (not EINPROGRESS, though the supervisor gave its
 * first try only one tick). */
/* A loopback port nothing listens on now (the kernel's pick). */
static uint16_t free_port_for_test(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct tcp_wait {
    uint16_t port;
    int result;
    pid_t tid;
};

static void *blocking_tcp_connect(void *arg)
{
    struct tcp_wait *w = arg;
    w->tid = (pid_t)syscall(SYS_gettid);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {8, 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        w->result = 190;
        return NULL;
    }
    w->result = connect_to(fd, "127.0.0.1", w->port);
    struct timeval after;
    socklen_t l = sizeof after;
    /* The program's own timeout is still there afterwards. */
    if (w->result == 0 && (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &after, &l) != 0 || after.tv_sec != 8))
        w->result = 191;
    close(fd);
    return NULL;
}

static int child_blocked_tcp_and_another(void *arg)
{
    struct tcp_wait w = {.port = *(uint16_t *)arg, .result = -1, .tid = 0};
    int tl = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(w.port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (tl < 0 || setsockopt(tl, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(tl, (struct sockaddr *)&a, sizeof a) != 0 || listen(tl, 0) != 0)
        return 192;
    struct sockaddr_un open_a;
    int other = unix_listener(&open_a, "open-tcp", 8);
    if (other < 0)
        return 193;
    struct timeval bound = {15, 0}; /* accept fails rather than hangs when the test fails */
    if (setsockopt(tl, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound) != 0)
        return 192;
    /* One connection waiting to be accepted fills an accept queue of 0. */
    int first = socket(AF_INET, SOCK_STREAM, 0);
    if (first < 0 || connect_to(first, "127.0.0.1", w.port) != 0)
        return 194;
    pthread_t t;
    if (pthread_create(&t, NULL, blocking_tcp_connect, &w) != 0)
        return 195;
    while (__atomic_load_n(&w.tid, __ATOMIC_SEQ_CST) == 0 || !in_connect(w.tid))
        usleep(1000);
    usleep(100 * 1000); /* ordering only, not asserted */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int e = fd < 0 ? 196 : connect(fd, (struct sockaddr *)&open_a, sizeof open_a) == 0 ? 0 : errno;
    int a1 = accept(tl, NULL, NULL);
    int a2 = accept(tl, NULL, NULL); /* the waiting one, at its next SYN */
    pthread_join(t, NULL);
    if (e)
        return 197;
    if (a1 < 0 || a2 < 0)
        return 198;
    return w.result == 0 ? 0 : w.result == EINPROGRESS ? 199 : w.result == 191 ? 200 : 201;
}

static void test_blocking_tcp_connect_to_tor_waits_without_stalling_others(void **st)
{
    (void)st;
    uint16_t port = free_port_for_test();
    assert_int_equal(supervised(child_blocked_tcp_and_another, &port, port), 0);
}

static int threads_here(void)
{
    char buf[512];
    snprintf(buf, sizeof buf, "/proc/self/status");
    FILE *f = fopen(buf, "r");
    int n = -1;
    if (!f)
        return -1;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int child_one_unix_connect(void *arg)
{
    (void)arg;
    struct sockaddr_un a;
    int l = unix_listener(&a, "end", 8), fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || fd < 0)
        return 1;
    return connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
}

/* Once no task uses the filter, the supervisor's threads end (they do not
 * wait, or spin, on a listener nobody can notify any more). */
static void test_supervisor_threads_end_with_the_program(void **st)
{
    (void)st;
    int before = threads_here();
    assert_true(before > 0);
    assert_int_equal(supervised(child_one_unix_connect, NULL, 9), 0);
    int now = threads_here();
    for (int i = 0; i < 500 && now > before; i++) { /* up to 5 s: a bound, not a timing */
        usleep(10 * 1000);
        now = threads_here();
    }
    assert_true(now <= before); /* threads of earlier tests may end meanwhile too */
}

static bool listening(int fd)
{
    int v = 0;
    socklen_t l = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 1;
}

/* 0 when listen on a socket bound to ip behaves as expected for inbound
 * not allowed: loopback listens, wildcard / unbound refused. */
static int child_listens(void *arg)
{
    (void)arg;
    int lo = socket(AF_INET, SOCK_STREAM, 0), any = socket(AF_INET, SOCK_STREAM, 0);
    int unbound = socket(AF_INET6, SOCK_STREAM, 0), un = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lo, (struct sockaddr *)&a, sizeof a) != 0)
        return 150;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(any, (struct sockaddr *)&a, sizeof a) != 0)
        return 151;
    if (listen(lo, 8) != 0 || !listening(lo))
        return 152;
    if (listen(any, 8) == 0 || errno != torify_err_errno(TORIFY_E_REFUSE_INBOUND) || listening(any))
        return 153;
    if (listen(unbound, 8) == 0 || listening(unbound))
        return 154;
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    snprintf(ua.sun_path + 1, sizeof ua.sun_path - 1, "guard-unit-%d", (int)getpid()); /* abstract */
    if (bind(un, (struct sockaddr *)&ua, sizeof ua) != 0 || listen(un, 8) != 0 || !listening(un))
        return 155;
    int p[2];
    if (pipe(p) != 0 || listen(p[0], 1) == 0 || errno != ENOTSOCK)
        return 156;
    return 0;
}

static void test_listen_on_non_loopback_is_refused_loopback_allowed(void **st)
{
    (void)st;
    assert_int_equal(supervised(child_listens, NULL, 1), 0);
}

static int child_listens_anywhere(void *arg)
{
    (void)arg;
    int any = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(any, (struct sockaddr *)&a, sizeof a) != 0)
        return 160;
    return listen(any, 8) == 0 && listening(any) ? 0 : 161;
}

static void test_allow_inbound_lets_the_wildcard_listen(void **st)
{
    (void)st;
    inbound_next = true;
    int r = supervised(child_listens_anywhere, NULL, 1);
    inbound_next = false;
    assert_int_equal(r, 0);
}

static void *tgid_thread(void *arg)
{
    *(pid_t *)arg = guard_tgid_of((pid_t)syscall(SYS_gettid));
    return NULL;
}

static void test_thread_group_of_a_thread_is_its_process(void **st)
{
    (void)st;
    /* The fallback of kernels without PIDFD_THREAD. */
    pid_t got = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tgid_thread, &got), 0);
    pthread_join(t, NULL);
    assert_int_equal(got, getpid());
    assert_true(guard_tgid_of(0x3fffffff) < 0);
}

/* ---- the fake-map request (core/fakemap_ask.h, guard/fakemap_fd.c) ---- */

static uint64_t map_ino; /* inode of map_next's memfd */

/* 0: got the tree's memfd, close-on-exec; 10+errno: the call failed;
 * 1: some other file; 2: not close-on-exec. */
static int child_ask_map(void *arg)
{
    (void)arg;
    /* Like ssh or a daemon: drop every inherited fd, the map's too. */
    if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
        return 3;
    long fd = syscall(SYS_pidfd_getfd, -1, TORIFY_FAKEMAP_ASK_FD, TORIFY_FAKEMAP_ASK_FLAGS);
    if (fd < 0)
        return 10 + errno;
    struct stat st;
    if (fstat((int)fd, &st) != 0 || (uint64_t)st.st_ino != map_ino)
        return 1;
    int fl = fcntl((int)fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC) ? 0 : 2;
}

/* A near miss (flags 0) is not the request: the kernel's own EBADF. */
static int child_near_miss(void *arg)
{
    (void)arg;
    long fd = syscall(SYS_pidfd_getfd, -1, TORIFY_FAKEMAP_ASK_FD, 0);
    return fd < 0 ? 10 + errno : 0;
}

static void test_guarded_child_gets_the_trees_fake_map_on_request(void **st)
{
    (void)st;
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    struct torify_config c = cfg_for(1);
    o.range4 = c.fake4;
    struct torify_fakemap *m = NULL;
    assert_int_equal(torify_fakemap_create(&m, &o), TORIFY_OK);
    int fd = torify_fakemap_export(m, 100, &map_ino);
    assert_true(fd >= 100);
    map_next = m;
    assert_int_equal(supervised(child_ask_map, NULL, 1), 0);
    assert_int_equal(supervised(child_near_miss, NULL, 1), 10 + EBADF);
    map_next = NULL;
    /* No map in the supervisor: an error, nothing installed. */
    assert_int_equal(supervised(child_ask_map, NULL, 1), 10 + EBADF);
    /* The supervisor's map is left as it was (the launcher keeps it). */
    assert_int_equal(torify_fakemap_fd(m), fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_connect_is_torified_with_the_requested_destination),
        cmocka_unit_test(test_ipv6_connect_is_torified_as_an_ipv6_request),
        cmocka_unit_test(test_swapped_socket_keeps_nonblock_and_cloexec),
        cmocka_unit_test(test_swapped_socket_keeps_options_set_before_connect),
        cmocka_unit_test(test_unknown_fake_address_is_refused),
        cmocka_unit_test(test_tor_unreachable_fails_closed),
        cmocka_unit_test(test_bad_fd_and_non_socket_get_the_kernels_errors),
        cmocka_unit_test(test_unix_connect_with_relative_path_uses_the_programs_cwd),
        cmocka_unit_test(test_twenty_connects_in_a_row_all_torified),
        cmocka_unit_test(test_thread_group_of_a_thread_is_its_process),
        cmocka_unit_test(test_guarded_child_gets_the_trees_fake_map_on_request),
        cmocka_unit_test(test_isolate_pid_gives_per_process_credentials_like_the_shim),
        cmocka_unit_test(test_without_isolation_no_credentials_are_sent),
        cmocka_unit_test(test_slow_handshake_does_not_stall_other_connects),
        cmocka_unit_test(test_blocking_direct_connect_does_not_stall_other_connects),
        cmocka_unit_test(test_blocking_tcp_connect_to_tor_waits_without_stalling_others),
        cmocka_unit_test(test_supervisor_threads_end_with_the_program),
        cmocka_unit_test(test_tor_not_answering_the_syn_fails_closed_at_the_connect_bound),
        cmocka_unit_test(test_listen_on_non_loopback_is_refused_loopback_allowed),
        cmocka_unit_test(test_allow_inbound_lets_the_wildcard_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
