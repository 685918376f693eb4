/* SOCKS5 (RFC 1928) and username/password (RFC 1929) through the codec. */
#include "test_socks_util.h"

static const uint8_t V6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 };

/* Server: method 00, then success with BND 10.0.0.2:4321. */
static const uint8_t SRV_NOAUTH_V4[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 10, 0, 0, 2, 0x10, 0xe1 };

static void test_socks5_greeting_without_credentials_offers_only_no_auth(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    static const uint8_t want[] = { 0x05, 0x01, 0x00 };

    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_WANT_WRITE);
    size_t n = torify_socks_output(&s, &out);
    assert_bytes(out, n, want);
    assert_int_equal(torify_socks_need(&s), 0);
}

static void test_socks5_greeting_with_credentials_offers_only_userpass(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    static const uint8_t want[] = { 0x05, 0x01, 0x02 };

    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, "user", "pass", 0), TORIFY_OK);
    size_t n = torify_socks_output(&s, &out);
    assert_bytes(out, n, want);
}

static void test_socks5_hostname_connect_is_byte_exact(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    static const uint8_t want[] = { 0x05, 0x01, 0x00, /* greeting */
                                    0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
                                    0x00, 0x50 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, SRV_NOAUTH_V4, sizeof SRV_NOAUTH_V4, 9999,
             9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

static void test_socks5_ipv4_connect_is_byte_exact(void **state)
{
    struct torify_target t = v4_target(192, 0, 2, 7, 443);
    struct run r;
    static const uint8_t want[] = { 0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 192, 0, 2, 7, 0x01, 0xbb };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, SRV_NOAUTH_V4, sizeof SRV_NOAUTH_V4, 9999,
             9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

static void test_socks5_ipv6_connect_is_byte_exact(void **state)
{
    struct torify_target t = v6_target(V6, 8080);
    struct run r;
    static const uint8_t want[] = { 0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x01, 0x1f, 0x90 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, SRV_NOAUTH_V4, sizeof SRV_NOAUTH_V4, 9999,
             9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
}

static void test_socks5_userpass_subnegotiation_is_byte_exact_rfc1929(void **state)
{
    struct torify_target t = v4_target(192, 0, 2, 7, 443);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    static const uint8_t want[] = { 0x05, 0x01, 0x02,                                      /* greeting */
                                    0x01, 5,    'a',  'l', 'i', 'c', 'e', 3, 's', 'e', 'c', /* RFC 1929 */
                                    0x05, 0x01, 0x00, 0x01, 192, 0, 2, 7, 0x01, 0xbb };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, "alice", "sec", 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.err, TORIFY_OK);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_bytes(r.sent, r.sent_len, want);
    assert_int_equal(r.consumed, sizeof srv);
}

static void test_socks5_max_length_credentials_are_accepted(void **state)
{
    char u[256], p[256];
    struct torify_socks s;
    struct torify_target t = host_target("a", 1);
    memset(u, 'u', 255);
    u[255] = 0;
    memset(p, 'p', 255);
    p[255] = 0;
    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, u, p, TORIFY_SOCKS_PIPELINE),
                     TORIFY_OK);
    const uint8_t *out;
    /* 3 greeting + 1+1+255+1+255 auth + 4+1+1+2 request */
    assert_int_equal(torify_socks_output(&s, &out), 3 + 513 + 8);
    assert_int_equal(out[4], 255);
    assert_int_equal(out[5 + 255], 255);
}

static void test_socks5_reply_ipv4_bound_address_is_reported(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, SRV_NOAUTH_V4, sizeof SRV_NOAUTH_V4, 9999,
             9999, &r);
    assert_int_equal(r.result.kind, TORIFY_TARGET_IPV4);
    static const uint8_t ip[4] = { 10, 0, 0, 2 };
    assert_memory_equal(r.result.addr, ip, 4);
    assert_int_equal(r.result.port, 4321);
}

static void test_socks5_reply_ipv6_bound_address_is_reported(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    uint8_t srv[2 + 22] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x04 };
    memcpy(srv + 6, V6, 16);
    srv[22] = 0x00;
    srv[23] = 0x35;
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r.result.kind, TORIFY_TARGET_IPV6);
    assert_memory_equal(r.result.addr, V6, 16);
    assert_int_equal(r.result.port, 53);
    assert_int_equal(r.consumed, sizeof srv);
}

