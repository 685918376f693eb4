/*
 * The driver (torify_socks_advance) on a socketpair: the test plays the
 * proxy on the other end, one step at a time, so every "what to wait
 * for" answer is checked at the point it is given.  No threads, no
 * waiting: the driver never blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_socks_util.h"

/* send() of this test program: 0 bytes for zero_send_fd (an fd that takes
 * nothing and says nothing is wrong), the kernel's answer otherwise.  The
 * driver in libtorify-socks' objects linked here calls this one. */
static int zero_send_fd = -2; /* none: not even -1, which a test passes as a bad fd */

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (fd == zero_send_fd)
        return 0;
    return sendto(fd, buf, len, flags, NULL, 0);
}

static const uint8_t GREET[] = { 0x05, 0x01, 0x00 };
static const uint8_t METHOD_OK[] = { 0x05, 0x00 };
static const uint8_t REQ[] = { 0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
                               0x00, 0x50 };
static const uint8_t REPLY_APP[] = { 0x05, 0x00, 0x00, 0x01, 10, 0, 0, 1, 0x23, 0x28, 'a', 'p', 'p' };

static struct torify_target example(void)
{
    return host_target("example.com", 80);
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* The proxy end reads exactly what the client has sent so far. */
static void expect_sent(int fd, const uint8_t *want, size_t len)
{
    uint8_t got[64];
    assert_true(len <= sizeof got);
    assert_int_equal(recv(fd, got, sizeof got, MSG_DONTWAIT), (ssize_t)len);
    assert_memory_equal(got, want, len);
}

static void put(int fd, const uint8_t *data, size_t len)
{
    assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static void test_advance_says_what_to_wait_for_at_each_step(void **state)
{
    int sv[2];
    struct torify_socks s;
    struct torify_target t = example();
    pair(sv);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);

    /* The greeting goes out, then there is nothing to read yet. */
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_WANT_READ);
    expect_sent(sv[1], GREET, sizeof GREET);
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_WANT_READ); /* still nothing */
    put(sv[1], METHOD_OK, sizeof METHOD_OK);
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_WANT_READ);
    expect_sent(sv[1], REQ, sizeof REQ);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-reply-head");
    put(sv[1], REPLY_APP, sizeof REPLY_APP);
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_DONE);
    assert_int_equal(torify_socks_result(&s)->port, 9000);
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_DONE); /* again: nothing read */

    /* What follows the reply is the application's. */
    char app[8] = { 0 };
    assert_int_equal(recv(sv[0], app, sizeof app, MSG_DONTWAIT), 3);
    assert_string_equal(app, "app");
    close(sv[0]);
    close(sv[1]);
}

static void test_advance_wants_write_while_the_socket_is_full(void **state)
{
    int sv[2];
    struct torify_socks s;
    struct torify_target t = example();
    uint8_t junk[4096];
    pair(sv);
    memset(junk, 'x', sizeof junk);
    while (send(sv[0], junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_WANT_WRITE);
    assert_string_equal(torify_socks_state_name(&s), "socks5-send-greeting");

    /* The proxy drains the junk: the greeting goes out. */
    while (recv(sv[1], junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
    enum torify_socks_want w;
    while ((w = torify_socks_advance(&s, sv[0])) == TORIFY_SOCKS_WANT_WRITE) {
        while (recv(sv[1], junk, sizeof junk, MSG_DONTWAIT) > 0) {
        }
    }
    assert_int_equal(w, TORIFY_SOCKS_WANT_READ);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-method");
    close(sv[0]);
    close(sv[1]);
}

static void test_advance_proxy_closing_is_truncated(void **state)
{
    int sv[2];
    struct torify_socks s;
    struct torify_target t = example();
    pair(sv);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_WANT_READ);
    put(sv[1], METHOD_OK, 1); /* half a method selection, then gone */
    close(sv[1]);
    errno = 0;
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_PROTO_TRUNCATED);
    assert_int_equal(errno, EPROTO);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-method");
    /* A failed codec stays failed with its first error. */
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_PROTO_TRUNCATED);
    close(sv[0]);
}

static void test_advance_bad_reply_fails_with_the_codec_error(void **state)
{
    int sv[2];
    struct torify_socks s;
    struct torify_target t = example();
    static const uint8_t refused[] = { 0x05, 0x00, 0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    pair(sv);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL,
                                       TORIFY_SOCKS_PIPELINE), TORIFY_OK);
    put(sv[1], refused, sizeof refused);
    errno = 0;
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_S5_CONN_REFUSED);
    assert_int_equal(errno, ECONNREFUSED);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-reply-head");
    close(sv[0]);
    close(sv[1]);
}

static void test_advance_system_error_is_io_with_the_system_errno(void **state)
{
    struct torify_socks s;
    struct torify_target t = example();
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    errno = 0;
    assert_int_equal(torify_socks_advance(&s, fd), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_IO);
    assert_int_equal(errno, ENOTSOCK);
    close(fd);

    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_advance(&s, -1), TORIFY_SOCKS_FAILED);
    assert_int_equal(errno, EBADF);

    memset(&s, 0, sizeof s); /* never initialised */
    assert_int_equal(torify_socks_advance(&s, 0), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_INVAL_STATE);
}

/* A send() that takes nothing and reports nothing: the fd stays writable,
 * so waiting for it would spin until the deadline.  Both the driver and
 * the blocking helper fail at once with EIO instead. */
static void test_send_returning_zero_fails_instead_of_waiting(void **state)
{
    int sv[2];
    struct torify_socks s;
    struct torify_target t = example();
    struct torify_socks_opts o = { .timeout_ms = 1500 };
    pair(sv);
    zero_send_fd = sv[0];
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    errno = 0;
    assert_int_equal(torify_socks_advance(&s, sv[0]), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_IO);
    assert_int_equal(errno, EIO);

    errno = 0;
    assert_int_equal(torify_socks_handshake_fd(sv[0], TORIFY_SOCKS_CONNECT, &t, &o, NULL), TORIFY_E_IO);
    assert_int_equal(errno, EIO);
    zero_send_fd = -2;
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_advance_says_what_to_wait_for_at_each_step),
        cmocka_unit_test(test_advance_wants_write_while_the_socket_is_full),
        cmocka_unit_test(test_advance_proxy_closing_is_truncated),
        cmocka_unit_test(test_advance_bad_reply_fails_with_the_codec_error),
        cmocka_unit_test(test_advance_system_error_is_io_with_the_system_errno),
        cmocka_unit_test(test_send_returning_zero_fails_instead_of_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
