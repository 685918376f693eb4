/* Non-blocking connects through the shim (shim/nb_*.c) against an
 * in-process SOCKS5 server on a unix socket whose replies wait for a gate:
 * EINPROGRESS before the reply, no readiness before it (poll, epoll),
 * SO_ERROR and a second connect() as the kernel reports them, epoll
 * MOD/DEL while connecting, close mid-handshake, fork, and the pool's
 * generations and references. */
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shim/state.h"
#include "shim/nb.h"

static char sock_path[108];
static int listener = -1;
static pthread_t server_thread;
static atomic_int gate_open;
static atomic_int requests_seen;

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EAGAIN) { /* the test's sockets are non-blocking */
            struct pollfd p = { .fd = fd, .events = POLLIN };
            if (poll(&p, 1, 10000) != 1)
                return -1;
            continue;
        }
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* refuse.test -> 5, else success and echo; the reply waits for gate_open. */
static void *serve_one(void *arg)
{
    int c = (int)(intptr_t)arg;
    uint8_t g[2], hdr[4], buf[512], len;
    char host[256] = "";
    if (read_full(c, g, 2) || read_full(c, buf, g[1]) || write(c, "\x05\x00", 2) != 2 || read_full(c, hdr, 4) ||
        hdr[3] != 3 || read_full(c, &len, 1) || read_full(c, host, len) || read_full(c, buf, 2))
        goto out;
    host[len] = '\0';
    atomic_fetch_add(&requests_seen, 1);
    for (int i = 0; i < 1000 && !atomic_load(&gate_open); i++)
        usleep(10000);
    uint8_t rep = strcmp(host, "refuse.test") == 0 ? 5 : 0;
    uint8_t reply[10] = { 5, rep, 0, 1, 0, 0, 0, 0, 0, 0 };
    if (write(c, reply, sizeof reply) != sizeof reply || rep)
        goto out;
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
        if (write(c, buf, (size_t)n) != n)
            break;
out:
    close(c);
    return NULL;
}

static void *server_main(void *arg)
{
    for (;;) {
        int c = accept(listener, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        pthread_create(&t, NULL, serve_one, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

static struct addrinfo *lookup(const char *name)
{
    struct addrinfo h, *res = NULL;
    memset(&h, 0, sizeof h);
    h.ai_family = AF_INET;
    h.ai_socktype = SOCK_STREAM;
    assert_int_equal(getaddrinfo(name, "80", &h, &res), 0);
    return res;
}

static void wait_requests(int n)
{
    for (int i = 0; i < 500 && atomic_load(&requests_seen) < n; i++)
        usleep(10000);
    assert_true(atomic_load(&requests_seen) >= n);
}

static void wait_idle(void)
{
    for (int i = 0; i < 500 && atomic_load(&torify_shim.nb.active) > 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&torify_shim.nb.active), 0);
}

static int so_error(int s)
{
    int e = -1;
    socklen_t l = sizeof e;
    assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l), 0);
    return e;
}

/* A non-blocking connect to name with the gate closed. */
static int start_connect(const char *name)
{
    atomic_store(&gate_open, 0);
    int before = atomic_load(&requests_seen);
    struct addrinfo *ai = lookup(name);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    errno = 0;
    assert_int_equal(connect(s, ai->ai_addr, ai->ai_addrlen), -1);
    assert_int_equal(errno, EINPROGRESS);
    freeaddrinfo(ai);
    wait_requests(before + 1);
    return s;
}

static void reconnect(int s, const char *name, int want_errno)
{
    struct addrinfo *ai = lookup(name);
    errno = 0;
    int r = connect(s, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    assert_int_equal(r, want_errno ? -1 : 0);
    if (want_errno)
        assert_int_equal(errno, want_errno);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_connect_returns_einprogress_and_nothing_is_ready_before_the_reply(void **state)
{
    int s = start_connect("gated.test");
    struct pollfd p = { .fd = s, .events = POLLOUT | POLLIN };
    assert_int_equal(poll(&p, 1, 200), 0);     /* the TCP connect to Tor is long done */
    assert_int_equal(so_error(s), 0);          /* in progress: no error yet */
    reconnect(s, "gated.test", EALREADY);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 42 }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), -1); /* like the kernel */
    assert_int_equal(errno, EEXIST);
    assert_int_equal(epoll_wait(ep, &out, 1, 200), 0);
    atomic_store(&gate_open, 1);
    assert_int_equal(epoll_wait(ep, &out, 1, 10000), 1);
    assert_int_equal(out.data.u64, 42);
    assert_true(out.events & EPOLLOUT);
    assert_int_equal(so_error(s), 0);
    reconnect(s, "gated.test", 0);             /* the kernel: 0 once after completion */
    reconnect(s, "gated.test", EISCONN);       /* then EISCONN */
    assert_int_equal(write(s, "ping", 4), 4);
    char buf[4];
    assert_int_equal(read_full(s, buf, 4), 0);
    assert_memory_equal(buf, "ping", 4);
    close(s);
    close(ep);
    wait_idle();
}