static void test_socks5_reply_hostname_bound_address_is_reported(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 4, 'b', 'n', 'd', 'x', 0x00, 0x07 };
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r.result.kind, TORIFY_TARGET_HOST);
    assert_string_equal(r.result.host, "bndx");
    assert_int_equal(r.result.host_len, 4);
    assert_int_equal(r.result.port, 7);
}

static void test_socks5_reply_with_255_byte_hostname_is_read_whole(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    uint8_t srv[2 + 4 + 1 + 255 + 2 + 3];
    memcpy(srv, "\x05\x00\x05\x00\x00\x03\xff", 7);
    memset(srv + 7, 'n', 255);
    srv[262] = 0x12;
    srv[263] = 0x34;
    memcpy(srv + 264, "APP", 3);
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_DONE);
    assert_int_equal(r.result.host_len, 255);
    assert_int_equal(strlen(r.result.host), 255);
    assert_int_equal(r.result.port, 0x1234);
    assert_int_equal(r.consumed, sizeof srv - 3);
}

/* Every REP value maps to its own error. */
static void test_socks5_every_reply_code_maps_to_its_error(void **state)
{
    static const struct {
        uint8_t rep;
        torify_err err;
    } map[] = {
        { 0x01, TORIFY_E_S5_GENERAL },          { 0x02, TORIFY_E_S5_NOT_ALLOWED },
        { 0x03, TORIFY_E_S5_NET_UNREACH },      { 0x04, TORIFY_E_S5_HOST_UNREACH },
        { 0x05, TORIFY_E_S5_CONN_REFUSED },     { 0x06, TORIFY_E_S5_TTL_EXPIRED },
        { 0x07, TORIFY_E_S5_CMD_UNSUPPORTED },  { 0x08, TORIFY_E_S5_ATYP_UNSUPPORTED },
        { 0x09, TORIFY_E_S5_UNKNOWN_REPLY },    { 0x7f, TORIFY_E_S5_UNKNOWN_REPLY },
        { 0xef, TORIFY_E_S5_UNKNOWN_REPLY },    { 0xf0, TORIFY_E_TOR_HS_DESC_NOT_FOUND },
        { 0xf1, TORIFY_E_TOR_HS_DESC_INVALID }, { 0xf2, TORIFY_E_TOR_HS_INTRO_FAILED },
        { 0xf3, TORIFY_E_TOR_HS_REND_FAILED },  { 0xf4, TORIFY_E_TOR_HS_MISSING_AUTH },
        { 0xf5, TORIFY_E_TOR_HS_WRONG_AUTH },   { 0xf6, TORIFY_E_TOR_HS_BAD_ADDRESS },
        { 0xf7, TORIFY_E_TOR_HS_INTRO_TIMEOUT }, { 0xf8, TORIFY_E_S5_UNKNOWN_REPLY },
        { 0xff, TORIFY_E_S5_UNKNOWN_REPLY },
    };
    struct torify_target t = host_target("abcdefghijklmnop.onion", 80);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        uint8_t srv[] = { 0x05, 0x00, 0x05, map[i].rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
        struct run r;
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0, srv, sizeof srv, 9999, 9999, &r);
        assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
        assert_int_equal(r.err, map[i].err);
    }
}

static void expect_fail(const uint8_t *srv, size_t n, const char *user, const char *pass, unsigned flags,
                        torify_err want)
{
    struct torify_target t = host_target("example.com", 80);
    struct run r;
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, user, pass, flags, srv, n, 9999, 9999, &r);
    assert_int_equal(r.end, TORIFY_SOCKS_FAILED);
    assert_int_equal(r.err, want);
}

static void test_socks5_wrong_version_in_method_reply_fails(void **state)
{
    static const uint8_t srv[] = { 0x04, 0x00 };
    expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_PROTO_VERSION);
}

static void test_socks5_wrong_version_in_connect_reply_fails(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x00, 0x04, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_PROTO_VERSION);
}

static void test_socks5_wrong_version_in_auth_status_fails(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02, 0x05, 0x00 };
    expect_fail(srv, sizeof srv, "u", "p", 0, TORIFY_E_PROTO_VERSION);
}

static void test_socks5_no_acceptable_method_fails(void **state)
{
    static const uint8_t srv[] = { 0x05, 0xff };
    expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_AUTH_NO_METHOD);
}

static void test_socks5_server_choosing_userpass_when_not_offered_fails(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02 };
    expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_AUTH_BAD_METHOD);
}

