/*
 * libFuzzer target over every parser of libtorify-socks.
 *
 * Input layout:
 *   byte 0  bits 0-1 protocol (SOCKS4, SOCKS4a, SOCKS5, SOCKS5)
 *           bits 2-3 command (CONNECT, RESOLVE, RESOLVE_PTR, CONNECT)
 *           bit  4   TORIFY_SOCKS_PIPELINE
 *           bit  5   credentials
 *           bits 6-7 target kind (hostname, IPv4, IPv6, hostname)
 *   byte 1  seed for the chunk sizes
 *   rest    the server's bytes
 *
 * The codec runs twice on the same server bytes: once with random write
 * and read chunk sizes, once all at once.  Both runs must agree, must never
 * take more bytes than offered or than the reply holds, and must end DONE
 * or FAILED.  The same bytes also go through torify_sockaddr_parse,
 * torify_target_host and torify_target_format.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <torify/socks.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) \
    do { \
        if (!(c)) \
            __builtin_trap(); \
    } while (0)

struct outcome {
    enum torify_socks_want end;
    torify_err err;
    size_t consumed;
    size_t sent;
    struct torify_target result;
};

static uint32_t next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static void drive(struct torify_socks *s, const uint8_t *srv, size_t n, uint32_t seed, int chunked,
                  struct outcome *o)
{
    memset(o, 0, sizeof *o);
    for (int guard = 0; guard < 10000; guard++) {
        enum torify_socks_want w = torify_socks_want(s);
        if (w == TORIFY_SOCKS_WANT_WRITE) {
            const uint8_t *out;
            size_t len = torify_socks_output(s, &out);
            CHECK(len > 0 && len <= sizeof s->out && out != NULL);
            size_t k = chunked ? 1 + next(&seed) % len : len;
            CHECK(torify_socks_sent(s, k) == TORIFY_OK);
            o->sent += k;
        } else if (w == TORIFY_SOCKS_WANT_READ) {
            size_t need = torify_socks_need(s);
            CHECK(need > 0 && need <= sizeof s->in);
            if (o->consumed == n) {
                CHECK(torify_socks_eof(s) == TORIFY_E_PROTO_TRUNCATED);
                continue;
            }
            size_t left = n - o->consumed;
            size_t k = chunked ? 1 + next(&seed) % (need + 3) : left;
            if (k > left)
                k = left;
            size_t used = (size_t)-1;
            torify_err e = torify_socks_feed(s, srv + o->consumed, k, &used);
            CHECK(used <= k);
            o->consumed += used;
            if (e == TORIFY_OK && torify_socks_want(s) == TORIFY_SOCKS_WANT_READ)
                CHECK(used == k);
            if (e != TORIFY_OK)
                CHECK(torify_socks_want(s) == TORIFY_SOCKS_FAILED && torify_socks_error(s) == e);
        } else {
            break;
        }
    }
    o->end = torify_socks_want(s);
    CHECK(o->end == TORIFY_SOCKS_DONE || o->end == TORIFY_SOCKS_FAILED);
    o->err = torify_socks_error(s);
    CHECK((o->end == TORIFY_SOCKS_DONE) == (o->err == TORIFY_OK));
    if (o->end == TORIFY_SOCKS_DONE) {
        const struct torify_target *r = torify_socks_result(s);
        CHECK(r != NULL);
        o->result = *r;
        if (r->kind == TORIFY_TARGET_HOST)
            CHECK(strlen(r->host) == r->host_len);
        char buf[300];
        torify_target_format(r, buf, sizeof buf);
        CHECK(strlen(buf) < sizeof buf);
        /* Nothing more may be fed once done. */
        size_t used = 1;
        CHECK(torify_socks_feed(s, (const uint8_t *)"x", 1, &used) == TORIFY_E_INVAL_STATE && used == 0);
    }
    CHECK(strlen(torify_strerror(o->err)) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum torify_socks_proto protos[4] = { TORIFY_SOCKS4, TORIFY_SOCKS4A, TORIFY_SOCKS5,
                                                       TORIFY_SOCKS5 };
    static const enum torify_socks_cmd cmds[4] = { TORIFY_SOCKS_CONNECT, TORIFY_SOCKS_RESOLVE,
                                                   TORIFY_SOCKS_RESOLVE_PTR, TORIFY_SOCKS_CONNECT };
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    static const uint8_t v4[4] = { 127, 0, 0, 1 };
    struct torify_socks a, b;
    struct torify_target t;
    struct outcome oa, ob;

    if (size < 2)
        return 0;
    uint8_t ctl = data[0];
    uint32_t seed = data[1];
    const uint8_t *srv = data + 2;
    size_t n = size - 2;

    switch (ctl >> 6) {
    case 1:
        torify_target_ipv4(&t, v4, 80);
        break;
    case 2:
        torify_target_ipv6(&t, v6, 80);
        break;
    default:
        CHECK(torify_target_host(&t, "example.com", 11, 80) == TORIFY_OK);
        break;
    }
    enum torify_socks_proto proto = protos[ctl & 3];
    const char *user = (ctl & 0x20) ? "user" : NULL;
    const char *pass = (ctl & 0x20) && proto == TORIFY_SOCKS5 ? "pass" : NULL;
    unsigned flags = (ctl & 0x10) ? TORIFY_SOCKS_PIPELINE : 0;

    torify_err ia = torify_socks_init(&a, proto, cmds[(ctl >> 2) & 3], &t, user, pass, flags);
    torify_err ib = torify_socks_init(&b, proto, cmds[(ctl >> 2) & 3], &t, user, pass, flags);
    CHECK(ia == ib);
    if (ia == TORIFY_OK) {
        drive(&a, srv, n, seed, 1, &oa);
        drive(&b, srv, n, seed, 0, &ob);
        CHECK(oa.end == ob.end && oa.err == ob.err && oa.sent == ob.sent);
        /* A failing run may stop at different points; a finished one may not. */
        if (oa.end == TORIFY_SOCKS_DONE) {
            CHECK(oa.consumed == ob.consumed);
            CHECK(memcmp(&oa.result, &ob.result, sizeof oa.result) == 0);
        }
    } else {
        CHECK(torify_socks_want(&a) == TORIFY_SOCKS_FAILED);
    }

    /* The other parsers, on the same bytes. */
    char text[300];
    size_t tl = n < sizeof text - 1 ? n : sizeof text - 1;
    memcpy(text, srv, tl);
    text[tl] = '\0';
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (torify_sockaddr_parse(text, &ss, &sl) == TORIFY_OK)
        CHECK(sl > 0 && sl <= sizeof ss);
    torify_err he = torify_target_host(&t, (const char *)srv, n, 1);
    if (he == TORIFY_OK) {
        CHECK(n >= 1 && n <= 255 && t.host_len == n && memchr(srv, 0, n) == NULL);
        char buf[64];
        torify_target_format(&t, buf, sizeof buf);
    } else {
        CHECK(n == 0 || n > 255 || memchr(srv, 0, n) != NULL);
    }
    return 0;
}
