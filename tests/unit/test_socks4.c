/* SOCKS4 and SOCKS4a through the codec (seed document section 1). */
#include "test_socks_util.h"

static const uint8_t OK_REPLY[] = { 0x00, 0x5a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

static void test_socks4_ipv4_connect_is_byte_exact(void **state)
{
    struct torify_target t = v4_target(127, 0, 0, 1, 80);
    struct run r;
    static const uint8_t want[] = { 0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00 };
    run_full(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, OK_REPLY, sizeof OK_REPLY, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

static void test_socks4_user_id_is_sent_nul_terminated(void **state)
{
    struct torify_target t = v4_target(10, 1, 2, 3, 0x1234);
    struct run r;
    static const uint8_t want[] = { 0x04, 0x01, 0x12, 0x34, 10, 1, 2, 3, 'b', 'o', 'b', 0x00 };
    run_full(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, "bob", NULL, 0, OK_REPLY, sizeof OK_REPLY, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

/* Exactly the bytes listed in the seed document, section 1. */
static void test_socks4a_hostname_connect_matches_seed_layout(void **state)
{
    struct torify_target t = host_target("www.example.org", 8080);
    struct run r;
    static const uint8_t want[] = { 0x04,                   /* socks version */
                                    0x01,                   /* connect */
                                    0x1f, 0x90,             /* port, MSB first */
                                    0x00, 0x00, 0x00, 0x01, /* fake IP address */
                                    0x00,                   /* empty username field */
                                    'w',  'w',  'w',  '.',  'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g',
                                    0x00 }; /* end of hostname */
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, OK_REPLY, sizeof OK_REPLY, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

static void test_socks4a_with_ipv4_target_sends_plain_socks4(void **state)
{
    struct torify_target t = v4_target(127, 0, 0, 1, 80);
    struct run r4, r4a;
    run_full(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, "x", NULL, 0, OK_REPLY, sizeof OK_REPLY, 9999, 9999, &r4);
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, "x", NULL, 0, OK_REPLY, sizeof OK_REPLY, 9999, 9999, &r4a);
    assert_int_equal(r4a.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r4.sent_len, r4a.sent_len);
    assert_memory_equal(r4.sent, r4a.sent, r4.sent_len);
}

static void test_socks4_reply_reports_port_and_address(void **state)
{
    struct torify_target t = v4_target(127, 0, 0, 1, 80);
    struct run r;
    static const uint8_t srv[] = { 0x00, 0x5a, 0x04, 0xd2, 192, 0, 2, 1 };
    run_full(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r.result.kind, TORIFY_TARGET_IPV4);
    assert_int_equal(r.result.port, 1234);
    static const uint8_t ip[4] = { 192, 0, 2, 1 };
    assert_memory_equal(r.result.addr, ip, 4);
}

static void test_socks4_every_reply_code_maps_to_its_error(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    for (unsigned cd = 0; cd < 256; cd++) {
        uint8_t srv[] = { 0x00, (uint8_t)cd, 0, 0, 0, 0, 0, 0 };
        torify_err want = cd == 0x5a   ? TORIFY_OK
                          : cd == 0x5b ? TORIFY_E_S4_REJECTED
                          : cd == 0x5c ? TORIFY_E_S4_NO_IDENTD
                          : cd == 0x5d ? TORIFY_E_S4_IDENTD_MISMATCH
                                       : TORIFY_E_S4_UNKNOWN_REPLY;
        struct run r;
        run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
        assert_int_equal(r.err, want);
        assert_int_equal(r.end, want == TORIFY_OK ? TORIFY_SOCKS_DONE : TORIFY_SOCKS_FAILED);
    }
}

static void test_socks4_reply_version_must_be_zero(void **state)
{
    struct torify_target t = v4_target(127, 0, 0, 1, 80);
    static const uint8_t vns[] = { 0x04, 0x05, 0x01, 0xff };
    for (size_t i = 0; i < sizeof vns; i++) {
        uint8_t srv[] = { vns[i], 0x5a, 0, 0, 0, 0, 0, 0 };
        struct run r;
        run_full(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
        assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
        assert_int_equal(r.err, TORIFY_E_PROTO_VERSION);
    }
}

static void test_socks4_never_reads_past_the_reply(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    static const uint8_t srv[] = { 0x00, 0x5a, 0, 0, 0, 0, 0, 0, 'S', 'S', 'H', '-' };
    for (size_t chunk = 1; chunk <= sizeof srv; chunk++) {
        struct run r;
        run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, chunk, &r);
        assert_int_equal(r.end, TORIFY_SOCKS_DONE);
        assert_int_equal(r.consumed, 8);
    }
}

static void test_socks4_server_closing_mid_reply_is_truncated(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    for (size_t cut = 0; cut < sizeof OK_REPLY; cut++) {
        struct run r;
        run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, OK_REPLY, cut, 9999, 9999, &r);
        assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
        assert_int_equal(r.err, TORIFY_E_PROTO_TRUNCATED);
    }
}

static void test_socks4_byte_by_byte_equals_all_at_once(void **state)
{
    struct torify_target t = host_target("a-rather-long-hostname.example.net", 993);
    static const uint8_t srv[] = { 0x00, 0x5a, 0x01, 0x02, 9, 8, 7, 6 };
    struct run once, bytes;
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, "id", NULL, 0, srv, sizeof srv, 9999, 9999, &once);
    assert_int_equal(once.end, TORIFY_SOCKS_DONE);
    for (size_t chunk = 1; chunk < 8; chunk++) {
        run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, "id", NULL, 0, srv, sizeof srv, chunk, chunk, &bytes);
        assert_int_equal(bytes.end, TORIFY_SOCKS_DONE);
        assert_int_equal(bytes.sent_len, once.sent_len);
        assert_memory_equal(bytes.sent, once.sent, once.sent_len);
        assert_memory_equal(&bytes.result, &once.result, sizeof once.result);
    }
}

static void test_socks4_pipeline_flag_changes_nothing(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run a, b;
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, OK_REPLY, sizeof OK_REPLY, 9999, 9999, &a);
    run_full(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_SOCKS_PIPELINE, OK_REPLY, sizeof OK_REPLY,
             9999, 9999, &b);
    assert_int_equal(b.end, TORIFY_SOCKS_DONE);
    assert_int_equal(a.sent_len, b.sent_len);
    assert_memory_equal(a.sent, b.sent, a.sent_len);
}

static void expect_init(enum torify_socks_proto proto, enum torify_socks_cmd cmd, const struct torify_target *t,
                        const char *user, const char *pass, torify_err want)
{
    struct torify_socks s;
    const uint8_t *out;
    assert_int_equal(torify_socks_init(&s, proto, cmd, t, user, pass, 0), want);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), want);
    assert_int_equal(torify_socks_output(&s, &out), 0);
    assert_null(out);
}