static void test_socks_refusal_is_reported_once_by_so_error(void **state)
{
    int s = start_connect("refuse.test");
    atomic_store(&gate_open, 1);
    struct pollfd p = { .fd = s, .events = POLLOUT };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_true(p.revents & (POLLOUT | POLLERR | POLLHUP));
    assert_int_equal(so_error(s), ECONNREFUSED);
    assert_int_equal(so_error(s), 0);          /* read once, like the kernel's */
    reconnect(s, "refuse.test", ECONNABORTED); /* error already taken */
    assert_false(torify_fd_tracked(s));        /* the next connect starts afresh */
    close(s);
    wait_idle();
}

static void test_second_connect_after_a_failure_reports_the_error(void **state)
{
    int s = start_connect("refuse.test");
    atomic_store(&gate_open, 1);
    struct pollfd p = { .fd = s, .events = POLLOUT };
    assert_int_equal(poll(&p, 1, 10000), 1);
    reconnect(s, "refuse.test", ECONNREFUSED);
    close(s);
    wait_idle();
}

static void test_epoll_mod_and_del_while_connecting_are_honoured(void **state)
{
    int s = start_connect("gated.test");
    int ep = epoll_create1(0), ep2 = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ev), 0);
    ev.events = EPOLLOUT;
    ev.data.u64 = 2;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), 0);
    assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_DEL, s, NULL), 0);
    atomic_store(&gate_open, 1);
    assert_int_equal(epoll_wait(ep, &out, 1, 10000), 1);
    assert_int_equal(out.data.u64, 2);          /* the MOD's data and events */
    assert_int_equal(epoll_wait(ep2, &out, 1, 100), 0); /* deleted: not re-added */
    assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_DEL, s, NULL), -1); /* the kernel agrees */
    assert_int_equal(errno, ENOENT);
    close(s);
    close(ep);
    close(ep2);
    wait_idle();
}

