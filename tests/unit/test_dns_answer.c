/* dns/answer: the answers torify gives a program's own DNS queries, the
 * same as the shim's for the same name, read back as a client reads them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/fakemap.h"
#include "dns/answer.h"
#include "dns/msg.h"
#include "dns/reverse.h"

/* ---- a client's view of a reply (written here, not by msg.c) ---------- */

struct reply {
    unsigned id, flags, qd, an, ns, ar;
    int rcode;                 /* with the OPT's upper bits */
    unsigned type;             /* first answer */
    unsigned ttl;
    uint8_t rdata[256];
    unsigned rdlen;
    char ptr[256];             /* a PTR answer's name, dotted */
    bool opt;
};

static size_t skip_name(const uint8_t *b, size_t n, size_t o)
{
    while (o < n) {
        if ((b[o] & 0xC0) == 0xC0)
            return o + 2;
        if (b[o] == 0)
            return o + 1;
        o += 1 + b[o];
    }
    fail_msg("name runs past the reply");
    return n;
}

static void read_reply(const uint8_t *b, size_t n, struct reply *r)
{
    memset(r, 0, sizeof *r);
    assert_true(n >= 12);
    r->id = b[0] << 8 | b[1];
    r->flags = b[2] << 8 | b[3];
    r->qd = b[4] << 8 | b[5];
    r->an = b[6] << 8 | b[7];
    r->ns = b[8] << 8 | b[9];
    r->ar = b[10] << 8 | b[11];
    r->rcode = r->flags & 0xF;
    size_t o = 12;
    for (unsigned i = 0; i < r->qd; i++)
        o = skip_name(b, n, o) + 4;
    for (unsigned i = 0; i < r->an + r->ns + r->ar; i++) {
        size_t rr = skip_name(b, n, o);
        assert_true(rr + 10 <= n);
        unsigned type = b[rr] << 8 | b[rr + 1];
        unsigned len = b[rr + 8] << 8 | b[rr + 9];
        assert_true(rr + 10 + len <= n);
        if (i == 0 && r->an) {
            assert_int_equal(b[o], 0xC0); /* owner: the question */
            assert_int_equal(b[o + 1], 12);
            r->type = type;
            r->ttl = (unsigned)b[rr + 4] << 24 | b[rr + 5] << 16 | b[rr + 6] << 8 | b[rr + 7];
            r->rdlen = len;
            memcpy(r->rdata, b + rr + 10, len < sizeof r->rdata ? len : sizeof r->rdata);
            if (type == 12) {
                size_t p = 0, t = 0;
                while (p < len && r->rdata[p]) {
                    if (t)
                        r->ptr[t++] = '.';
                    memcpy(r->ptr + t, r->rdata + p + 1, r->rdata[p]);
                    t += r->rdata[p];
                    p += 1 + r->rdata[p];
                }
                r->ptr[t] = '\0';
            }
        }
        if (type == 41) {
            r->opt = true;
            r->rcode |= b[rr + 4] << 4;
        }
        o = rr + 10 + len;
    }
    assert_int_equal(o, n); /* nothing after the last record */
}

/* ---- fixtures ---------------------------------------------------------- */

static struct torify_fakemap *map_of(uint32_t cap)
{
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.capacity = cap;
    struct torify_fakemap *m = NULL;
    assert_int_equal(torify_fakemap_create(&m, &o), TORIFY_OK);
    return m;
}

static struct torify_dns_answerer answerer(struct torify_fakemap *m)
{
    struct torify_dns_answerer a;
    memset(&a, 0, sizeof a);
    a.map = m;
    a.hostname = "mybox";
    return a;
}

/* Ask name/type (class IN) and read the reply. */
static size_t ask_class(const struct torify_dns_answerer *a, const char *name, int cls, int type, struct reply *r,
                        struct torify_dns_summary *what)
{
    uint8_t q[512], out[1024];
    size_t qn = torify_dns_build_query(0x4242, name, cls, type, q, sizeof q);
    assert_true(qn > 0);
    size_t n = torify_dns_answer(a, TORIFY_DNS_UDP, q, qn, out, sizeof out, what);
    assert_true(n >= 12);
    read_reply(out, n, r);
    assert_int_equal(r->id, 0x4242);
    assert_int_equal(r->qd, 1);
    assert_memory_equal(out + 12, q + 12, qn - 12); /* the question as asked */
    return n;
}

