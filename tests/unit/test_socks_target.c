/* Target helpers and the proxy address parser. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/un.h>

#include "test_socks_util.h"

static void test_sockaddr_round_trips_through_target(void **state)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(9050) };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
    struct torify_target t;
    struct sockaddr_storage ss;
    inet_pton(AF_INET, "192.0.2.33", &in.sin_addr);
    inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);

    assert_int_equal(torify_target_sockaddr(&t, (struct sockaddr *)&in, sizeof in), TORIFY_OK);
    assert_int_equal(t.kind, TORIFY_TARGET_IPV4);
    assert_int_equal(t.port, 9050);
    assert_int_equal(torify_target_to_sockaddr(&t, &ss), sizeof in);
    assert_memory_equal(&ss, &in, sizeof in);

    assert_int_equal(torify_target_sockaddr(&t, (struct sockaddr *)&in6, sizeof in6), TORIFY_OK);
    assert_int_equal(t.kind, TORIFY_TARGET_IPV6);
    assert_int_equal(torify_target_to_sockaddr(&t, &ss), sizeof in6);
    assert_memory_equal(&ss, &in6, sizeof in6);
}

static void test_sockaddr_of_other_family_or_short_length_is_rejected(void **state)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct sockaddr_in in = { .sin_family = AF_INET };
    struct torify_target t;
    struct sockaddr_storage ss;
    assert_int_equal(torify_target_sockaddr(&t, (struct sockaddr *)&un, sizeof un), TORIFY_E_INVAL_TARGET);
    assert_int_equal(torify_target_sockaddr(&t, (struct sockaddr *)&in, sizeof in - 1), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_target_sockaddr(&t, NULL, sizeof in), TORIFY_E_INVAL_ARGUMENT);
    t = host_target("example.com", 80);
    assert_int_equal(torify_target_to_sockaddr(&t, &ss), 0); /* names have no sockaddr */
}

static void test_format_shows_each_kind(void **state)
{
    char buf[300];
    struct torify_target t = host_target("example.com", 80);
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    assert_string_equal(torify_target_format(&t, buf, sizeof buf), "example.com:80");
    t = v4_target(127, 0, 0, 1, 9050);
    assert_string_equal(torify_target_format(&t, buf, sizeof buf), "127.0.0.1:9050");
    t = v6_target(v6, 443);
    assert_string_equal(torify_target_format(&t, buf, sizeof buf), "[2001:db8::1]:443");
}

static void test_format_masks_control_bytes_and_stays_in_bounds(void **state)
{
    char buf[8];
    char big[300];
    struct torify_target t = host_target("evil\n\x1b[31m", 1);
    assert_string_equal(torify_target_format(&t, big, sizeof big), "evil??[31m:1");
    memset(buf, 'X', sizeof buf);
    assert_string_equal(torify_target_format(&t, buf, 5), "evil");
    assert_int_equal(buf[5], 'X'); /* nothing written past len */
    assert_null(torify_target_format(&t, NULL, 10));
}

static void parse_ok(const char *text, const char *addr, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char got[INET6_ADDRSTRLEN];
    assert_int_equal(torify_sockaddr_parse(text, &ss, &len), TORIFY_OK);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        assert_int_equal(len, sizeof *in);
        inet_ntop(AF_INET, &in->sin_addr, got, sizeof got);
        assert_int_equal(ntohs(in->sin_port), port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_int_equal(len, sizeof *in6);
        inet_ntop(AF_INET6, &in6->sin6_addr, got, sizeof got);
        assert_int_equal(ntohs(in6->sin6_port), port);
    }
    assert_string_equal(got, addr);
}

static void test_parse_accepts_numeric_forms_and_localhost(void **state)
{
    parse_ok("127.0.0.1:9150", "127.0.0.1", 9150);
    parse_ok("127.0.0.1", "127.0.0.1", 9050);
    parse_ok("localhost:1080", "127.0.0.1", 1080);
    parse_ok("LOCALHOST", "127.0.0.1", 9050);
    parse_ok("[::1]:9050", "::1", 9050);
    parse_ok("[::1]", "::1", 9050);
    parse_ok("::1", "::1", 9050);
    parse_ok("10.1.2.3:65535", "10.1.2.3", 65535);
}

static void test_parse_rejects_names_and_bad_ports(void **state)
{
    static const char *bad[] = { "",          "tor.example.com:9050", "127.0.0.1:",   "127.0.0.1:0",
                                 "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1:80x", "127.0.0.1: 80",
                                 "[::1",      "[::1]x",          "[::1]:",      "[127.0.0.1]:80",
                                 "1.2.3:80",  "01.2.3.4",        "unix:",       "unix:@",
                                 "127.0.0.1:000080" };
    struct sockaddr_storage ss;
    socklen_t len;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (torify_sockaddr_parse(bad[i], &ss, &len) != TORIFY_E_INVAL_ARGUMENT)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(torify_sockaddr_parse(NULL, &ss, &len), TORIFY_E_INVAL_ARGUMENT);
}

static void test_parse_unix_paths_including_abstract(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    char longp[200];

    assert_int_equal(torify_sockaddr_parse("unix:/run/tor/socks", &ss, &len), TORIFY_OK);
    assert_int_equal(un->sun_family, AF_UNIX);
    assert_string_equal(un->sun_path, "/run/tor/socks");
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/tor/socks") + 1);

    assert_int_equal(torify_sockaddr_parse("unix:@tor", &ss, &len), TORIFY_OK);
    assert_int_equal(un->sun_path[0], 0);
    assert_memory_equal(un->sun_path + 1, "tor", 3);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 4);

    memcpy(longp, "unix:/", 6);
    memset(longp + 6, 'p', sizeof longp - 7);
    longp[sizeof longp - 1] = 0;
    assert_int_equal(torify_sockaddr_parse(longp, &ss, &len), TORIFY_E_INVAL_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sockaddr_round_trips_through_target),
        cmocka_unit_test(test_sockaddr_of_other_family_or_short_length_is_rejected),
        cmocka_unit_test(test_format_shows_each_kind),
        cmocka_unit_test(test_format_masks_control_bytes_and_stays_in_bounds),
        cmocka_unit_test(test_parse_accepts_numeric_forms_and_localhost),
        cmocka_unit_test(test_parse_rejects_names_and_bad_ports),
        cmocka_unit_test(test_parse_unix_paths_including_abstract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
