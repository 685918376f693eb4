/*
 * libFuzzer target: the DNS query parser and the answerer (src/dns/).
 *
 * Input: the whole buffer is one query as a program would send it.  It is
 * answered three times: over UDP into 4096 bytes, over TCP into 65535, and
 * over UDP into a small cap (12 + size % 300) that forces truncation.  The
 * answerer has a 16-slot fake map (so names recycle) and, when the query's
 * ID is odd, resolve / resolve_ptr callbacks whose outcome (address, no
 * such family, no such host, Tor unreachable, an over-long name) is picked
 * by the name's length.  Traps unless:
 *  - no reply is ever longer than its cap, nor past what a UDP reply may be
 *    (max(512, EDNS size)); bytes past the reply stay untouched;
 *  - no reply is sent exactly for inputs under 12 bytes and for responses;
 *  - a reply has the query's ID, QR and RA set, RD copied, opcode copied,
 *    at most one question, which then is byte for byte the one parsed, and
 *    walks as a well-formed message to its last byte (independent reader);
 *  - the rcode is one torify gives, and NOERROR with an answer only for
 *    A / AAAA / PTR of class IN;
 *  - the summary's name is printable and its answers count matches ANCOUNT.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/fakemap.h"
#include "dns/answer.h"
#include "dns/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) \
    do { \
        if (!(c)) \
            __builtin_trap(); \
    } while (0)

static struct torify_fakemap *map;
static uint8_t out[65536 + 64];

static torify_err fake_resolve(void *ctx, const char *name, int family, uint8_t addr[16])
{
    size_t n = strlen(name);
    switch (n % 5) {
    case 0: memset(addr, (int)n, 16); return TORIFY_OK;
    case 1: return TORIFY_E_PROTO_RESOLVE_TYPE;
    case 2: return TORIFY_E_S5_HOST_UNREACH;
    case 3: return TORIFY_E_PROXY_UNREACHABLE;
    default: return TORIFY_E_TIMEOUT;
    }
}

static torify_err fake_resolve_ptr(void *ctx, int family, const uint8_t *addr, char *name, size_t len)
{
    switch (addr[0] % 4) {
    case 0: snprintf(name, len, "host-%u.example", addr[1]); return TORIFY_OK;
    case 1: /* longer than a DNS name may be: must be refused, not sent */
        memset(name, 'a', len - 1);
        name[len - 1] = '\0';
        return TORIFY_OK;
    case 2: return TORIFY_E_S5_GENERAL;
    default: return TORIFY_E_PROXY_UNREACHABLE;
    }
}

/* Walk a reply as a client would: names (pointers only backwards, to a
 * place already inside the message), record bounds, nothing left over. */
static size_t walk_name(const uint8_t *b, size_t n, size_t o)
{
    for (int hops = 0; hops < 300; hops++) {
        CHECK(o < n);
        if ((b[o] & 0xC0) == 0xC0) {
            CHECK(o + 1 < n);
            size_t t = ((size_t)(b[o] & 0x3F) << 8) | b[o + 1];
            CHECK(t < o);
            return o + 2;
        }
        CHECK((b[o] & 0xC0) == 0);
        if (b[o] == 0)
            return o + 1;
        o += 1 + (size_t)b[o];
    }
    CHECK(0);
    return n;
}

