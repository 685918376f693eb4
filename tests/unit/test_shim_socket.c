/* shim socket-level policy (linked in, so this program's calls are the
 * interposed ones): UDP/raw refused, datagrams and TFO with a destination
 * refused before anything is sent, inbound only on loopback, loopback
 * connects refused, syscall() routed through the same checks. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

/* libc's own functions, to build the sockets a hostile or inherited
 * program could hold (the shim would not let us create them). */
static int (*libc_socket)(int, int, int);
static int (*libc_listen)(int, int);
static ssize_t (*libc_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

/* A UDP receiver on 127.0.0.1 (made with libc's socket) and its address. */
static int receiver(struct sockaddr_in *addr)
{
    int r = libc_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(r >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t l = sizeof *addr;
    assert_int_equal(getsockname(r, (struct sockaddr *)addr, &l), 0);
    return r;
}

static int arrived(int r)
{
    struct pollfd p = { .fd = r, .events = POLLIN };
    return poll(&p, 1, 100) > 0;
}

static void test_udp_raw_and_packet_sockets_are_refused(void **state)
{
    errno = 0;
    assert_int_equal(socket(AF_INET, SOCK_DGRAM, 0), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP), -1);
    assert_int_equal(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), -1);
    assert_int_equal(socket(AF_INET, SOCK_RAW, IPPROTO_RAW), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(socket(AF_PACKET, SOCK_RAW, 0), -1);
    errno = 0;
    assert_int_equal(socket(AF_APPLETALK, SOCK_DGRAM, 0), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    errno = 0;
    assert_int_equal(syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0), -1);
    assert_int_equal(errno, EPERM);
}

static void test_tcp_unix_and_netlink_sockets_work(void **state)
{
    int fds[4];
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    fds[1] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
    fds[2] = socket(AF_UNIX, SOCK_DGRAM, 0);
    fds[3] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    for (int i = 0; i < 4; i++) {
        assert_true(fds[i] >= 0);
        assert_int_equal(close(fds[i]), 0);
    }
    /* close of a closed fd still reports EBADF like libc. */
    errno = 0;
    assert_int_equal(close(fds[0]), -1);
    assert_int_equal(errno, EBADF);
    int s = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(syscall(SYS_close, s), 0);
}

static void test_datagrams_with_a_destination_are_refused_and_never_sent(void **state)
{
    struct sockaddr_in to;
    int r = receiver(&to);
    int u = libc_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* e.g. inherited */
    assert_true(u >= 0);
    errno = 0;
    assert_int_equal(sendto(u, "x", 1, 0, (struct sockaddr *)&to, sizeof to), -1);
    assert_int_equal(errno, EPERM);
    struct iovec iov = { .iov_base = "y", .iov_len = 1 };
    struct msghdr m = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1 };
    assert_int_equal(sendmsg(u, &m, 0), -1);
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    mm[0].msg_hdr.msg_iov = &iov; /* first has no destination (would fail anyway) */
    mm[0].msg_hdr.msg_iovlen = 1;
    mm[1].msg_hdr = m;
    assert_int_equal(sendmmsg(u, mm, 2, 0), -1);
    assert_int_equal(syscall(SYS_sendto, u, "z", 1, 0, &to, sizeof to), -1);
    assert_false(arrived(r));
    /* Control: the same datagram through libc itself does arrive, so the
     * receiver would have seen a leak. */
    assert_int_equal(libc_sendto(u, "c", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    assert_true(arrived(r));
    close(u);
    close(r);
}

static void test_connecting_a_datagram_socket_is_refused(void **state)
{
    struct sockaddr_in to;
    int r = receiver(&to);
    int u = libc_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    errno = 0;
    assert_int_equal(connect(u, (struct sockaddr *)&to, sizeof to), -1);
    assert_int_equal(errno, EPERM);
    /* Not connected: a plain send has nowhere to go. */
    assert_int_equal(send(u, "x", 1, 0), -1);
    assert_false(arrived(r));
    close(u);
    close(r);
}

static void test_unix_datagrams_with_a_destination_pass(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    struct sockaddr_un un;
    socklen_t l = sizeof un;
    /* An abstract-namespace receiver with a name we can send to. */
    int r = socket(AF_UNIX, SOCK_DGRAM, 0);
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path + 1, "torify-test-dgram", 17);
    l = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 18);
    assert_int_equal(bind(r, (struct sockaddr *)&un, l), 0);
    assert_int_equal(sendto(sv[0], "ok", 2, 0, (struct sockaddr *)&un, l), 2);
    char buf[4];
    assert_int_equal(recv(r, buf, sizeof buf, 0), 2);
    close(r);
    close(sv[0]);
    close(sv[1]);
}