static void test_socks4_rejects_hostname_target(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_E_INVAL_TARGET);
}

static void test_socks4_and_4a_reject_ipv6_target(void **state)
{
    static const uint8_t v6[16] = { [15] = 1 };
    struct torify_target t = v6_target(v6, 80);
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_E_INVAL_TARGET);
    expect_init(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_E_INVAL_TARGET);
}

static void test_socks4_rejects_address_that_looks_like_4a_marker(void **state)
{
    /* 0.0.0.x would make the server wait for a hostname that never comes. */
    struct torify_target t = v4_target(0, 0, 0, 9, 80);
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_E_INVAL_TARGET);
    expect_init(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_E_INVAL_TARGET);
}

static void test_socks4_resolve_ptr_is_not_available(void **state)
{
    struct torify_target t = v4_target(192, 0, 2, 1, 0);
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, TORIFY_E_INVAL_ARGUMENT);
    expect_init(TORIFY_SOCKS4A, TORIFY_SOCKS_RESOLVE_PTR, &t, NULL, NULL, TORIFY_E_INVAL_ARGUMENT);
}

static void test_socks4_resolve_needs_socks4a_and_a_hostname(void **state)
{
    struct torify_target h = host_target("example.com", 0);
    struct torify_target a = v4_target(192, 0, 2, 1, 0);
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_RESOLVE, &h, NULL, NULL, TORIFY_E_INVAL_TARGET);
    expect_init(TORIFY_SOCKS4A, TORIFY_SOCKS_RESOLVE, &a, NULL, NULL, TORIFY_E_INVAL_TARGET);
}

static void test_socks4_rejects_password_and_overlong_user(void **state)
{
    struct torify_target t = v4_target(127, 0, 0, 1, 80);
    char u[257];
    memset(u, 'u', 256);
    u[256] = 0;
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, "u", "p", TORIFY_E_INVAL_CREDENTIALS);
    expect_init(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, u, NULL, TORIFY_E_INVAL_CREDENTIALS);
    u[255] = 0; /* 255 is the most a field carries, and is fine */
    struct torify_socks s;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, u, NULL, 0), TORIFY_OK);
    const uint8_t *out;
    assert_int_equal(torify_socks_output(&s, &out), 8 + 255 + 1);
}

static void test_socks4_rejects_port_zero_for_connect(void **state)
{
    struct torify_target a = v4_target(127, 0, 0, 1, 0);
    struct torify_target h = host_target("example.com", 0);
    expect_init(TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &a, NULL, NULL, TORIFY_E_INVAL_PORT);
    expect_init(TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &h, NULL, NULL, TORIFY_E_INVAL_PORT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socks4_ipv4_connect_is_byte_exact),
        cmocka_unit_test(test_socks4_user_id_is_sent_nul_terminated),
        cmocka_unit_test(test_socks4a_hostname_connect_matches_seed_layout),
        cmocka_unit_test(test_socks4a_with_ipv4_target_sends_plain_socks4),
        cmocka_unit_test(test_socks4_reply_reports_port_and_address),
        cmocka_unit_test(test_socks4_every_reply_code_maps_to_its_error),
        cmocka_unit_test(test_socks4_reply_version_must_be_zero),
        cmocka_unit_test(test_socks4_never_reads_past_the_reply),
        cmocka_unit_test(test_socks4_server_closing_mid_reply_is_truncated),
        cmocka_unit_test(test_socks4_byte_by_byte_equals_all_at_once),
        cmocka_unit_test(test_socks4_pipeline_flag_changes_nothing),
        cmocka_unit_test(test_socks4_rejects_hostname_target),
        cmocka_unit_test(test_socks4_and_4a_reject_ipv6_target),
        cmocka_unit_test(test_socks4_rejects_address_that_looks_like_4a_marker),
        cmocka_unit_test(test_socks4_resolve_ptr_is_not_available),
        cmocka_unit_test(test_socks4_resolve_needs_socks4a_and_a_hostname),
        cmocka_unit_test(test_socks4_rejects_password_and_overlong_user),
        cmocka_unit_test(test_socks4_rejects_port_zero_for_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