static void check_reply(const uint8_t *q, size_t qlen, const struct torify_dns_query *pq,
                        enum torify_dns_parse pr, const uint8_t *r, size_t n, size_t cap, bool udp,
                        const struct torify_dns_summary *what)
{
    CHECK(n <= cap);
    for (size_t i = n; i < cap && i < n + 64; i++)
        CHECK(out[i] == 0xA5);
    if (qlen < 12 || (q[2] & 0x80) || cap < 12) {
        CHECK(n == 0);
        return;
    }
    CHECK(n >= 12);
    if (udp) {
        size_t lim = 512;
        if (pq->edns && pq->edns_udp > lim)
            lim = pq->edns_udp;
        CHECK(n <= lim);
    }
    CHECK(r[0] == q[0] && r[1] == q[1]);
    CHECK(r[2] & 0x80);                         /* QR */
    CHECK((r[2] & 0x78) == (q[2] & 0x78));      /* opcode */
    CHECK((r[2] & 0x01) == (q[2] & 0x01));      /* RD */
    CHECK(r[3] & 0x80);                         /* RA */
    unsigned qd = (unsigned)(r[4] << 8 | r[5]), an = (unsigned)(r[6] << 8 | r[7]);
    unsigned ns = (unsigned)(r[8] << 8 | r[9]), ar = (unsigned)(r[10] << 8 | r[11]);
    CHECK(qd <= 1 && an <= 1 && ns == 0 && ar <= 1);
    size_t o = 12;
    if (qd) {
        CHECK(pq->has_question);
        CHECK(o + pq->qname_wire_len + 4 <= n);
        CHECK(memcmp(r + o, pq->qname_wire, pq->qname_wire_len) == 0);
        o = walk_name(r, n, o);
        CHECK(o == 12 + pq->qname_wire_len);
        o += 4;
    }
    unsigned opt_rcode = 0;
    for (unsigned i = 0; i < an + ar; i++) {
        o = walk_name(r, n, o);
        CHECK(o + 10 <= n);
        unsigned type = (unsigned)(r[o] << 8 | r[o + 1]);
        size_t len = (size_t)(r[o + 8] << 8 | r[o + 9]);
        CHECK(o + 10 + len <= n);
        if (i < an) {
            CHECK(type == 1 || type == 28 || type == 12);
            CHECK(type == pq->qtype && pq->qclass == 1);
            CHECK(type != 1 || len == 4);
            CHECK(type != 28 || len == 16);
            if (type == 12)
                CHECK(walk_name(r, n, o + 10) == o + 10 + len);
        } else {
            CHECK(type == 41 && pq->edns);
            opt_rcode = r[o + 4];
        }
        o += 10 + len;
    }
    CHECK(o == n);
    int rcode = (r[3] & 0xF) | (int)(opt_rcode << 4);
    CHECK(rcode == 0 || rcode == 1 || rcode == 2 || rcode == 3 || rcode == 4 || rcode == 5 || rcode == 16);
    CHECK(an == 0 || rcode == 0);
    if (pr == TORIFY_DNS_PARSE_ERROR)
        CHECK(an == 0 && (r[3] & 0xF) == (pq->rcode & 0xF));
    CHECK((what->rcode & 0xF) == (r[3] & 0xF));
    CHECK(what->answers == (int)an);
    for (const char *p = what->name; *p; p++)
        CHECK(*p > 0x20 && *p < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!map) {
        struct torify_fakemap_opts o;
        memset(&o, 0, sizeof o);
        o.capacity = 16;
        if (torify_fakemap_create(&map, &o) != TORIFY_OK)
            __builtin_trap();
    }
    struct torify_dns_answerer a;
    memset(&a, 0, sizeof a);
    a.map = map;
    a.hostname = "fuzzbox";
    if (size >= 2 && (data[1] & 1)) {
        a.resolve = fake_resolve;
        a.resolve_ptr = fake_resolve_ptr;
    }
    struct torify_dns_query pq;
    enum torify_dns_parse pr = torify_dns_parse_query(data, size, &pq);
    if (pr == TORIFY_DNS_PARSE_OK)
        CHECK(pq.has_question && pq.qname_wire_len >= 1 && pq.qname_wire_len <= 255 &&
              (!pq.qname_text_ok || strlen(pq.qname) == (pq.qname_wire_len == 1 ? 0 : pq.qname_wire_len - 2)));

    const struct { enum torify_dns_transport t; size_t cap; } runs[] = {
        { TORIFY_DNS_UDP, 4096 },
        { TORIFY_DNS_TCP, 65535 },
        { TORIFY_DNS_UDP, 12 + size % 300 },
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        memset(out, 0xA5, runs[i].cap + 64 < sizeof out ? runs[i].cap + 64 : sizeof out);
        struct torify_dns_summary what;
        size_t n = torify_dns_answer(&a, runs[i].t, data, size, out, runs[i].cap, &what);
        check_reply(data, size, &pq, pr, out, n, runs[i].cap, runs[i].t == TORIFY_DNS_UDP, &what);
    }
    return 0;
}
