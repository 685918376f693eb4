/* The codec's contract with its caller: input validation, misuse, state. */
#include "test_socks_util.h"

static const uint8_t SRV5[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 80 };

static void test_target_host_rejects_empty_long_and_nul_names(void **state)
{
    struct torify_target t;
    char name[300];
    memset(name, 'a', sizeof name);
    assert_int_equal(torify_target_host(&t, "", 0, 80), TORIFY_E_INVAL_HOST_EMPTY);
    assert_int_equal(torify_target_host(&t, name, 256, 80), TORIFY_E_INVAL_HOST_TOO_LONG);
    assert_int_equal(torify_target_host(&t, "ex\0ample.com", 12, 80), TORIFY_E_INVAL_HOST_NUL);
    assert_int_equal(torify_target_host(&t, NULL, 3, 80), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_target_host(NULL, "a", 1, 80), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_target_host(&t, name, 255, 80), TORIFY_OK);
    assert_int_equal(t.host_len, 255);
    assert_int_equal(strlen(t.host), 255);
}

static void test_init_rechecks_hand_filled_targets(void **state)
{
    struct torify_socks s;
    struct torify_target t;
    memset(&t, 0, sizeof t);
    t.port = 80;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_TARGET); /* kind NONE */
    t.kind = TORIFY_TARGET_HOST;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_HOST_EMPTY);
    memcpy(t.host, "a\0b", 3);
    t.host_len = 3;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_HOST_NUL);
    t.kind = (enum torify_target_kind)77;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_TARGET);
}

static void test_connect_to_port_zero_is_rejected(void **state)
{
    struct torify_socks s;
    struct torify_target h = host_target("example.com", 0);
    static const uint8_t v6[16] = { [15] = 1 };
    struct torify_target a = v6_target(v6, 0);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &h, NULL, NULL, 0),
                     TORIFY_E_INVAL_PORT);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &a, NULL, NULL, 0),
                     TORIFY_E_INVAL_PORT);
}

static void test_unknown_protocol_command_flags_or_null_are_rejected(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    assert_int_equal(torify_socks_init(&s, (enum torify_socks_proto)6, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, (enum torify_socks_cmd)0x02, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_ARGUMENT); /* BIND: never */
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, (enum torify_socks_cmd)0x03, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_ARGUMENT); /* UDP ASSOCIATE: never */
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0x80),
                     TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, NULL, NULL, NULL, 0),
                     TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_init(NULL, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0),
                     TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_FAILED);
}

static void test_zeroed_codec_is_failed_not_undefined(void **state)
{
    struct torify_socks s;
    size_t used = 5;
    memset(&s, 0, sizeof s);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_FAILED);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_INVAL_STATE);
    assert_int_equal(torify_socks_need(&s), 0);
    assert_int_equal(torify_socks_feed(&s, SRV5, 2, &used), TORIFY_E_INVAL_STATE);
    assert_int_equal(used, 0);
    assert_null(torify_socks_result(&s));
}

static void test_feed_after_done_is_refused_and_keeps_result(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    size_t used = 7;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    run_codec(&s, SRV5, sizeof SRV5, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(torify_socks_feed(&s, SRV5, 3, &used), TORIFY_E_INVAL_STATE);
    assert_int_equal(used, 0);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_DONE);
    assert_int_equal(torify_socks_result(&s)->addr[0], 1);
    assert_int_equal(torify_socks_eof(&s), TORIFY_OK); /* closing after the reply is fine */
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_DONE);
}

static void test_feed_while_writing_is_refused(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    size_t used = 7;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_feed(&s, SRV5, 2, &used), TORIFY_E_INVAL_STATE);
    assert_int_equal(used, 0);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_WANT_WRITE);
    assert_int_equal(torify_socks_feed(&s, NULL, 0, &used), TORIFY_OK);
}

static void test_sent_more_than_offered_is_refused_without_state_change(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    size_t n = torify_socks_output(&s, &out);
    assert_int_equal(torify_socks_sent(&s, n + 1), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_output(&s, &out), n);
    assert_int_equal(torify_socks_sent(&s, 0), TORIFY_OK);
    assert_int_equal(torify_socks_output(&s, &out), n);
    assert_int_equal(torify_socks_sent(&s, n), TORIFY_OK);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_WANT_READ);
    assert_int_equal(torify_socks_sent(&s, 1), TORIFY_E_INVAL_STATE);
}

static void test_feed_null_buffer_with_length_is_refused(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_sent(&s, torify_socks_output(&s, &out)), TORIFY_OK);
    assert_int_equal(torify_socks_feed(&s, NULL, 2, NULL), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_WANT_READ);
}

static void test_eof_before_reply_is_truncated_even_while_writing(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_eof(&s), TORIFY_E_PROTO_TRUNCATED);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_FAILED);
    assert_null(torify_socks_result(&s));
}