static void test_tcp_fast_open_to_localhost_is_refused_as_its_connect(void **state)
{
    /* Fast Open is a connect plus a send (shim/send.c), so the connect's
     * policy applies: localhost is refused (AllowOutboundLocalhost 0).  A
     * listener on loopback would accept a TFO connect: it must see none. */
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    assert_int_equal(listen(l, 4), 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    assert_int_equal(sendto(s, "GET /", 5, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof a), -1);
    assert_int_equal(errno, EPERM);
    struct pollfd p = { .fd = l, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 100), 0);
    close(s);
    close(l);
}

static void test_listening_only_on_loopback(void **state)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    assert_int_equal(bind(s, (struct sockaddr *)&any, sizeof any), 0);
    errno = 0;
    assert_int_equal(listen(s, 1), -1);
    assert_int_equal(errno, EPERM);
    close(s);
    /* An unbound socket would listen on the wildcard: refused too. */
    s = socket(AF_INET6, SOCK_STREAM, 0);
    assert_int_equal(listen(s, 1), -1);
    assert_int_equal(syscall(SYS_listen, s, 1), -1);
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s, (struct sockaddr *)&lo, sizeof lo), 0);
    assert_int_equal(listen(s, 1), 0);
    close(s);
}

static void test_accept_on_an_inherited_wildcard_listener_is_refused(void **state)
{
    int s = libc_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in any = { .sin_family = AF_INET };
    assert_int_equal(bind(s, (struct sockaddr *)&any, sizeof any), 0);
    assert_int_equal(libc_listen(s, 1), 0);
    errno = 0;
    assert_int_equal(accept(s, NULL, NULL), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(accept4(s, NULL, NULL, SOCK_CLOEXEC), -1);
    assert_int_equal(errno, EPERM);
    close(s);
}

static void test_outbound_loopback_is_refused_before_any_packet(void **state)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    assert_int_equal(listen(l, 4), 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(syscall(SYS_connect, s, &a, sizeof a), -1);
    /* Same through an IPv6 socket with a v4-mapped address. */
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 m = { .sin6_family = AF_INET6, .sin6_port = a.sin_port };
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
    assert_int_equal(connect(s6, (struct sockaddr *)&m, sizeof m), -1);
    assert_int_equal(errno, EPERM);
    struct pollfd p = { .fd = l, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 100), 0);
    close(s6);
    close(s);
    close(l);
}

static void test_io_uring_setup_is_refused(void **state)
{
#ifdef SYS_io_uring_setup
    char params[120];
    memset(params, 0, sizeof params);
    errno = 0;
    assert_int_equal(syscall(SYS_io_uring_setup, 4, params), -1);
    assert_int_equal(errno, ENOSYS);
#else
    skip();
#endif
}

static void test_other_syscalls_pass_with_their_arguments(void **state)
{
    assert_int_equal(syscall(SYS_getpid), getpid());
    int fds[2];
    assert_int_equal(syscall(SYS_pipe2, fds, O_CLOEXEC), 0);
    assert_int_equal(syscall(SYS_write, fds[1], "abc", 3), 3);
    char buf[3];
    assert_int_equal(syscall(SYS_read, fds[0], buf, 3), 3);
    assert_memory_equal(buf, "abc", 3);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    setenv("TORIFY_CONF_FILE", "/dev/null", 1);
    setenv("TORIFY_TOR_UNIX", "/nonexistent/torify-test-tor.sock", 1);
    setenv("TORIFY_LOG_LEVEL", "quiet", 1);
    *(void **)&libc_socket = dlsym(RTLD_NEXT, "socket");
    *(void **)&libc_listen = dlsym(RTLD_NEXT, "listen");
    *(void **)&libc_sendto = dlsym(RTLD_NEXT, "sendto");
    if (!libc_socket || !libc_listen || !libc_sendto)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_raw_and_packet_sockets_are_refused),
        cmocka_unit_test(test_tcp_unix_and_netlink_sockets_work),
        cmocka_unit_test(test_datagrams_with_a_destination_are_refused_and_never_sent),
        cmocka_unit_test(test_connecting_a_datagram_socket_is_refused),
        cmocka_unit_test(test_unix_datagrams_with_a_destination_pass),
        cmocka_unit_test(test_tcp_fast_open_to_localhost_is_refused_as_its_connect),
        cmocka_unit_test(test_listening_only_on_loopback),
        cmocka_unit_test(test_accept_on_an_inherited_wildcard_listener_is_refused),
        cmocka_unit_test(test_outbound_loopback_is_refused_before_any_packet),
        cmocka_unit_test(test_io_uring_setup_is_refused),
        cmocka_unit_test(test_other_syscalls_pass_with_their_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
