/* launcher/streams_match: tying Tor's stream-status rows to the sockets
 * torified programs published — exact targets, names Tor replaced by an
 * address, onions never replaced, and groups that cannot be told apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "launcher/launcher.h"

static struct sock_rec name(long pid, const char *host, uint16_t port)
{
    struct sock_rec r;
    memset(&r, 0, sizeof r);
    r.pid = pid;
    r.kind = TORIFY_TARGET_HOST;
    snprintf(r.host, sizeof r.host, "%s", host);
    r.port = port;
    snprintf(r.asked, sizeof r.asked, "%s:%u", host, (unsigned)port);
    return r;
}

static struct sock_rec ip4(long pid, const char *a, uint16_t port)
{
    struct sock_rec r = name(pid, a, port);
    r.kind = TORIFY_TARGET_IPV4;
    assert_int_equal(inet_pton(AF_INET, a, r.addr), 1);
    return r;
}

static struct stream_row row(unsigned long id, const char *target)
{
    struct stream_row s;
    memset(&s, 0, sizeof s);
    s.id = id;
    snprintf(s.target, sizeof s.target, "%s", target);
    return s;
}

static void test_may_be(void **state)
{
    (void)state;
    struct sock_rec web = name(1, "web.test", 80), onion = name(1, "abcdefghijklmnop.onion", 80),
                    a = ip4(1, "10.1.2.3", 443);
    assert_true(stream_may_be("web.test:80", &web));
    assert_true(stream_may_be("WEB.test:80", &web));
    assert_true(stream_may_be("10.9.9.9:80", &web));       /* REMAP */
    assert_true(stream_may_be("[2001:db8::1]:80", &web));  /* REMAP to IPv6 */
    assert_false(stream_may_be("10.9.9.9:81", &web));
    assert_false(stream_may_be("other.test:80", &web));
    assert_false(stream_may_be("10.9.9.9:80", &onion));    /* an onion is never replaced */
    assert_true(stream_may_be("abcdefghijklmnop.onion:80", &onion));
    assert_true(stream_may_be("10.1.2.3:443", &a));
    assert_false(stream_may_be("10.1.2.4:443", &a));
    assert_false(stream_may_be("web.test:443", &a));
    assert_false(stream_may_be("garbage", &web));
    assert_false(stream_may_be("web.test:99999", &web));
}

static void test_one_stream_one_record(void **state)
{
    (void)state;
    struct sock_rec r[] = { name(11, "web.test", 80), ip4(12, "10.1.2.3", 443) };
    struct stream_row s[] = { row(7, "10.9.9.9:80"), row(8, "10.1.2.3:443"), row(9, "nobody.test:22") };
    streams_match(s, 3, r, 2);
    assert_int_equal(s[0].pid, 11);
    assert_int_equal(s[0].rec, 0);
    assert_string_equal(s[0].asked, "web.test:80");
    assert_int_equal(s[1].pid, 12);
    assert_int_equal(s[1].rec, 1);
    assert_int_equal(s[2].pid, 0);
    assert_int_equal(s[2].rec, -1);
    assert_int_equal(s[2].n_pids, 0);
}

static void test_two_programs_same_port_are_not_guessed(void **state)
{
    (void)state;
    struct sock_rec r[] = { name(11, "one.test", 80), name(12, "two.test", 80) };
    struct stream_row s[] = { row(5, "10.0.0.1:80"), row(6, "10.0.0.2:80") };
    streams_match(s, 2, r, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s[i].pid, 0);
        assert_int_equal(s[i].rec, -1);
        assert_int_equal(s[i].n_pids, 2);
    }
}

static void test_one_program_two_streams_same_destination(void **state)
{
    (void)state;
    struct sock_rec r[] = { name(11, "web.test", 80), name(11, "web.test", 80) };
    struct stream_row s[] = { row(5, "10.0.0.1:80"), row(6, "10.0.0.1:80") };
    streams_match(s, 2, r, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s[i].pid, 11);           /* whose: known */
        assert_int_equal(s[i].rec, -1);           /* which socket: not */
        assert_string_equal(s[i].asked, "web.test:80");
    }
}

static void test_a_stream_nobody_published_leaves_its_group_undecided(void **state)
{
    (void)state;
    /* Two streams to the address, one published socket: one of them is
     * another client's, and nothing says which. */
    struct sock_rec r[] = { name(11, "web.test", 80) };
    struct stream_row s[] = { row(5, "10.0.0.1:80"), row(6, "10.0.0.1:80") };
    streams_match(s, 2, r, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s[i].pid, 0);
        assert_int_equal(s[i].n_pids, 1);
        assert_int_equal(s[i].pids[0], 11);
        assert_string_equal(s[i].asked, "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_may_be),
        cmocka_unit_test(test_one_stream_one_record),
        cmocka_unit_test(test_two_programs_same_port_are_not_guessed),
        cmocka_unit_test(test_one_program_two_streams_same_destination),
        cmocka_unit_test(test_a_stream_nobody_published_leaves_its_group_undecided),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
