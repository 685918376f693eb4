/*
 * Shared helpers for the test_socks_*.c cmocka programs: drive a codec
 * against scripted server bytes with chosen write/read chunk sizes, and
 * record what the client sent.
 */
#ifndef TEST_SOCKS_UTIL_H
#define TEST_SOCKS_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <torify/socks.h>

struct run {
    uint8_t sent[2048];
    size_t sent_len;
    size_t consumed;           /* server bytes the codec took */
    enum torify_socks_want end;
    torify_err err;
    struct torify_target result;
};

/* Runs s to DONE or FAILED.  Writes go out at most wchunk bytes at a time,
 * server bytes are offered rchunk at a time (possibly more than need(), to
 * check that the codec never takes bytes past its reply); when the script
 * runs out while the codec still reads, the server "closes". */
static inline void run_codec(struct torify_socks *s, const uint8_t *srv, size_t srv_len, size_t wchunk,
                             size_t rchunk, struct run *r)
{
    memset(r, 0, sizeof *r);
    for (int guard = 0; guard < 100000; guard++) {
        enum torify_socks_want w = torify_socks_want(s);
        if (w == TORIFY_SOCKS_WANT_WRITE) {
            const uint8_t *out = NULL;
            size_t n = torify_socks_output(s, &out);
            assert_true(n > 0);
            assert_non_null(out);
            if (n > wchunk)
                n = wchunk;
            assert_true(r->sent_len + n <= sizeof r->sent);
            memcpy(r->sent + r->sent_len, out, n);
            r->sent_len += n;
            assert_int_equal(torify_socks_sent(s, n), TORIFY_OK);
        } else if (w == TORIFY_SOCKS_WANT_READ) {
            size_t need = torify_socks_need(s);
            assert_true(need > 0);
            if (r->consumed == srv_len) {
                torify_socks_eof(s);
                continue;
            }
            size_t n = srv_len - r->consumed;
            if (n > rchunk)
                n = rchunk;
            size_t used = 99999;
            torify_err e = torify_socks_feed(s, srv + r->consumed, n, &used);
            assert_true(used <= n);
            r->consumed += used;
            if (e == TORIFY_OK && torify_socks_want(s) == TORIFY_SOCKS_WANT_READ)
                assert_int_equal(used, n); /* still reading: must take all it was offered up to need */
        } else {
            break;
        }
    }
    r->end = torify_socks_want(s);
    r->err = torify_socks_error(s);
    if (r->end == TORIFY_SOCKS_DONE) {
        assert_non_null(torify_socks_result(s));
        r->result = *torify_socks_result(s);
    }
}

/* Init + run in one go; init must succeed. */
static inline void run_full(enum torify_socks_proto proto, enum torify_socks_cmd cmd,
                            const struct torify_target *t, const char *user, const char *pass, unsigned flags,
                            const uint8_t *srv, size_t srv_len, size_t wchunk, size_t rchunk, struct run *r)
{
    struct torify_socks s;
    assert_int_equal(torify_socks_init(&s, proto, cmd, t, user, pass, flags), TORIFY_OK);
    run_codec(&s, srv, srv_len, wchunk, rchunk, r);
}

static inline struct torify_target host_target(const char *name, uint16_t port)
{
    struct torify_target t;
    assert_int_equal(torify_target_host(&t, name, strlen(name), port), TORIFY_OK);
    return t;
}

static inline struct torify_target v4_target(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct torify_target t;
    const uint8_t ip[4] = { a, b, c, d };
    assert_int_equal(torify_target_ipv4(&t, ip, port), TORIFY_OK);
    return t;
}

static inline struct torify_target v6_target(const uint8_t ip[16], uint16_t port)
{
    struct torify_target t;
    assert_int_equal(torify_target_ipv6(&t, ip, port), TORIFY_OK);
    return t;
}

/* Compares bytes with a readable failure message. */
#define assert_bytes(got, got_len, want) \
    do { \
        assert_int_equal((got_len), sizeof(want)); \
        assert_memory_equal((got), (want), sizeof(want)); \
    } while (0)

#endif