static size_t ask(const struct torify_dns_answerer *a, const char *name, int type, struct reply *r)
{
    return ask_class(a, name, 1, type, r, NULL);
}

static void assert_addr(const struct reply *r, int family, const char *text)
{
    uint8_t want[16];
    assert_int_equal(inet_pton(family, text, want), 1);
    assert_int_equal(r->rcode, TORIFY_DNS_NOERROR);
    assert_int_equal(r->an, 1);
    assert_int_equal(r->type, family == AF_INET ? 1 : 28);
    assert_int_equal(r->rdlen, family == AF_INET ? 4 : 16);
    assert_memory_equal(r->rdata, want, r->rdlen);
}

static void assert_no_data(const struct reply *r)
{
    assert_int_equal(r->rcode, TORIFY_DNS_NOERROR);
    assert_int_equal(r->an, 0);
}

/* ---- tests ------------------------------------------------------------- */

static void test_a_and_aaaa_of_a_host_name_are_its_fake_addresses_from_the_map(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "web.test", 1, &r);
    uint32_t slot;
    assert_int_equal(torify_fakemap_assign(m, "web.test", 8, &slot), TORIFY_OK);
    uint8_t a4[4], a6[16];
    torify_fakemap_addr4(m, slot, a4);
    torify_fakemap_addr6(m, slot, a6);
    assert_int_equal(r.an, 1);
    assert_memory_equal(r.rdata, a4, 4);
    assert_int_equal(r.flags & 0x8480, 0x8480); /* QR AA RA */
    assert_int_equal(r.flags & 0x0100, 0x0100); /* RD echoed */
    assert_int_equal(r.ttl, TORIFY_DNS_TTL_DEFAULT);
    ask(&a, "web.test", 28, &r);
    assert_int_equal(r.type, 28);
    assert_memory_equal(r.rdata, a6, 16);
    char name[256];
    assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, a4, name, sizeof name, NULL), TORIFY_OK);
    assert_string_equal(name, "web.test");
    torify_fakemap_destroy(m);
}

static void test_a_name_in_another_case_gets_the_same_address_and_its_own_question_back(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    a.ttl = 7;
    struct reply r1, r2;
    ask(&a, "Web.TEST", 1, &r1); /* ask() checks the question bytes, case included */
    ask(&a, "web.test.", 1, &r2);
    assert_memory_equal(r1.rdata, r2.rdata, 4);
    assert_int_equal(r1.ttl, 7);
    assert_int_equal(torify_fakemap_count(m), 1);
    torify_fakemap_destroy(m);
}

static int resolve_calls;
static torify_err resolve_fixed(void *ctx, const char *name, int family, uint8_t addr[16])
{
    resolve_calls++;
    torify_err e = *(torify_err *)ctx;
    if (e == TORIFY_OK) {
        const char *text = family == AF_INET ? "93.184.216.34" : "2606:2800:220:1::1";
        assert_int_equal(inet_pton(family, text, addr), 1);
    }
    return e;
}

static void test_onion_names_are_fake_even_with_real_answers_asked_for(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    torify_err ok = TORIFY_OK;
    a.resolve = resolve_fixed;
    a.ctx = &ok;
    resolve_calls = 0;
    struct reply r;
    ask(&a, "abcdefghijklmnopabcdefghijklmnopabcdefghijklmnopabcdefgh.onion", 1, &r);
    assert_int_equal(r.an, 1);
    assert_true(torify_fakemap_in_range(m, AF_INET, r.rdata));
    assert_int_equal(resolve_calls, 0);
    torify_fakemap_destroy(m);
}

