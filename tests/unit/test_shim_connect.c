/* shim connect() through an in-process SOCKS5 server on a unix socket
 * (TorUnixSocket): fake names become hostname requests, real IPs IP
 * requests, the program sees its own address in getpeername, errors from
 * Tor become errno, and an absent Tor means ECONNREFUSED, never direct. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "shim/state.h"

/* ---- a small SOCKS5 server thread --------------------------------------- */

struct request {
    int atyp;
    char host[256];
    uint16_t port;
};

static char sock_path[108];
static int listener = -1;
static pthread_t server_thread;
static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static struct request reqs[64];
static int n_reqs;

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

/* Reply code by host name: refuse.test -> 5, unreach.test -> 4, else 0. */
static void serve_one(int c)
{
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t g[3], hdr[4], buf[512];
    if (read_full(c, g, 2) || read_full(c, buf, g[1]) || write(c, "\x05\x00", 2) != 2)
        return;
    if (read_full(c, hdr, 4))
        return;
    struct request rq;
    memset(&rq, 0, sizeof rq);
    rq.atyp = hdr[3];
    if (hdr[3] == 3) {
        uint8_t len;
        if (read_full(c, &len, 1) || read_full(c, rq.host, len))
            return;
        rq.host[len] = '\0';
    } else if (hdr[3] == 1) {
        if (read_full(c, buf, 4))
            return;
        inet_ntop(AF_INET, buf, rq.host, sizeof rq.host);
    } else if (hdr[3] == 4) {
        if (read_full(c, buf, 16))
            return;
        inet_ntop(AF_INET6, buf, rq.host, sizeof rq.host);
    } else {
        return;
    }
    uint8_t p[2];
    if (read_full(c, p, 2))
        return;
    rq.port = (uint16_t)(p[0] << 8 | p[1]);
    pthread_mutex_lock(&req_lock);
    if (n_reqs < 64)
        reqs[n_reqs++] = rq;
    pthread_mutex_unlock(&req_lock);
    uint8_t rep = strcmp(rq.host, "refuse.test") == 0 ? 5 : strcmp(rq.host, "unreach.test") == 0 ? 4 : 0;
    uint8_t reply[10] = { 5, rep, 0, 1, 0, 0, 0, 0, 0, 0 };
    if (write(c, reply, sizeof reply) != sizeof reply || rep != 0)
        return;
    /* Echo: application data flows both ways. */
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
        if (write(c, buf, (size_t)n) != n)
            break;
}

static void *server_main(void *arg)
{
    for (;;) {
        int c = accept(listener, NULL, NULL);
        if (c < 0)
            return NULL; /* listener shut down */
        serve_one(c);
        close(c);
    }
}

static void start_server(void)
{
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    memcpy(un.sun_path, sock_path, strlen(sock_path) + 1);
    unlink(sock_path);
    if (bind(listener, (struct sockaddr *)&un, sizeof un) != 0 || listen(listener, 16) != 0)
        abort();
    pthread_create(&server_thread, NULL, server_main, NULL);
}

static void stop_server(void)
{
    shutdown(listener, SHUT_RDWR);
    pthread_join(server_thread, NULL);
    close(listener);
    unlink(sock_path);
}

static int requests(void)
{
    pthread_mutex_lock(&req_lock);
    int n = n_reqs;
    pthread_mutex_unlock(&req_lock);
    return n;
}

static struct request last_request(void)
{
    pthread_mutex_lock(&req_lock);
    struct request r = reqs[n_reqs - 1];
    pthread_mutex_unlock(&req_lock);
    return r;
}

static struct addrinfo *lookup(const char *name, int family, const char *port)
{
    struct addrinfo h, *res = NULL;
    memset(&h, 0, sizeof h);
    h.ai_family = family;
    h.ai_socktype = SOCK_STREAM;
    assert_int_equal(getaddrinfo(name, port, &h, &res), 0);
    return res;
}