static void test_socks5_server_choosing_no_auth_when_credentials_offered_fails(void **state)
{
    /* Accepting would silently lose Tor's stream isolation by credentials. */
    static const uint8_t srv[] = { 0x05, 0x00 };
    expect_fail(srv, sizeof srv, "u", "p", 0, TORIFY_E_AUTH_BAD_METHOD);
    expect_fail(srv, sizeof srv, "u", "p", TORIFY_SOCKS_PIPELINE, TORIFY_E_AUTH_BAD_METHOD);
}

static void test_socks5_rejected_credentials_fail(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x01 };
    expect_fail(srv, sizeof srv, "u", "p", 0, TORIFY_E_AUTH_REJECTED);
    expect_fail(srv, sizeof srv, "u", "p", TORIFY_SOCKS_PIPELINE, TORIFY_E_AUTH_REJECTED);
}

static void test_socks5_nonzero_reserved_byte_fails(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0 };
    expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_PROTO_MALFORMED);
}

static void test_socks5_unknown_bound_address_type_fails(void **state)
{
    for (unsigned atyp = 0; atyp < 256; atyp++) {
        if (atyp == 1 || atyp == 3 || atyp == 4)
            continue;
        uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, (uint8_t)atyp, 0, 0, 0, 0, 0, 0 };
        expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_PROTO_ATYP);
    }
}

static void test_socks5_nul_inside_bound_hostname_fails(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 3, 'a', 0, 'b', 0, 80 };
    expect_fail(srv, sizeof srv, NULL, NULL, 0, TORIFY_E_PROTO_MALFORMED);
}

static void test_socks5_server_closing_at_any_point_is_truncated(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x03, 3, 'a', 'b', 'c', 0, 80 };
    for (size_t cut = 0; cut < sizeof srv; cut++) {
        for (unsigned f = 0; f <= TORIFY_SOCKS_PIPELINE; f++) {
            expect_fail(srv, cut, "u", "p", f, TORIFY_E_PROTO_TRUNCATED);
        }
    }
}

/* need() must never exceed what is left of the reply, at every step. */
static void test_socks5_never_reads_past_the_reply(void **state)
{
    static const uint8_t app[] = "HTTP/1.0 200 OK\r\n";
    const uint8_t *replies[3];
    size_t lens[3];
    static const uint8_t r1[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 80 };
    static const uint8_t r3[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 2, 'h', 'i', 0, 80 };
    uint8_t r4[2 + 22] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x04 };
    replies[0] = r1, lens[0] = sizeof r1;
    replies[1] = r3, lens[1] = sizeof r3;
    replies[2] = r4, lens[2] = sizeof r4;
    for (int i = 0; i < 3; i++) {
        uint8_t srv[64];
        memcpy(srv, replies[i], lens[i]);
        memcpy(srv + lens[i], app, sizeof app);
        for (unsigned f = 0; f <= TORIFY_SOCKS_PIPELINE; f++) {
            /* Offered everything at once: only the reply is taken. */
            struct torify_target t = host_target("example.com", 80);
            struct run r;
            run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, f, srv, lens[i] + sizeof app, 9999,
                     9999, &r);
            assert_int_equal(r.end, TORIFY_SOCKS_DONE);
            assert_int_equal(r.consumed, lens[i]);

            /* Reading exactly need() each time also stops at the reply. */
            struct torify_socks s;
            size_t pos = 0;
            assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, f),
                             TORIFY_OK);
            while (torify_socks_want(&s) != TORIFY_SOCKS_DONE) {
                const uint8_t *out;
                size_t n = torify_socks_output(&s, &out);
                if (n > 0) {
                    assert_int_equal(torify_socks_sent(&s, n), TORIFY_OK);
                    continue;
                }
                size_t need = torify_socks_need(&s);
                assert_true(need > 0);
                assert_true(pos + need <= lens[i]);
                size_t used;
                assert_int_equal(torify_socks_feed(&s, srv + pos, need, &used), TORIFY_OK);
                assert_int_equal(used, need);
                pos += need;
            }
            assert_int_equal(pos, lens[i]);
        }
    }
}

static void test_socks5_byte_by_byte_equals_all_at_once(void **state)
{
    static const uint8_t srv[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x03, 3, 'a', 'b', 'c', 0, 80 };
    struct torify_target t = host_target("example.com", 80);
    for (unsigned f = 0; f <= TORIFY_SOCKS_PIPELINE; f++) {
        struct run once, bytes;
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, "u", "p", f, srv, sizeof srv, 9999, 9999, &once);
        assert_int_equal(once.end, TORIFY_SOCKS_DONE);
        for (size_t chunk = 1; chunk < sizeof srv; chunk++) {
            run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, "u", "p", f, srv, sizeof srv, chunk, chunk, &bytes);
            assert_int_equal(bytes.end, TORIFY_SOCKS_DONE);
            assert_int_equal(bytes.sent_len, once.sent_len);
            assert_memory_equal(bytes.sent, once.sent, once.sent_len);
            assert_int_equal(bytes.consumed, once.consumed);
            assert_memory_equal(&bytes.result, &once.result, sizeof once.result);
        }
    }
}