static void test_close_mid_handshake_cancels_and_frees_the_fd_number(void **state)
{
    int s = start_connect("gated.test");
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 9 }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    assert_int_equal(close(s), 0);
    assert_false(torify_fd_tracked(s));
    wait_idle(); /* the helper let go without waiting for the reply */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(p[0] == s || p[1] == s);       /* the number is free again */
    atomic_store(&gate_open, 1);
    assert_int_equal(epoll_wait(ep, &out, 1, 200), 0); /* the placeholder is gone */
    assert_int_equal(write(p[1], "x", 1), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void test_forked_child_sees_a_plain_socket_and_does_not_cancel_the_parent(void **state)
{
    int s = start_connect("gated.test");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Orphan in the child: libc's answers, and its close leaves the
         * parent's handshake alone. */
        enum nb_phase ph;
        struct nb_conn *c = torify_nb_get(s, &ph);
        int ok = c && ph == NB_ORPHAN && atomic_load(&torify_shim.nb.active) == 0;
        if (c)
            torify_nb_put(c);
        close(s);
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    atomic_store(&gate_open, 1);
    struct pollfd p = { .fd = s, .events = POLLOUT };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(so_error(s), 0);
    assert_int_equal(write(s, "fork", 4), 4);
    char buf[4];
    assert_int_equal(read_full(s, buf, 4), 0);
    close(s);
    wait_idle();
}

static void test_pool_objects_change_generation_and_recycle_on_the_last_reference(void **state)
{
    uint32_t g1, g2;
    struct nb_conn *c = torify_nb_alloc(&g1);
    assert_non_null(c);
    assert_int_equal(nb_phase_of(atomic_load(&c->gs)), NB_RESERVED);
    assert_int_equal(atomic_load(&c->refs), 2);
    c->evfd = -1;
    atomic_store(&c->gs, nb_gs(g1, NB_OK));
    torify_nb_put(c);
    assert_int_equal(nb_phase_of(atomic_load(&c->gs)), NB_OK); /* one reference left */
    torify_nb_put(c);
    assert_int_equal(nb_phase_of(atomic_load(&c->gs)), NB_FREE);
    /* A stray hold on a free object recycles nothing. */
    atomic_fetch_add(&c->refs, 1);
    torify_nb_put(c);
    assert_int_equal(nb_phase_of(atomic_load(&c->gs)), NB_FREE);
    assert_int_equal(nb_gen_of(atomic_load(&c->gs)), g1); /* kept until reuse, which bumps it */
    /* A fresh object comes with a new generation. */
    struct nb_conn *d = torify_nb_alloc(&g2);
    assert_non_null(d);
    assert_true(d != c || g2 == g1 + 1);
    d->evfd = -1;
    atomic_store(&d->gs, nb_gs(g2, NB_OK));
    torify_nb_put(d);
    torify_nb_put(d);
}

static void test_many_connects_complete_from_one_poll_loop(void **state)
{
    enum { N = 50 };
    atomic_store(&gate_open, 1);
    struct addrinfo *ai = lookup("many.test");
    struct pollfd p[N];
    for (int i = 0; i < N; i++) {
        p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        p[i].events = POLLOUT;
        int r = connect(p[i].fd, ai->ai_addr, ai->ai_addrlen);
        assert_true(r == -1 && errno == EINPROGRESS);
    }
    freeaddrinfo(ai);
    int done = 0;
    for (int rounds = 0; done < N && rounds < 1000; rounds++) {
        int n = poll(p, N, 10000);
        assert_true(n > 0);
        for (int i = 0; i < N; i++) {
            if (p[i].fd >= 0 && (p[i].revents & POLLOUT)) {
                assert_int_equal(so_error(p[i].fd), 0);
                close(p[i].fd);
                p[i].fd = -1;
                done++;
            }
        }
    }
    assert_int_equal(done, N);
    wait_idle();
}

/* ---- review findings ------------------------------------------------------- */

static atomic_int lock_held, lock_release;

static void *hold_lock(void *arg)
{
    struct nb_conn *c = arg;
    pthread_mutex_lock(&c->lock);
    atomic_store(&lock_held, 1);
    while (!atomic_load(&lock_release))
        usleep(1000);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* The helper holds a connection's lock in finish() after the phase has
 * become OK; a fork() then must not leave that lock held in the child,
 * where the object will be recycled and locked again by its next connect. */
static void test_a_fork_while_a_connection_lock_is_held_leaves_it_free_in_the_child(void **state)
{
    assert_true(torify_nb_helper_ensure()); /* registers the fork handler */
    uint32_t g;
    struct nb_conn *c = torify_nb_alloc(&g);
    assert_non_null(c);
    c->evfd = -1;
    atomic_store(&c->gs, nb_gs(g, NB_OK));
    atomic_store(&lock_held, 0);
    atomic_store(&lock_release, 0);
    pthread_t t;
    pthread_create(&t, NULL, hold_lock, c);
    while (!atomic_load(&lock_held))
        usleep(1000);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(pthread_mutex_trylock(&c->lock) == 0 ? 0 : 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    atomic_store(&lock_release, 1);
    pthread_join(t, NULL);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    torify_nb_put(c);
    torify_nb_put(c);
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(300000);
    atomic_store(&gate_open, 1);
    return NULL;
}

/* "Forever" spelled as a huge timeout is valid for the kernel (it
 * saturates); it must not turn into "return at once". */
static void test_a_huge_ppoll_or_select_timeout_waits_for_the_reply(void **state)
{
    for (int round = 0; round < 2; round++) {
        int s = start_connect("gated.test");
        pthread_t t;
        pthread_create(&t, NULL, open_gate_later, NULL);
        if (round == 0) {
            struct pollfd p = { .fd = s, .events = POLLOUT };
            struct timespec forever = { .tv_sec = LONG_MAX, .tv_nsec = 0 };
            assert_int_equal(ppoll(&p, 1, &forever, NULL), 1);
            assert_true(p.revents & POLLOUT);
        } else {
            fd_set w;
            FD_ZERO(&w);
            FD_SET(s, &w);
            struct timeval forever = { .tv_sec = LONG_MAX / 2, .tv_usec = 0 };
            assert_int_equal(select(s + 1, NULL, &w, NULL, &forever), 1);
            assert_true(FD_ISSET(s, &w));
            assert_true(forever.tv_sec > 0);
        }
        pthread_join(t, NULL);
        assert_int_equal(so_error(s), 0);
        close(s);
        wait_idle();
    }
}

/* ppoll with more fds than fit on the stack and a timeout the kernel
 * refuses: EINVAL, like the kernel, and nothing allocated for the call is
 * left behind (it once returned before freeing its copies). */
static void test_ppoll_refusing_a_bad_timeout_with_many_fds_allocates_nothing_lasting(void **state)
{
    int s = start_connect("gated.test");
    struct pollfd p[64];
    for (int i = 0; i < 64; i++)
        p[i] = (struct pollfd){ .fd = i == 0 ? s : -1, .events = POLLOUT };
    struct timespec bad = { .tv_sec = 0, .tv_nsec = 1000000000 };
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 2000; i++) {
        errno = 0;
        assert_int_equal(ppoll(p, 64, &bad, NULL), -1);
        assert_int_equal(errno, EINVAL);
    }
    struct mallinfo2 after = mallinfo2();
    /* A leak would be 2000 x 64 x (pollfd + pointer) = 2 MB. */
    assert_true(after.uordblks < before.uordblks + 64 * 1024);
    atomic_store(&gate_open, 1);
    assert_int_equal(poll(p, 1, 10000), 1);
    assert_int_equal(so_error(s), 0);
    close(s);
    wait_idle();
}

/* dup2() over a connecting fd (or close_range, or syscall(SYS_close) and
 * a reuse) leaves torify's record behind: the number now names another
 * file, which must be treated as that file, not as the connection. */
static void test_a_number_reused_by_dup2_is_not_taken_for_the_connecting_socket(void **state)
{
    int s = start_connect("gated.test");
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    assert_int_equal(dup2(pp[0], s), s);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    assert_int_equal(write(pp[1], "x", 1), 1);
    assert_int_equal(epoll_wait(ep, &out, 1, 2000), 1);
    assert_int_equal(out.data.u64, 7);
    struct pollfd p = { .fd = s, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 2000), 1);
    assert_true(p.revents & POLLIN);
    close(s);
    close(pp[0]);
    close(pp[1]);
    close(ep);
    wait_idle();
}

/* fork(), then the parent closes its copy mid-handshake (the classic
 * "hand the connection to a worker"): the parent's helper gives up, and
 * the child must never read the SOCKS reply as application data. */
static void test_a_socket_abandoned_mid_handshake_never_delivers_the_socks_reply_as_data(void **state)
{
    int s = start_connect("gated.test");
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char go;
        if (read(sync[0], &go, 1) != 1)
            _exit(2);
        (void)send(s, "ping", 4, MSG_NOSIGNAL);
        struct pollfd p = { .fd = s, .events = POLLIN };
        (void)poll(&p, 1, 2000);
        uint8_t buf[64];
        ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
        _exit(n > 0 && buf[0] == 5 ? 1 : 0);
    }
    close(s);
    wait_idle(); /* the parent's helper let go */
    atomic_store(&gate_open, 1);
    assert_int_equal(write(sync[1], "g", 1), 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(sync[0]);
    close(sync[1]);
}

/* ---- review findings ------------------------------------------------------- */

/* Eventfds open in this process (the helper's wake-up one included). */
static int count_eventfds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], link[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t l = readlink(path, link, sizeof link - 1);
        if (l > 0) {
            link[l] = '\0';
            n += strcmp(link, "anon_inode:[eventfd]") == 0;
        }
    }
    closedir(d);
    return n;
}