static void echo_works(int s)
{
    assert_int_equal(write(s, "ping", 4), 4);
    char buf[8];
    assert_int_equal(read_full(s, buf, 4), 0);
    assert_memory_equal(buf, "ping", 4);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_connect_to_a_name_sends_the_hostname_to_tor(void **state)
{
    struct addrinfo *ai = lookup("svc.test", AF_UNSPEC, "8080");
    int s = socket(ai->ai_family, ai->ai_socktype, 0);
    int before = requests();
    assert_int_equal(connect(s, ai->ai_addr, ai->ai_addrlen), 0);
    assert_int_equal(requests(), before + 1);
    struct request r = last_request();
    assert_int_equal(r.atyp, 3);
    assert_string_equal(r.host, "svc.test");
    assert_int_equal(r.port, 8080);
    echo_works(s);
    /* The program sees the address it connected to, not Tor's. */
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    assert_int_equal(getpeername(s, (struct sockaddr *)&peer, &pl), 0);
    assert_int_equal(pl, ai->ai_addrlen);
    assert_memory_equal(&peer, ai->ai_addr, ai->ai_addrlen);
    assert_true(torify_fd_tracked(s));
    assert_int_equal(close(s), 0);
    assert_false(torify_fd_tracked(s)); /* close released the state */
    freeaddrinfo(ai);
}

static void test_ipv6_nonblocking_socket_keeps_its_fd_and_flags(void **state)
{
    /* Tor is on a unix socket: the program's IPv6 socket is replaced in
     * place (same fd number), keeping O_NONBLOCK and FD_CLOEXEC. */
    struct addrinfo *ai = lookup("six.test", AF_INET6, "443");
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    errno = 0;
    assert_int_equal(connect(s, ai->ai_addr, ai->ai_addrlen), -1);
    assert_int_equal(errno, EINPROGRESS); /* the handshake runs on torify's helper thread */
    struct pollfd pf = { .fd = s, .events = POLLOUT };
    assert_int_equal(poll(&pf, 1, 10000), 1);
    assert_true(pf.revents & POLLOUT);
    struct request r = last_request();
    assert_string_equal(r.host, "six.test");
    assert_int_equal(r.port, 443);
    assert_true(fcntl(s, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
    int err = -1;
    socklen_t el = sizeof err;
    assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el), 0);
    assert_int_equal(err, 0);
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    assert_int_equal(getpeername(s, (struct sockaddr *)&peer, &pl), 0);
    assert_int_equal(peer.sin6_family, AF_INET6);
    assert_memory_equal(&peer.sin6_addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
    /* A short buffer gets the truncated address and the full length. */
    struct sockaddr_in small;
    pl = sizeof small;
    assert_int_equal(getpeername(s, (struct sockaddr *)&small, &pl), 0);
    assert_int_equal(pl, sizeof(struct sockaddr_in6));
    close(s);
    freeaddrinfo(ai);
}

static void test_connect_to_a_real_ip_sends_the_ip_to_tor(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "93.184.216.34", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    struct request r = last_request();
    assert_int_equal(r.atyp, 1);
    assert_string_equal(r.host, "93.184.216.34");
    assert_int_equal(r.port, 80);
    echo_works(s);
    close(s);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(8443) };
    inet_pton(AF_INET6, "2001:db8::7", &a6.sin6_addr);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    assert_int_equal(syscall(SYS_connect, s, &a6, sizeof a6), 0); /* the raw syscall path too */
    r = last_request();
    assert_int_equal(r.atyp, 4);
    assert_string_equal(r.host, "2001:db8::7");
    assert_int_equal(r.port, 8443);
    close(s);
}

static void test_tor_errors_become_errno(void **state)
{
    struct addrinfo *ai = lookup("refuse.test", AF_INET, "80");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    assert_int_equal(connect(s, ai->ai_addr, ai->ai_addrlen), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_false(torify_fd_tracked(s));
    close(s);
    freeaddrinfo(ai);
    ai = lookup("unreach.test", AF_INET, "80");
    s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    assert_int_equal(connect(s, ai->ai_addr, ai->ai_addrlen), -1);
    assert_int_equal(errno, EHOSTUNREACH);
    close(s);
    freeaddrinfo(ai);
}

static void test_unknown_fake_address_is_refused_without_asking_tor(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "127.230.1.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int before = requests();
    errno = 0;
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), -1);
    assert_int_equal(errno, EHOSTUNREACH);
    assert_int_equal(requests(), before);
    close(s);
}

static void test_forked_child_connects_to_a_name_its_parent_looked_up(void **state)
{
    struct addrinfo *ai = lookup("fork.test", AF_INET, "7000");
    int before = requests();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int ok = connect(s, ai->ai_addr, ai->ai_addrlen) == 0;
        close(s);
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(requests(), before + 1);
    assert_string_equal(last_request().host, "fork.test");
    freeaddrinfo(ai);
}

static void test_threads_connect_concurrently(void **state);

static void *thread_connect(void *arg)
{
    char name[32];
    snprintf(name, sizeof name, "thr%ld.test", (long)(intptr_t)arg);
    struct addrinfo h, *ai = NULL;
    memset(&h, 0, sizeof h);
    h.ai_family = AF_INET;
    h.ai_socktype = SOCK_STREAM;
    intptr_t ok = 0;
    if (getaddrinfo(name, "80", &h, &ai) == 0) {
        for (int i = 0; i < 5; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            char buf[4];
            ok += connect(s, ai->ai_addr, ai->ai_addrlen) == 0 && write(s, "abcd", 4) == 4 && read_full(s, buf, 4) == 0;
            close(s);
        }
        freeaddrinfo(ai);
    }
    return (void *)ok;
}

static void test_threads_connect_concurrently(void **state)
{
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, thread_connect, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        assert_int_equal((intptr_t)ok, 5);
    }
}

static void test_absent_tor_refuses_and_never_goes_direct(void **state)
{
    stop_server();
    struct addrinfo *ai = lookup("gone.test", AF_INET, "80");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    assert_int_equal(connect(s, ai->ai_addr, ai->ai_addrlen), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(s);
    freeaddrinfo(ai);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "93.184.216.34", &a.sin_addr);
    s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(s);
}

int main(void)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/torify-test-socks-%ld.sock", (long)getpid());
    setenv("TORIFY_CONF_FILE", "/dev/null", 1);
    setenv("TORIFY_TOR_UNIX", sock_path, 1);
    setenv("TORIFY_LOG_LEVEL", "quiet", 1);
    start_server();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_to_a_name_sends_the_hostname_to_tor),
        cmocka_unit_test(test_ipv6_nonblocking_socket_keeps_its_fd_and_flags),
        cmocka_unit_test(test_connect_to_a_real_ip_sends_the_ip_to_tor),
        cmocka_unit_test(test_tor_errors_become_errno),
        cmocka_unit_test(test_unknown_fake_address_is_refused_without_asking_tor),
        cmocka_unit_test(test_forked_child_connects_to_a_name_its_parent_looked_up),
        cmocka_unit_test(test_threads_connect_concurrently),
        cmocka_unit_test(test_absent_tor_refuses_and_never_goes_direct),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(sock_path);
    return r;
}