static void test_localhost_names_and_the_machines_own_name_are_loopback(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    const char *names[] = { "localhost", "LOCALHOST.", "api.localhost", "localhost.localdomain", "ip6-localhost",
                            "mybox", "MyBox." };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ask(&a, names[i], 1, &r);
        assert_addr(&r, AF_INET, "127.0.0.1");
        ask(&a, names[i], 28, &r);
        assert_addr(&r, AF_INET6, "::1");
        ask(&a, names[i], 15, &r);
        assert_no_data(&r);
    }
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_the_hostname_defaults_to_what_gethostname_says(void **state)
{
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    a.hostname = NULL;
    struct reply r;
    ask(&a, host, 1, &r);
    assert_addr(&r, AF_INET, "127.0.0.1");
    torify_fakemap_destroy(m);
}

static void test_address_literals_answer_themselves_in_their_own_family_only(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "10.1.2.3", 1, &r);
    assert_addr(&r, AF_INET, "10.1.2.3");
    ask(&a, "10.1.2.3", 28, &r);
    assert_no_data(&r);
    ask(&a, "2001:db8::1", 28, &r);
    assert_addr(&r, AF_INET6, "2001:db8::1");
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_ptr_of_a_fake_address_is_its_name_and_of_an_unused_one_nxdomain(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "web.test", 1, &r);
    char rev[80];
    assert_non_null(torify_dns_reverse_name(AF_INET, r.rdata, rev, sizeof rev));
    ask(&a, rev, 12, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NOERROR);
    assert_int_equal(r.type, 12);
    assert_string_equal(r.ptr, "web.test");
    ask(&a, "web.test", 28, &r);
    assert_non_null(torify_dns_reverse_name(AF_INET6, r.rdata, rev, sizeof rev));
    ask(&a, rev, 12, &r);
    assert_string_equal(r.ptr, "web.test");
    /* IPv4-mapped IPv6 of the fake IPv4 address: the same name */
    ask(&a, "web.test", 1, &r);
    uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
    memcpy(mapped + 12, r.rdata, 4);
    assert_non_null(torify_dns_reverse_name(AF_INET6, mapped, rev, sizeof rev));
    ask(&a, rev, 12, &r);
    assert_string_equal(r.ptr, "web.test");
    ask(&a, "200.0.192.127.in-addr.arpa", 12, &r); /* in range, no name there */
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    assert_int_equal(r.an, 0);
    torify_fakemap_destroy(m);
}

static void test_ptr_of_loopback_is_localhost(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "1.0.0.127.in-addr.arpa", 12, &r);
    assert_string_equal(r.ptr, "localhost");
    ask(&a, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", 12, &r);
    assert_string_equal(r.ptr, "localhost");
    torify_fakemap_destroy(m);
}

static torify_err ptr_of(void *ctx, int family, const uint8_t *addr, char *name, size_t len)
{
    torify_err e = *(torify_err *)ctx;
    assert_int_equal(family, AF_INET);
    assert_int_equal(addr[0], 8);
    if (e == TORIFY_OK)
        snprintf(name, len, "dns.google");
    return e;
}

