/* Tor's RESOLVE (0xF0) and RESOLVE_PTR (0xF1), torspec socks-extensions. */
#include "test_socks_util.h"

static const uint8_t V6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef };

static void test_socks5_resolve_request_is_byte_exact_with_port_zero(void **state)
{
    /* The caller's port is not sent: Tor ignores it, so nothing leaks. */
    struct torify_target t = host_target("torproject.org", 443);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 116, 202, 120, 165, 0, 0 };
    static const uint8_t want[] = { 0x05, 0x01, 0x00, 0x05, 0xf0, 0x00, 0x03, 14, 't', 'o', 'r', 'p', 'r', 'o',
                                    'j',  'e',  'c',  't',  '.',  'o',  'r',  'g', 0x00, 0x00 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

static void test_socks5_resolve_ipv4_answer_is_the_result(void **state)
{
    struct torify_target t = host_target("torproject.org", 0);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 116, 202, 120, 165, 0, 0 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r.result.kind, TORIFY_TARGET_IPV4);
    static const uint8_t ip[4] = { 116, 202, 120, 165 };
    assert_memory_equal(r.result.addr, ip, 4);
}

static void test_socks5_resolve_ipv6_answer_is_the_result(void **state)
{
    struct torify_target t = host_target("torproject.org", 0);
    struct run r;
    uint8_t srv[2 + 22] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x04 };
    memcpy(srv + 6, V6, 16);
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, TORIFY_SOCKS_PIPELINE, srv, sizeof srv, 9999,
             9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r.result.kind, TORIFY_TARGET_IPV6);
    assert_memory_equal(r.result.addr, V6, 16);
    assert_int_equal(r.consumed, sizeof srv);
}

static void test_socks5_resolve_answered_with_hostname_fails(void **state)
{
    struct torify_target t = host_target("torproject.org", 0);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 1, 'x', 0, 0 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
    assert_int_equal(r.err, TORIFY_E_PROTO_RESOLVE_TYPE);
}

static void test_socks5_resolve_failure_reports_host_unreachable(void **state)
{
    /* Tor answers a failed lookup with REP 4. */
    struct torify_target t = host_target("no-such-name.invalid", 0);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
    assert_int_equal(r.err, TORIFY_E_S5_HOST_UNREACH);
}

static void test_socks5_resolve_ptr_ipv4_request_is_byte_exact(void **state)
{
    struct torify_target t = v4_target(116, 202, 120, 165, 80);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 5, 'a', '.', 'o', 'r', 'g', 0, 0 };
    static const uint8_t want[] = { 0x05, 0x01, 0x00, 0x05, 0xf1, 0x00, 0x01, 116, 202, 120, 165, 0x00, 0x00 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
    assert_int_equal(r.result.kind, TORIFY_TARGET_HOST);
    assert_string_equal(r.result.host, "a.org");
}

static void test_socks5_resolve_ptr_ipv6_request_is_byte_exact(void **state)
{
    struct torify_target t = v6_target(V6, 0);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 3, 'v', '.', '6', 0, 0 };
    uint8_t want[3 + 4 + 16 + 2] = { 0x05, 0x01, 0x00, 0x05, 0xf1, 0x00, 0x04 };
    memcpy(want + 7, V6, 16);
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
    assert_string_equal(r.result.host, "v.6");
}

static void test_socks5_resolve_ptr_answered_with_address_fails(void **state)
{
    struct torify_target t = v4_target(192, 0, 2, 1, 0);
    static const uint8_t a4[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 0 };
    uint8_t a6[2 + 22] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x04 };
    struct run r;
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, 0, a4, sizeof a4, 9999, 9999, &r);
    assert_int_equal(r.err, TORIFY_E_PROTO_RESOLVE_TYPE);
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, 0, a6, sizeof a6, 9999, 9999, &r);
    assert_int_equal(r.err, TORIFY_E_PROTO_RESOLVE_TYPE);
}