static void test_failed_codec_keeps_reporting_its_first_error(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    static const uint8_t bad[] = { 0x05, 0xff };
    size_t used;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_sent(&s, torify_socks_output(&s, &out)), TORIFY_OK);
    assert_int_equal(torify_socks_feed(&s, bad, sizeof bad, &used), TORIFY_E_AUTH_NO_METHOD);
    assert_int_equal(used, 2);
    assert_int_equal(torify_socks_feed(&s, SRV5, sizeof SRV5, &used), TORIFY_E_AUTH_NO_METHOD);
    assert_int_equal(used, 0);
    assert_int_equal(torify_socks_eof(&s), TORIFY_E_AUTH_NO_METHOD);
    assert_int_equal(torify_socks_error(&s), TORIFY_E_AUTH_NO_METHOD);
    assert_int_equal(torify_socks_need(&s), 0);
    assert_int_equal(torify_socks_output(&s, &out), 0);
}

static void test_result_is_null_until_done(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_null(torify_socks_result(&s));
    assert_int_equal(torify_socks_error(&s), TORIFY_OK);
}

/* Debug logs name the step a handshake is in, and where a failed one broke. */
static void test_state_names_follow_the_exchange_and_a_failure_names_its_step(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    static const uint8_t bad[] = { 0x05, 0xff };
    memset(&s, 0, sizeof s);
    assert_string_equal(torify_socks_state_name(&s), "uninitialised");
    assert_string_equal(torify_socks_state_name(NULL), "none");
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_string_equal(torify_socks_state_name(&s), "socks5-send-greeting");
    assert_int_equal(torify_socks_sent(&s, torify_socks_output(&s, &out)), TORIFY_OK);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-method");
    assert_int_equal(torify_socks_feed(&s, bad, sizeof bad, NULL), TORIFY_E_AUTH_NO_METHOD);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_FAILED);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-method");
    /* A later eof does not move where it failed. */
    assert_int_equal(torify_socks_eof(&s), TORIFY_E_AUTH_NO_METHOD);
    assert_string_equal(torify_socks_state_name(&s), "socks5-read-method");

    struct run r;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    run_codec(&s, SRV5, sizeof SRV5, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_string_equal(torify_socks_state_name(&s), "done");

    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS4A, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_string_equal(torify_socks_state_name(&s), "socks4-send-request");
    assert_int_equal(torify_socks_sent(&s, torify_socks_output(&s, &out)), TORIFY_OK);
    assert_string_equal(torify_socks_state_name(&s), "socks4-read-reply");

    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS4, TORIFY_SOCKS_CONNECT, &t, NULL, "pw", 0),
                     TORIFY_E_INVAL_CREDENTIALS);
    assert_string_equal(torify_socks_state_name(&s), "init");
}

/* Every combination of write and read chunk size gives the same outcome. */
static void test_any_chunking_gives_the_same_outcome(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x03, 5, 'h', 'e', 'l', 'l', 'o',
                                   0x01, 0xbb, 'D', 'A', 'T', 'A' };
    struct torify_target t = host_target("example.com", 443);
    for (unsigned f = 0; f <= TORIFY_SOCKS_PIPELINE; f++) {
        struct run ref, r;
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, "user", "pw", f, srv, sizeof srv, 9999, 9999, &ref);
        assert_int_equal(ref.end, TORIFY_SOCKS_DONE);
        assert_int_equal(ref.consumed, sizeof srv - 4);
        for (size_t w = 1; w <= 8; w++) {
            for (size_t rc = 1; rc <= sizeof srv; rc++) {
                run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, "user", "pw", f, srv, sizeof srv, w, rc, &r);
                assert_int_equal(r.end, TORIFY_SOCKS_DONE);
                assert_int_equal(r.consumed, ref.consumed);
                assert_int_equal(r.sent_len, ref.sent_len);
                assert_memory_equal(r.sent, ref.sent, r.sent_len);
                assert_string_equal(r.result.host, "hello");
                assert_int_equal(r.result.port, 443);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_host_rejects_empty_long_and_nul_names),
        cmocka_unit_test(test_init_rechecks_hand_filled_targets),
        cmocka_unit_test(test_connect_to_port_zero_is_rejected),
        cmocka_unit_test(test_unknown_protocol_command_flags_or_null_are_rejected),
        cmocka_unit_test(test_zeroed_codec_is_failed_not_undefined),
        cmocka_unit_test(test_feed_after_done_is_refused_and_keeps_result),
        cmocka_unit_test(test_feed_while_writing_is_refused),
        cmocka_unit_test(test_sent_more_than_offered_is_refused_without_state_change),
        cmocka_unit_test(test_state_names_follow_the_exchange_and_a_failure_names_its_step),
        cmocka_unit_test(test_feed_null_buffer_with_length_is_refused),
        cmocka_unit_test(test_eof_before_reply_is_truncated_even_while_writing),
        cmocka_unit_test(test_failed_codec_keeps_reporting_its_first_error),
        cmocka_unit_test(test_result_is_null_until_done),
        cmocka_unit_test(test_any_chunking_gives_the_same_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