/* A completed connection costs the program its socket and nothing else:
 * the eventfd was only needed while the handshake was in flight. */
static void test_a_completed_connection_keeps_no_extra_fd(void **state)
{
    enum { N = 20 };
    assert_true(torify_nb_helper_ensure());
    atomic_store(&gate_open, 1);
    int before = count_eventfds();
    struct addrinfo *ai = lookup("keep.test");
    struct pollfd p[N];
    for (int i = 0; i < N; i++) {
        p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        p[i].events = POLLOUT;
        assert_true(connect(p[i].fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno == EINPROGRESS);
    }
    freeaddrinfo(ai);
    for (int done = 0, rounds = 0; done < N && rounds < 1000; rounds++) {
        assert_true(poll(p, N, 10000) > 0);
        done = 0;
        for (int i = 0; i < N; i++)
            done += (p[i].revents & POLLOUT) != 0 || p[i].events == 0;
        for (int i = 0; i < N; i++)
            if (p[i].revents & POLLOUT)
                p[i].events = 0;
    }
    wait_idle();
    /* The helper closes the last ones just after its counter says idle. */
    for (int i = 0; i < 500 && count_eventfds() != before; i++)
        usleep(10000);
    assert_int_equal(count_eventfds(), before); /* none kept per connection */
    for (int i = 0; i < N; i++)
        close(p[i].fd);
}

/* With the process at its fd limit the helper cannot get its dup or
 * eventfd: the connect must then take the blocking path and succeed, not
 * trip over the TCP connect to Tor it already started (EISCONN). */
static void test_at_the_fd_limit_a_non_blocking_connect_falls_back_to_blocking(void **state)
{
    atomic_store(&gate_open, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        if (!torify_nb_helper_ensure())
            _exit(2);
        struct addrinfo *ai = lookup("limit.test");
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = 64;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(3);
        int last = -1, prev = -1;
        for (int f; (f = open("/dev/null", O_RDONLY)) >= 0;) {
            prev = last;
            last = f;
        }
        if (prev < 0)
            _exit(4);
        close(last); /* two free numbers: the socket and one more */
        close(prev);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (s < 0)
            _exit(5);
        int r = connect(s, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno != EINPROGRESS)
            _exit(10 + (errno & 63));
        struct pollfd p = { .fd = s, .events = POLLOUT };
        if (poll(&p, 1, 10000) != 1 || so_error(s) != 0 || write(s, "lim", 3) != 3)
            _exit(6);
        char buf[3];
        _exit(read_full(s, buf, 3) == 0 && memcmp(buf, "lim", 3) == 0 ? 0 : 7);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Threads connect, wait (epoll or poll) or close mid-handshake, while
 * another thread forks: nothing hangs, leaks a connection or crashes. */
static void *churn(void *arg)
{
    long id = (long)(intptr_t)arg;
    struct addrinfo *ai = NULL, h;
    memset(&h, 0, sizeof h);
    h.ai_family = AF_INET;
    h.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("churn.test", "80", &h, &ai) != 0)
        return (void *)1;
    intptr_t bad = 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < 60; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0 || errno != EINPROGRESS) {
            bad++;
            close(s);
            continue;
        }
        switch ((i + id) % 3) {
        case 0:
            break; /* close mid-handshake */
        case 1: {
            struct pollfd p = { .fd = s, .events = POLLOUT };
            if (poll(&p, 1, 10000) != 1 || so_error(s) != 0)
                bad++;
            break;
        }
        default: {
            struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.fd = s }, out;
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            if (epoll_wait(ep, &out, 1, 10000) != 1 || out.data.fd != s || so_error(s) != 0)
                bad++;
            epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
        }
        }
        close(s);
    }
    close(ep);
    freeaddrinfo(ai);
    return (void *)bad;
}

