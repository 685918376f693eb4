/* Optimistic data's reply state machine (shim/opt.c) over a socketpair:
 * the request goes out whole at begin; the reply, fed in pieces, keeps the
 * socket pending until complete and never takes a byte behind it; a failed
 * reply is the mapped errno for every later call; close lets go; a dup'ed
 * copy owes the same reply. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/clock.h"
#include "shim/opt.h"
#include "shim/state.h"

static int peer = -1;

/* A socket of a pair armed as owing a SOCKS5 reply for example.test:80. */
static int armed(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    peer = sv[1];
    struct torify_target t;
    assert_int_equal(torify_target_host(&t, "example.test", 12, 80), TORIFY_OK);
    struct torify_socks_opts o;
    memset(&o, 0, sizeof o);
    o.proto = TORIFY_SOCKS5;
    uint32_t gen;
    torify_err e;
    struct opt_conn *c = torify_opt_begin(sv[0], sv[0], &t, &o, torify_now_ms() + 10000, &gen, &e);
    assert_non_null(c);
    struct torify_fd_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.state = TORIFY_FD_CONNECTED;
    rec.fake_slot = TORIFY_FAKEMAP_NO_SLOT;
    rec.opt = c;
    rec.opt_gen = gen;
    assert_true(torify_fd_set(sv[0], &rec));
    torify_opt_arm(sv[0], c);
    /* greeting (3) and request (5 + 12 + 2) in one piece */
    uint8_t buf[64];
    ssize_t n = recv(peer, buf, sizeof buf, MSG_DONTWAIT);
    assert_int_equal(n, 3 + 4 + 1 + 12 + 2);
    assert_memory_equal(buf, "\x05\x01\x00\x05\x01\x00\x03", 7);
    return sv[0];
}

static void done(int fd)
{
    torify_fd_clear(fd);
    close(fd);
    close(peer);
    assert_false(torify_opt_flagged(fd));
}

static void test_reply_in_pieces_then_data(void **state)
{
    (void)state;
    int fd = armed();
    int err = 0;
    assert_true(torify_opt_flagged(fd));
    assert_int_equal(torify_opt_settle(fd, false, &err), OPT_PENDING);
    assert_int_equal(send(peer, "\x05\x00\x05\x00", 4, 0), 4); /* method, half the reply */
    assert_int_equal(torify_opt_settle(fd, false, &err), OPT_PENDING);
    assert_true(torify_opt_flagged(fd));
    assert_int_equal(send(peer, "\x00\x01\x00\x00\x00\x00\x00\x00" "DATA", 12, 0), 12);
    assert_int_equal(torify_opt_settle(fd, false, &err), OPT_DONE);
    assert_false(torify_opt_flagged(fd));
    char b[8];
    assert_int_equal(recv(fd, b, sizeof b, MSG_DONTWAIT), 4); /* nothing of the data was taken */
    assert_memory_equal(b, "DATA", 4);
    done(fd);
}

static void test_failed_reply_is_the_errno_every_time(void **state)
{
    (void)state;
    int fd = armed();
    assert_int_equal(send(peer, "\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12, 0), 12);
    for (int i = 0; i < 3; i++) {
        errno = 0;
        assert_int_equal(torify_opt_before_read(fd, true), -1);
        assert_int_equal(errno, ECONNREFUSED);
        assert_int_equal(torify_opt_before_write(fd), -1);
        assert_int_equal(errno, ECONNREFUSED);
    }
    assert_true(torify_opt_poll_filter(fd, POLLIN, POLLIN) & POLLERR);
    done(fd);
}

static void test_end_inside_the_reply_is_an_error(void **state)
{
    (void)state;
    int fd = armed();
    assert_int_equal(send(peer, "\x05\x00\x05", 3, 0), 3);
    shutdown(peer, SHUT_WR);
    int err = 0;
    assert_int_equal(torify_opt_settle(fd, false, &err), OPT_FAILED);
    assert_int_equal(err, EPROTO);
    done(fd);
}

static void test_poll_sees_no_data_in_the_reply_alone(void **state)
{
    (void)state;
    int fd = armed();
    assert_int_equal(send(peer, "\x05\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12, 0), 12);
    assert_int_equal(torify_opt_poll_filter(fd, POLLIN, POLLIN) & POLLIN, 0);
    assert_false(torify_opt_flagged(fd));
    done(fd);
}

/* dup (shim/dup.c) of a pending socket: the copy owes the same reply and
 * keeps it owed when the original is closed first. */
static void test_a_copy_shares_the_reply_and_outlives_the_original(void **state)
{
    (void)state;
    int fd = armed();
    int c2 = dup(fd);
    assert_true(c2 >= 0);
    assert_true(torify_opt_flagged(c2));
    torify_fd_clear(fd);
    close(fd);
    assert_true(torify_opt_flagged(c2));
    int err = 0;
    assert_int_equal(torify_opt_settle(c2, false, &err), OPT_PENDING);
    assert_int_equal(send(peer, "\x05\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00" "DATA", 16, 0), 16);
    assert_int_equal(torify_opt_settle(c2, false, &err), OPT_DONE);
    assert_false(torify_opt_flagged(c2));
    char b[8];
    assert_int_equal(recv(c2, b, sizeof b, MSG_DONTWAIT), 4);
    assert_memory_equal(b, "DATA", 4);
    done(c2);
}

/* A failure read through one number is the other's too; SO_ERROR reports
 * it once for the socket, whichever number asks. */
static void test_a_failure_read_through_one_number_shows_on_the_other(void **state)
{
    (void)state;
    int fd = armed();
    int c2 = dup(fd);
    assert_true(c2 >= 0);
    assert_int_equal(send(peer, "\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12, 0), 12);
    errno = 0;
    assert_int_equal(torify_opt_before_read(c2, true), -1);
    assert_int_equal(errno, ECONNREFUSED);
    errno = 0;
    assert_int_equal(torify_opt_before_read(fd, true), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_true(torify_opt_poll_filter(fd, POLLIN, POLLIN) & POLLERR);
    assert_int_equal(torify_opt_take_error(fd), ECONNREFUSED);
    assert_int_equal(torify_opt_take_error(c2), 0);
    torify_fd_clear(c2);
    close(c2);
    done(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_in_pieces_then_data),
        cmocka_unit_test(test_failed_reply_is_the_errno_every_time),
        cmocka_unit_test(test_end_inside_the_reply_is_an_error),
        cmocka_unit_test(test_poll_sees_no_data_in_the_reply_alone),
        cmocka_unit_test(test_a_copy_shares_the_reply_and_outlives_the_original),
        cmocka_unit_test(test_a_failure_read_through_one_number_shows_on_the_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