static void test_socks5_pipelined_output_is_concatenation_of_steps(void **state)
{
    static const uint8_t srv_auth[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    static const uint8_t srv_none[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    struct torify_target t = host_target("check.torproject.org", 443);
    for (int auth = 0; auth < 2; auth++) {
        const char *u = auth ? "iso-1" : NULL, *p = auth ? "x" : NULL;
        const uint8_t *srv = auth ? srv_auth : srv_none;
        size_t sl = auth ? sizeof srv_auth : sizeof srv_none;
        struct run steps, piped;
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, u, p, 0, srv, sl, 9999, 9999, &steps);
        assert_int_equal(steps.end, TORIFY_SOCKS_DONE);

        /* Pipelined: everything is offered before a single byte is read. */
        struct torify_socks s;
        const uint8_t *out;
        assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, u, p, TORIFY_SOCKS_PIPELINE),
                         TORIFY_OK);
        size_t n = torify_socks_output(&s, &out);
        assert_int_equal(n, steps.sent_len);
        assert_memory_equal(out, steps.sent, n);

        /* and the whole server answer is taken in one feed. */
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, u, p, TORIFY_SOCKS_PIPELINE, srv, sl, 9999, 9999, &piped);
        assert_int_equal(piped.end, TORIFY_SOCKS_DONE);
        assert_int_equal(piped.consumed, sl);
        assert_memory_equal(&piped.result, &steps.result, sizeof steps.result);
    }
}

static void test_socks5_without_pipelining_waits_for_method_before_request(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    const uint8_t *out;
    static const uint8_t srv[] = { 0x05, 0x00, 0x05 }; /* method + first byte of the reply, early */
    size_t used;

    assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, 0), TORIFY_OK);
    assert_int_equal(torify_socks_sent(&s, torify_socks_output(&s, &out)), TORIFY_OK);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_WANT_READ);
    assert_int_equal(torify_socks_need(&s), 2);
    /* Bytes beyond the method reply are not taken while the request is unsent. */
    assert_int_equal(torify_socks_feed(&s, srv, sizeof srv, &used), TORIFY_OK);
    assert_int_equal(used, 2);
    assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_WANT_WRITE);
    assert_int_equal(torify_socks_output(&s, &out), 4 + 1 + 11 + 2);
    assert_int_equal(out[0], 0x05);
    assert_int_equal(out[1], 0x01);
}

static void test_socks5_bad_credentials_are_rejected_before_sending(void **state)
{
    struct torify_socks s;
    struct torify_target t = host_target("example.com", 80);
    char long_name[257];
    memset(long_name, 'x', 256);
    long_name[256] = 0;
    struct {
        const char *u, *p;
    } bad[] = { { "u", NULL }, { NULL, "p" }, { "", "p" }, { "u", "" }, { long_name, "p" }, { "u", long_name } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(torify_socks_init(&s, TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, bad[i].u, bad[i].p, 0),
                         TORIFY_E_INVAL_CREDENTIALS);
        assert_int_equal(torify_socks_want(&s), TORIFY_SOCKS_FAILED);
        assert_int_equal(torify_socks_error(&s), TORIFY_E_INVAL_CREDENTIALS);
        const uint8_t *out;
        assert_int_equal(torify_socks_output(&s, &out), 0);
    }
}

static void test_socks5_partial_writes_resume_where_they_stopped(void **state)
{
    struct torify_target t = host_target("example.com", 80);
    for (size_t w = 1; w <= 7; w++) {
        struct run r;
        static const uint8_t want[] = { 0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p',
                                        'l',  'e',  '.',  'c',  'o',  'm',  0x00, 0x50 };
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT, &t, NULL, NULL, TORIFY_SOCKS_PIPELINE, SRV_NOAUTH_V4,
                 sizeof SRV_NOAUTH_V4, w, 9999, &r);
        assert_int_equal(r.end, TORIFY_SOCKS_DONE);
        assert_bytes(r.sent, r.sent_len, want);
    }
}