static void *forker(void *arg)
{
    atomic_int *stop = arg;
    while (!atomic_load(stop)) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        usleep(2000);
    }
    return NULL;
}

static void test_threads_connect_poll_and_close_concurrently_while_forking(void **state)
{
    atomic_store(&gate_open, 1);
    atomic_int stop = 0;
    pthread_t f, t[4];
    pthread_create(&f, NULL, forker, &stop);
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        assert_int_equal((intptr_t)bad, 0);
    }
    atomic_store(&stop, 1);
    pthread_join(f, NULL);
    wait_idle();
}

/* A vfork() child shares the parent's memory: its close() before exec
 * (a common if non-POSIX pattern) must not clear the parent's record and
 * cancel the parent's handshake. */
static void test_a_vfork_child_closing_the_socket_leaves_the_parents_connect_alone(void **state)
{
    int s = start_connect("gated.test");
    pid_t pid = vfork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(s);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(torify_fd_tracked(s));
    atomic_store(&gate_open, 1);
    struct pollfd p = { .fd = s, .events = POLLOUT };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(so_error(s), 0);
    assert_int_equal(write(s, "vfrk", 4), 4);
    char buf[4];
    assert_int_equal(read_full(s, buf, 4), 0);
    assert_memory_equal(buf, "vfrk", 4);
    close(s);
    wait_idle();
}