static void test_socks5_resolve_ptr_empty_name_fails(void **state)
{
    struct torify_target t = v4_target(192, 0, 2, 1, 0);
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 0, 0, 0 };
    struct run r;
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
    assert_int_equal(r.err, TORIFY_E_PROTO_MALFORMED);
}

static void test_resolve_commands_reject_the_wrong_target_kind(void **state)
{
    struct torify_socks s;
    struct torify_target a = v4_target(192, 0, 2, 1, 0);
    struct torify_target h = host_target("example.com", 0);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &a, NULL, NULL, 0),
                     TORIFY_E_INVAL_TARGET);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE_PTR, &h, NULL, NULL, 0),
                     TORIFY_E_INVAL_TARGET);
    /* RESOLVE needs no port: port 0 is fine. */
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &h, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS4A, TORIFY_SOCKS_RESOLVE, &h, NULL, NULL, 0), TORIFY_OK);
}

static void test_socks4a_resolve_request_and_reply(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    static const uint8_t srv[] = { 0x00, 0x5a, 0x00, 0x00, 93, 184, 216, 34, 'X' };
    static const uint8_t want[] = { 0x04, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 'e', 'x',
                                    'a',  'm',  'p',  'l',  'e',  '.',  'c',  'o',  'm',  0x00 };
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
    assert_int_equal(r.result.kind, TORIFY_TARGET_IPV4);
    static const uint8_t ip[4] = { 93, 184, 216, 34 };
    assert_memory_equal(r.result.addr, ip, 4);
    assert_int_equal(r.consumed, 8);
}

static void test_socks4a_resolve_failure_is_rejected(void **state)
{
    struct torify_target t = host_target("no-such-name.invalid", 0);
    struct run r;
    static const uint8_t srv[] = { 0x00, 0x5b, 0, 0, 0, 0, 0, 0 };
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_RESOLVE, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.err, TORIFY_E_S4_REJECTED);
}

static void test_pipelined_resolve_with_credentials_in_one_round_trip(void **state)
{
    struct torify_target t = host_target("example.com", 0);
    struct torify_socks s;
    const uint8_t *out;
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 0 };
    static const uint8_t want[] = { 0x05, 0x01, 0x02, 0x01, 1, 'u', 1, 'p', 0x05, 0xf0, 0x00, 0x03, 11,
                                    'e',  'x',  'a',  'm',  'p', 'l', 'e', '.', 'c',  'o',  'm',  0x00, 0x00 };
    size_t used;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, "u", "p", TORIFY_SOCKS_PIPELINE),
                     TORIFY_OK);
    size_t n = torify_socks_output(&s, &out);
    assert_bytes(out, n, want);
    assert_int_equal(torify_socks_sent(&s, n), TORIFY_OK);
    assert_int_equal(torify_socks_feed(&s, srv, sizeof srv, &used), TORIFY_OK);
    assert_int_equal(used, sizeof srv);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_DONE);
    assert_int_equal(torify_socks_result(&s)->addr[3], 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socks5_resolve_request_is_byte_exact_with_port_zero),
        cmocka_unit_test(test_socks5_resolve_ipv4_answer_is_the_result),
        cmocka_unit_test(test_socks5_resolve_ipv6_answer_is_the_result),
        cmocka_unit_test(test_socks5_resolve_answered_with_hostname_fails),
        cmocka_unit_test(test_socks5_resolve_failure_reports_host_unreachable),
        cmocka_unit_test(test_socks5_resolve_ptr_ipv4_request_is_byte_exact),
        cmocka_unit_test(test_socks5_resolve_ptr_ipv6_request_is_byte_exact),
        cmocka_unit_test(test_socks5_resolve_ptr_answered_with_address_fails),
        cmocka_unit_test(test_socks5_resolve_ptr_empty_name_fails),
        cmocka_unit_test(test_resolve_commands_reject_the_wrong_target_kind),
        cmocka_unit_test(test_socks4a_resolve_request_and_reply),
        cmocka_unit_test(test_socks4a_resolve_failure_is_rejected),
        cmocka_unit_test(test_pipelined_resolve_with_credentials_in_one_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