static void test_ptr_of_another_address_is_asked_of_the_callback_else_nxdomain(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "8.8.8.8.in-addr.arpa", 12, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    torify_err e = TORIFY_OK;
    a.resolve_ptr = ptr_of;
    a.ctx = &e;
    ask(&a, "8.8.8.8.in-addr.arpa", 12, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NOERROR);
    assert_string_equal(r.ptr, "dns.google");
    e = TORIFY_E_S5_HOST_UNREACH;
    ask(&a, "8.8.8.8.in-addr.arpa", 12, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    e = TORIFY_E_INVAL_TARGET; /* SOCKS4a: no RESOLVE_PTR to ask */
    ask(&a, "8.8.8.8.in-addr.arpa", 12, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    e = TORIFY_E_PROXY_UNREACHABLE;
    ask(&a, "8.8.8.8.in-addr.arpa", 12, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_SERVFAIL);
    torify_fakemap_destroy(m);
}

static void test_ptr_of_a_name_that_is_no_address_has_no_records(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "web.test", 12, &r);
    assert_no_data(&r);
    ask(&a, "10.in-addr.arpa", 12, &r);
    assert_no_data(&r);
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_other_types_are_noerror_without_records_and_take_no_slot(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    int types[] = { 2, 5, 6, 15, 16, 33, 64, 65, 255, 99 };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        ask(&a, "_http._tcp.deb.debian.org", types[i], &r);
        assert_no_data(&r);
        assert_int_equal(r.flags & 0x0400, 0x0400); /* authoritative: no data, really */
    }
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_names_the_policy_refuses_are_nxdomain(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask(&a, "bad\x01name.test", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    assert_int_equal(r.an, 0);
    /* a label with a dot inside: "a.b" as one label */
    uint8_t q[64] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', '.', 'b', 0, 0, 1, 0, 1 };
    uint8_t out[512];
    size_t n = torify_dns_answer(&a, TORIFY_DNS_UDP, q, 21, out, sizeof out, NULL);
    read_reply(out, n, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_a_class_other_than_in_is_refused(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    ask_class(&a, "version.bind", 3 /* CH */, 16, &r, NULL);
    assert_int_equal(r.rcode, TORIFY_DNS_REFUSED);
    ask_class(&a, "web.test", 255, 1, &r, NULL);
    assert_int_equal(r.rcode, TORIFY_DNS_REFUSED);
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_a_broken_configuration_refuses_host_names_but_answers_localhost(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    a.config_broken = true;
    struct reply r;
    ask(&a, "web.test", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_REFUSED);
    ask(&a, "localhost", 1, &r);
    assert_addr(&r, AF_INET, "127.0.0.1");
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_a_full_fake_map_is_servfail(void **state)
{
    struct torify_fakemap *m = map_of(2);
    struct torify_dns_answerer a = answerer(m);
    uint32_t s1, s2;
    assert_int_equal(torify_fakemap_assign(m, "one.test", 8, &s1), TORIFY_OK);
    assert_int_equal(torify_fakemap_assign(m, "two.test", 8, &s2), TORIFY_OK);
    torify_fakemap_hold(m, s1);
    torify_fakemap_hold(m, s2);
    struct reply r;
    ask(&a, "three.test", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_SERVFAIL);
    torify_fakemap_release(m, s2);
    ask(&a, "three.test", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NOERROR);
    torify_fakemap_destroy(m);
    a.map = NULL; /* no map at all */
    ask(&a, "web.test", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_SERVFAIL);
}

static void test_real_answers_come_from_the_callback_with_its_errors_as_rcodes(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    torify_err e = TORIFY_OK;
    a.resolve = resolve_fixed;
    a.ctx = &e;
    struct reply r;
    ask(&a, "example.org", 1, &r);
    assert_addr(&r, AF_INET, "93.184.216.34");
    ask(&a, "example.org", 28, &r);
    assert_addr(&r, AF_INET6, "2606:2800:220:1::1");
    assert_int_equal(torify_fakemap_count(m), 0);
    e = TORIFY_E_PROTO_RESOLVE_TYPE;
    ask(&a, "example.org", 28, &r);
    assert_no_data(&r);
    e = TORIFY_E_S5_GENERAL;
    ask(&a, "nonexistent.example", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NXDOMAIN);
    e = TORIFY_E_TIMEOUT;
    ask(&a, "example.org", 1, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_SERVFAIL);
    e = TORIFY_OK;
    ask(&a, "localhost", 1, &r); /* never asked of Tor */
    assert_addr(&r, AF_INET, "127.0.0.1");
    torify_fakemap_destroy(m);
}

static void test_a_response_or_a_runt_gets_no_reply_and_nothing_is_written(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    uint8_t q[512], out[512];
    size_t qn = torify_dns_build_query(1, "web.test", 1, 1, q, sizeof q);
    q[2] |= 0x80; /* QR: a response */
    memset(out, 0xAA, sizeof out);
    struct torify_dns_summary what;
    assert_int_equal(torify_dns_answer(&a, TORIFY_DNS_UDP, q, qn, out, sizeof out, &what), 0);
    assert_int_equal(what.rcode, -1);
    assert_int_equal(torify_dns_answer(&a, TORIFY_DNS_UDP, q, 11, out, sizeof out, NULL), 0);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xAA);
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_formerr_notimp_and_badvers_come_back_from_the_answerer(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    uint8_t q[512], out[512];
    struct reply r;
    size_t qn = torify_dns_build_query(5, "web.test", 1, 1, q, sizeof q);
    q[5] = 2; /* QDCOUNT 2, one there */
    size_t n = torify_dns_answer(&a, TORIFY_DNS_UDP, q, qn, out, sizeof out, NULL);
    read_reply(out, n, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_FORMERR);
    assert_int_equal(r.qd, 0);
    q[5] = 1;
    q[2] = (uint8_t)(q[2] | (4u << 3)); /* opcode NOTIFY */
    n = torify_dns_answer(&a, TORIFY_DNS_UDP, q, qn, out, sizeof out, NULL);
    read_reply(out, n, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_NOTIMP);
    q[2] = 0x01;
    /* EDNS version 1 */
    static const uint8_t opt1[] = { 0, 0, 41, 0x04, 0xd0, 0, 1, 0, 0, 0, 0 };
    memcpy(q + qn, opt1, sizeof opt1);
    q[11] = 1;
    n = torify_dns_answer(&a, TORIFY_DNS_UDP, q, qn + sizeof opt1, out, sizeof out, NULL);
    read_reply(out, n, &r);
    assert_int_equal(r.rcode, TORIFY_DNS_BADVERS);
    assert_true(r.opt);
    assert_int_equal(r.an, 0);
    assert_int_equal(torify_fakemap_count(m), 0);
    torify_fakemap_destroy(m);
}

static void test_an_edns_query_gets_opt_back_and_a_plain_one_none(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    uint8_t q[512], out[512];
    struct reply r;
    size_t qn = torify_dns_build_query(5, "web.test", 1, 1, q, sizeof q);
    static const uint8_t opt0[] = { 0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0 };
    memcpy(q + qn, opt0, sizeof opt0);
    q[11] = 1;
    size_t n = torify_dns_answer(&a, TORIFY_DNS_UDP, q, qn + sizeof opt0, out, sizeof out, NULL);
    read_reply(out, n, &r);
    assert_true(r.opt);
    assert_int_equal(r.an, 1);
    assert_int_equal(out[n - 4] & 0x80, 0x80); /* DO copied */
    q[11] = 0;
    n = torify_dns_answer(&a, TORIFY_DNS_UDP, q, qn, out, sizeof out, NULL);
    read_reply(out, n, &r);
    assert_false(r.opt);
    torify_fakemap_destroy(m);
}

static void test_a_reply_never_exceeds_cap_and_is_truncated_with_tc(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    uint8_t q[512], out[512];
    size_t qn = torify_dns_build_query(5, "web.test", 1, 1, q, sizeof q);
    for (size_t cap = 0; cap <= qn + 16; cap++) {
        memset(out, 0xAA, sizeof out);
        size_t n = torify_dns_answer(&a, cap % 2 ? TORIFY_DNS_TCP : TORIFY_DNS_UDP, q, qn, out, cap, NULL);
        assert_true(n <= cap);
        for (size_t i = cap; i < sizeof out; i++)
            assert_int_equal(out[i], 0xAA);
        if (cap < 12) {
            assert_int_equal(n, 0);
            continue;
        }
        struct reply r;
        read_reply(out, n, &r);
        if (cap < qn + 16) {
            assert_int_equal(r.flags & 0x0200, 0x0200);
            assert_int_equal(r.an, 0);
        } else {
            assert_int_equal(r.flags & 0x0200, 0);
            assert_int_equal(r.an, 1);
        }
    }
    torify_fakemap_destroy(m);
}

static void test_the_summary_names_question_type_rcode_and_first_answer(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    struct reply r;
    struct torify_dns_summary what;
    ask_class(&a, "Web.test", 1, 1, &r, &what);
    assert_string_equal(what.name, "Web.test");
    assert_int_equal(what.qtype, 1);
    assert_int_equal(what.rcode, 0);
    assert_int_equal(what.answers, 1);
    char text[64];
    assert_non_null(inet_ntop(AF_INET, r.rdata, text, sizeof text));
    assert_string_equal(what.first, text);
    ask_class(&a, "bad\x01name", 1, 33, &r, &what);
    assert_string_equal(what.name, "bad?name");
    assert_int_equal(what.rcode, TORIFY_DNS_NXDOMAIN);
    assert_int_equal(what.answers, 0);
    assert_string_equal(what.first, "");
    char buf[16];
    assert_string_equal(torify_dns_type_name(33, buf, sizeof buf), "SRV");
    assert_string_equal(torify_dns_type_name(99, buf, sizeof buf), "type 99");
    assert_string_equal(torify_dns_rcode_name(3, buf, sizeof buf), "NXDOMAIN");
    torify_fakemap_destroy(m);
}

struct worker {
    struct torify_dns_answerer *a;
    int id;
    uint8_t first[4];
    int bad;
};

static void *work(void *p)
{
    struct worker *w = p;
    for (int i = 0; i < 500; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%d.test", i % 50);
        uint8_t q[128], out[512];
        size_t qn = torify_dns_build_query((uint16_t)i, name, 1, 1, q, sizeof q);
        size_t n = torify_dns_answer(w->a, TORIFY_DNS_UDP, q, qn, out, sizeof out, NULL);
        if (n != qn + 16 || (out[3] & 0xF) != 0)
            w->bad++;
        else if (i == 0)
            memcpy(w->first, out + n - 4, 4);
    }
    return NULL;
}

static void test_threads_answering_at_once_agree_on_every_address(void **state)
{
    struct torify_fakemap *m = map_of(0);
    struct torify_dns_answerer a = answerer(m);
    pthread_t t[8];
    struct worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){ .a = &a, .id = i };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
        assert_memory_equal(w[i].first, w[0].first, 4);
    }
    assert_int_equal(torify_fakemap_count(m), 50);
    torify_fakemap_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_and_aaaa_of_a_host_name_are_its_fake_addresses_from_the_map),
        cmocka_unit_test(test_a_name_in_another_case_gets_the_same_address_and_its_own_question_back),
        cmocka_unit_test(test_onion_names_are_fake_even_with_real_answers_asked_for),
        cmocka_unit_test(test_localhost_names_and_the_machines_own_name_are_loopback),
        cmocka_unit_test(test_the_hostname_defaults_to_what_gethostname_says),
        cmocka_unit_test(test_address_literals_answer_themselves_in_their_own_family_only),
        cmocka_unit_test(test_ptr_of_a_fake_address_is_its_name_and_of_an_unused_one_nxdomain),
        cmocka_unit_test(test_ptr_of_loopback_is_localhost),
        cmocka_unit_test(test_ptr_of_another_address_is_asked_of_the_callback_else_nxdomain),
        cmocka_unit_test(test_ptr_of_a_name_that_is_no_address_has_no_records),
        cmocka_unit_test(test_other_types_are_noerror_without_records_and_take_no_slot),
        cmocka_unit_test(test_names_the_policy_refuses_are_nxdomain),
        cmocka_unit_test(test_a_class_other_than_in_is_refused),
        cmocka_unit_test(test_a_broken_configuration_refuses_host_names_but_answers_localhost),
        cmocka_unit_test(test_a_full_fake_map_is_servfail),
        cmocka_unit_test(test_real_answers_come_from_the_callback_with_its_errors_as_rcodes),
        cmocka_unit_test(test_a_response_or_a_runt_gets_no_reply_and_nothing_is_written),
        cmocka_unit_test(test_formerr_notimp_and_badvers_come_back_from_the_answerer),
        cmocka_unit_test(test_an_edns_query_gets_opt_back_and_a_plain_one_none),
        cmocka_unit_test(test_a_reply_never_exceeds_cap_and_is_truncated_with_tc),
        cmocka_unit_test(test_the_summary_names_question_type_rcode_and_first_answer),
        cmocka_unit_test(test_threads_answering_at_once_agree_on_every_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