/* An epoll set closed and created again (same number) while a connect is
 * in flight is a new set: adding the socket to it is not EEXIST, and the
 * socket is reported there once usable. */
static void test_an_epoll_set_recreated_under_the_same_number_is_a_new_set(void **state)
{
    int s = start_connect("gated.test");
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 1 }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    assert_int_equal(close(ep), 0);
    int ep2 = epoll_create1(0);
    assert_int_equal(ep2, ep); /* lowest free number */
    ev.data.u64 = 2;
    assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ev), 0);
    atomic_store(&gate_open, 1);
    assert_int_equal(epoll_wait(ep2, &out, 1, 10000), 1);
    assert_int_equal(out.data.u64, 2);
    close(s);
    close(ep2);
    wait_idle();
}

/* Fds at 256 and up: where torify puts a connection's own (dups of the
 * socket and of epoll sets, eventfds), away from the test's and the
 * in-process server's low numbers, which come and go with its threads. */
static int count_high_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' && atoi(e->d_name) >= 256;
    closedir(d);
    return n;
}

/* Successes, refusals and closes mid-handshake, each in an epoll set and
 * polled: once all are closed, not one fd of ours is left (dups of the
 * sockets and of the epoll sets, eventfds). */
static void test_no_fd_is_left_after_successes_refusals_and_closes_mid_handshake(void **state)
{
    assert_true(torify_nb_helper_ensure());
    wait_idle();
    int before = count_high_fds();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int round = 0; round < 3; round++) {
        int s = start_connect(round == 1 ? "refuse.test" : "gated.test");
        struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 5 }, out;
        assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
        if (round < 2) {
            atomic_store(&gate_open, 1);
            struct pollfd p = { .fd = s, .events = POLLOUT };
            assert_int_equal(poll(&p, 1, 10000), 1);
            assert_int_equal(epoll_wait(ep, &out, 1, 10000), 1);
        }
        close(s); /* round 2: mid-handshake */
        wait_idle();
    }
    close(ep);
    atomic_store(&gate_open, 1); /* lets the server's thread of round 2 end */
    /* The helper closes the last ones just after its counter says idle. */
    for (int i = 0; i < 500 && count_high_fds() != before; i++)
        usleep(10000);
    assert_int_equal(count_high_fds(), before);
}

/* exec while a handshake is in flight: none of torify's fds of that
 * connection (the socket's dup, its eventfd, the dups of epoll sets: all
 * placed at 256 and up) may reach the new program.  Only the fake map's
 * memfd is handed on, on purpose. */
static void test_every_internal_fd_is_close_on_exec_while_a_handshake_is_in_flight(void **state)
{
    int s = start_connect("gated.test");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 3 };
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    const char *map = getenv("TORIFY_FAKEMAP_FD");
    int map_fd = map ? atoi(map) : -1;
    int internal = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd < 256 || fd == map_fd || fd == dirfd(d))
            continue;
        internal++;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || !(fl & FD_CLOEXEC))
            fail_msg("fd %d is inherited by exec'd programs", fd);
    }
    closedir(d);
    assert_true(internal >= 3); /* at least the dup, the eventfd, the epoll dup */
    atomic_store(&gate_open, 1);
    close(s);
    close(ep);
    wait_idle();
}

/* The kernel's rules for epoll flags hold while connecting too: ADD with
 * EPOLLEXCLUSIVE|EPOLLONESHOT is EINVAL, MOD of an exclusive entry is
 * EINVAL (accepting them would leave the socket out of the set for good
 * when the helper's ADD is refused at completion). */