/* Tor 0.4.9 answers greeting+auth+request sent together with only
 * "01 00" + the reply: its method selection is overwritten before it is
 * flushed.  Bytes as captured from tor 0.4.9.11 on 127.0.0.1. */
static void test_socks5_pipelined_auth_accepts_tor_skipping_method_selection(void **state)
{
    static const uint8_t tor[] = { 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0x0a, 0x01, 0x02, 0x03, 0x00, 0x00 };
    struct torify_target t = host_target("10.1.2.3", 0);
    for (size_t chunk = 1; chunk <= sizeof tor; chunk++) {
        struct run r;
        run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, "u", "p", TORIFY_SOCKS_PIPELINE, tor, sizeof tor, 9999,
                 chunk, &r);
        assert_int_equal(r.err, TORIFY_OK);
        assert_int_equal(r.end, TORIFY_SOCKS_DONE);
        assert_int_equal(r.consumed, sizeof tor);
        assert_int_equal(r.result.addr[3], 3);
    }
    /* ...and a rejection in that position is still a rejection. */
    static const uint8_t no[] = { 0x01, 0x01 };
    struct run r;
    run_full(TORIFY_SOCKS5, TORIFY_SOCKS_RESOLVE, &t, "u", "p", TORIFY_SOCKS_PIPELINE, no, sizeof no, 9999, 9999, &r);
    assert_int_equal(r.err, TORIFY_E_AUTH_REJECTED);
}

static void test_socks5_skipped_method_selection_is_only_accepted_when_pipelined_with_auth(void **state)
{
    static const uint8_t srv[] = { 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    expect_fail(srv, sizeof srv, "u", "p", 0, TORIFY_E_PROTO_VERSION);
    expect_fail(srv, sizeof srv, NULL, NULL, TORIFY_SOCKS_PIPELINE, TORIFY_E_PROTO_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socks5_greeting_without_credentials_offers_only_no_auth),
        cmocka_unit_test(test_socks5_greeting_with_credentials_offers_only_userpass),
        cmocka_unit_test(test_socks5_hostname_connect_is_byte_exact),
        cmocka_unit_test(test_socks5_ipv4_connect_is_byte_exact),
        cmocka_unit_test(test_socks5_ipv6_connect_is_byte_exact),
        cmocka_unit_test(test_socks5_userpass_subnegotiation_is_byte_exact_rfc1929),
        cmocka_unit_test(test_socks5_max_length_credentials_are_accepted),
        cmocka_unit_test(test_socks5_reply_ipv4_bound_address_is_reported),
        cmocka_unit_test(test_socks5_reply_ipv6_bound_address_is_reported),
        cmocka_unit_test(test_socks5_reply_hostname_bound_address_is_reported),
        cmocka_unit_test(test_socks5_reply_with_255_byte_hostname_is_read_whole),
        cmocka_unit_test(test_socks5_every_reply_code_maps_to_its_error),
        cmocka_unit_test(test_socks5_wrong_version_in_method_reply_fails),
        cmocka_unit_test(test_socks5_wrong_version_in_connect_reply_fails),
        cmocka_unit_test(test_socks5_wrong_version_in_auth_status_fails),
        cmocka_unit_test(test_socks5_no_acceptable_method_fails),
        cmocka_unit_test(test_socks5_server_choosing_userpass_when_not_offered_fails),
        cmocka_unit_test(test_socks5_server_choosing_no_auth_when_credentials_offered_fails),
        cmocka_unit_test(test_socks5_rejected_credentials_fail),
        cmocka_unit_test(test_socks5_nonzero_reserved_byte_fails),
        cmocka_unit_test(test_socks5_unknown_bound_address_type_fails),
        cmocka_unit_test(test_socks5_nul_inside_bound_hostname_fails),
        cmocka_unit_test(test_socks5_server_closing_at_any_point_is_truncated),
        cmocka_unit_test(test_socks5_never_reads_past_the_reply),
        cmocka_unit_test(test_socks5_byte_by_byte_equals_all_at_once),
        cmocka_unit_test(test_socks5_pipelined_output_is_concatenation_of_steps),
        cmocka_unit_test(test_socks5_without_pipelining_waits_for_method_before_request),
        cmocka_unit_test(test_socks5_bad_credentials_are_rejected_before_sending),
        cmocka_unit_test(test_socks5_partial_writes_resume_where_they_stopped),
        cmocka_unit_test(test_socks5_pipelined_auth_accepts_tor_skipping_method_selection),
        cmocka_unit_test(test_socks5_skipped_method_selection_is_only_accepted_when_pipelined_with_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