static void test_epoll_flag_rules_are_the_kernels_while_connecting(void **state)
{
    int s = start_connect("gated.test");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLEXCLUSIVE | EPOLLONESHOT, .data.u64 = 8 }, out;
    errno = 0;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), -1);
    assert_int_equal(errno, EINVAL);
    ev.events = EPOLLOUT | EPOLLEXCLUSIVE;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    ev.events = EPOLLOUT;
    errno = 0;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), -1);
    assert_int_equal(errno, EINVAL);
    atomic_store(&gate_open, 1);
    assert_int_equal(epoll_wait(ep, &out, 1, 10000), 1);
    assert_int_equal(out.data.u64, 8);
    close(s);
    close(ep);
    wait_idle();
}

/* select() with an fd above FD_SETSIZE (a program with its own larger
 * fd_set arrays): the connecting socket is hidden until the reply, then
 * reported, and no bit outside the set is touched. */
static void test_select_above_fd_setsize_waits_for_the_reply(void **state)
{
    atomic_store(&gate_open, 0);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    int before = atomic_load(&requests_seen);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_max < 4096)
            _exit(77);
        rl.rlim_cur = 4096;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(77);
        struct addrinfo *ai = lookup("big.test");
        int s0 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int s = dup2(s0, 3000);
        close(s0);
        if (s != 3000 || connect(s, ai->ai_addr, ai->ai_addrlen) != -1 || errno != EINPROGRESS)
            _exit(2);
        enum { WORDS = 4096 / (8 * sizeof(unsigned long)) };
        unsigned long w[WORDS + 1];
        memset(w, 0, sizeof w);
        w[WORDS] = 0x5a5a5a5a; /* guard word past nfds */
        w[s / (8 * sizeof(unsigned long))] |= 1ul << (s % (8 * sizeof(unsigned long)));
        struct timeval tv = { 0, 300000 };
        if (select(s + 1, NULL, (fd_set *)(void *)w, NULL, &tv) != 0)
            _exit(3); /* not before the reply */
        if (write(sync[1], "r", 1) != 1)
            _exit(4);
        w[s / (8 * sizeof(unsigned long))] |= 1ul << (s % (8 * sizeof(unsigned long)));
        tv.tv_sec = 10;
        if (select(s + 1, NULL, (fd_set *)(void *)w, NULL, &tv) != 1)
            _exit(5);
        if (!(w[s / (8 * sizeof(unsigned long))] >> (s % (8 * sizeof(unsigned long)) & 1)) || w[WORDS] != 0x5a5a5a5a)
            _exit(6);
        _exit(so_error(s) == 0 ? 0 : 7);
    }
    close(sync[1]); /* a child that ends early gives EOF, not a hang */
    char c;
    if (read(sync[0], &c, 1) == 1)
        assert_true(atomic_load(&requests_seen) > before);
    atomic_store(&gate_open, 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(sync[0]);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A second number for the same epoll set (dup of the epoll fd) names the
 * same set, as for the kernel: MOD and DEL through it apply while
 * connecting, ADD through it is EEXIST. */
static void test_a_dup_of_the_epoll_fd_names_the_same_set_while_connecting(void **state)
{
    int s = start_connect("gated.test");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int ep2 = dup(ep);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    errno = 0;
    assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ev), -1);
    assert_int_equal(errno, EEXIST);
    ev.events = EPOLLOUT;
    ev.data.u64 = 2;
    assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_MOD, s, &ev), 0);
    atomic_store(&gate_open, 1);
    assert_int_equal(epoll_wait(ep, &out, 1, 10000), 1);
    assert_int_equal(out.data.u64, 2);
    close(s);
    close(ep);
    close(ep2);
    wait_idle();
}

/* A close-all loop over torify's own numbers while a handshake is in
 * flight, each number then taken by a file of the program's: torify never
 * writes into those files, and the next non-blocking connect works (a new
 * helper with new fds). */
static void test_the_program_closing_torifys_own_fds_corrupts_nothing_and_connects_go_on(void **state)
{
    int s = start_connect("gated.test");
    char path[] = "/tmp/torify-test-closeallXXXXXX";
    int f = mkstemp(path);
    assert_true(f >= 0);
    unlink(path);
    int taken[256], nt = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) && nt < 256) {
        int n = atoi(e->d_name);
        if (e->d_name[0] != '.' && n >= 256 && n != dirfd(d))
            taken[nt++] = n;
    }
    closedir(d);
    assert_true(nt >= 3); /* at least the helper's epoll set (twice) and eventfd */
    for (int i = 0; i < nt; i++) {
        close(taken[i]);
        assert_int_equal(dup2(f, taken[i]), taken[i]);
    }
    assert_int_equal(close(s), 0); /* a cancel: the helper would be woken */
    usleep(200 * 1000);
    struct stat st;
    assert_int_equal(fstat(f, &st), 0);
    assert_int_equal(st.st_size, 0); /* not one byte of torify's in the program's file */

    atomic_store(&gate_open, 1);
    struct addrinfo *ai = lookup("after-close-all.test");
    int s2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    errno = 0;
    assert_int_equal(connect(s2, ai->ai_addr, ai->ai_addrlen), -1);
    assert_int_equal(errno, EINPROGRESS);
    freeaddrinfo(ai);
    struct pollfd p = { .fd = s2, .events = POLLOUT };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(so_error(s2), 0);
    close(s2);
    assert_int_equal(fstat(f, &st), 0);
    assert_int_equal(st.st_size, 0);
    for (int i = 0; i < nt; i++)
        close(taken[i]);
    close(f);
    wait_idle(); /* the superseded helper let go of what it drove */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the server answers clients that already closed */
    snprintf(sock_path, sizeof sock_path, "/tmp/torify-test-nb-%ld.sock", (long)getpid());
    setenv("TORIFY_CONF_FILE", "/dev/null", 1);
    setenv("TORIFY_TOR_UNIX", sock_path, 1);
    setenv("TORIFY_LOG_LEVEL", "quiet", 1);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    memcpy(un.sun_path, sock_path, strlen(sock_path) + 1);
    unlink(sock_path);
    if (bind(listener, (struct sockaddr *)&un, sizeof un) != 0 || listen(listener, 128) != 0)
        abort();
    pthread_create(&server_thread, NULL, server_main, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_returns_einprogress_and_nothing_is_ready_before_the_reply),
        cmocka_unit_test(test_socks_refusal_is_reported_once_by_so_error),
        cmocka_unit_test(test_second_connect_after_a_failure_reports_the_error),
        cmocka_unit_test(test_epoll_mod_and_del_while_connecting_are_honoured),
        cmocka_unit_test(test_close_mid_handshake_cancels_and_frees_the_fd_number),
        cmocka_unit_test(test_forked_child_sees_a_plain_socket_and_does_not_cancel_the_parent),
        cmocka_unit_test(test_pool_objects_change_generation_and_recycle_on_the_last_reference),
        cmocka_unit_test(test_many_connects_complete_from_one_poll_loop),
        cmocka_unit_test(test_a_fork_while_a_connection_lock_is_held_leaves_it_free_in_the_child),
        cmocka_unit_test(test_a_huge_ppoll_or_select_timeout_waits_for_the_reply),
        cmocka_unit_test(test_ppoll_refusing_a_bad_timeout_with_many_fds_allocates_nothing_lasting),
        cmocka_unit_test(test_a_number_reused_by_dup2_is_not_taken_for_the_connecting_socket),
        cmocka_unit_test(test_a_socket_abandoned_mid_handshake_never_delivers_the_socks_reply_as_data),
        cmocka_unit_test(test_a_completed_connection_keeps_no_extra_fd),
        cmocka_unit_test(test_at_the_fd_limit_a_non_blocking_connect_falls_back_to_blocking),
        cmocka_unit_test(test_threads_connect_poll_and_close_concurrently_while_forking),
        cmocka_unit_test(test_a_vfork_child_closing_the_socket_leaves_the_parents_connect_alone),
        cmocka_unit_test(test_an_epoll_set_recreated_under_the_same_number_is_a_new_set),
        cmocka_unit_test(test_no_fd_is_left_after_successes_refusals_and_closes_mid_handshake),
        cmocka_unit_test(test_every_internal_fd_is_close_on_exec_while_a_handshake_is_in_flight),
        cmocka_unit_test(test_epoll_flag_rules_are_the_kernels_while_connecting),
        cmocka_unit_test(test_select_above_fd_setsize_waits_for_the_reply),
        cmocka_unit_test(test_a_dup_of_the_epoll_fd_names_the_same_set_while_connecting),
        cmocka_unit_test(test_the_program_closing_torifys_own_fds_corrupts_nothing_and_connects_go_on),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    shutdown(listener, SHUT_RDWR);
    pthread_join(server_thread, NULL);
    close(listener);
    unlink(sock_path);
    return r;
}
