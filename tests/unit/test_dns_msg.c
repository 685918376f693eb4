/* dns/msg and dns/reverse: queries parsed as RFC 1035 / RFC 6891 say, hostile
 * bytes refused, replies built byte by byte as a client reads them. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "dns/msg.h"
#include "dns/reverse.h"

/* A message under construction, written by hand (not by msg.c). */
struct m {
    uint8_t b[1024];
    size_t n;
};

static void put(struct m *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}
static void u8(struct m *m, unsigned v) { uint8_t x = (uint8_t)v; put(m, &x, 1); }
static void u16(struct m *m, unsigned v) { u8(m, v >> 8); u8(m, v & 0xff); }
static void u32(struct m *m, uint32_t v) { u16(m, v >> 16); u16(m, v & 0xffff); }

static void header(struct m *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
    m->n = 0;
    u16(m, id); u16(m, flags); u16(m, qd); u16(m, an); u16(m, ns); u16(m, ar);
}

/* "www.Example.org" -> labels. */
static void name(struct m *m, const char *dotted)
{
    const char *p = dotted;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        u8(m, (unsigned)n);
        put(m, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    u8(m, 0);
}

static void question(struct m *m, const char *dotted, unsigned type, unsigned cls)
{
    name(m, dotted);
    u16(m, type);
    u16(m, cls);
}

static void opt(struct m *m, unsigned udp, unsigned version, int do_bit)
{
    u8(m, 0);
    u16(m, 41);
    u16(m, udp);
    u32(m, ((uint32_t)version << 16) | (do_bit ? 0x8000u : 0));
    u16(m, 0);
}

static enum torify_dns_parse parse(const struct m *m, struct torify_dns_query *q)
{
    return torify_dns_parse_query(m->b, m->n, q);
}

static void test_a_plain_query_gives_id_flags_name_type_and_class(void **state)
{
    struct m m;
    header(&m, 0xbeef, 0x0100, 1, 0, 0, 0);
    question(&m, "www.Example.ORG", 28, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_int_equal(q.id, 0xbeef);
    assert_int_equal(q.flags, 0x0100);
    assert_true(q.has_question);
    assert_string_equal(q.qname, "www.Example.ORG");
    assert_true(q.qname_text_ok);
    assert_int_equal(q.qtype, 28);
    assert_int_equal(q.qclass, 1);
    assert_false(q.edns);
}

static void test_a_compressed_question_name_is_followed_back_into_the_message(void **state)
{
    /* The header's first bytes spell the name "x" (01 'x' 00): a pointer to
     * offset 0 is a legal backward pointer. */
    struct m m;
    header(&m, 0x0178, 0x0000, 1, 0, 0, 0);
    u8(&m, 3); put(&m, "www", 3); u16(&m, 0xC000);
    u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_string_equal(q.qname, "www.x");
    /* The reply carries it uncompressed, so it stands alone. */
    static const uint8_t wire[] = { 3, 'w', 'w', 'w', 1, 'x', 0 };
    assert_int_equal(q.qname_wire_len, sizeof wire);
    assert_memory_equal(q.qname_wire, wire, sizeof wire);
}

static void test_compressed_names_in_other_sections_are_skipped(void **state)
{
    /* An answer-section record (some clients send one) whose owner points to
     * the question, then an OPT record. */
    struct m m;
    header(&m, 7, 0x0100, 1, 1, 0, 1);
    question(&m, "a.test", 1, 1);
    u16(&m, 0xC00C); u16(&m, 1); u16(&m, 1); u32(&m, 5); u16(&m, 4); u32(&m, 0x01020304);
    opt(&m, 1400, 0, 0);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp, 1400);
}

static void test_a_pointer_to_itself_is_formerr(void **state)
{
    struct m m;
    header(&m, 1, 0, 1, 0, 0, 0);
    u16(&m, 0xC00C); u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_a_label_then_a_pointer_back_to_it_is_formerr(void **state)
{
    /* 01 'a' C0 0C: would read "a.a.a..." forever. */
    struct m m;
    header(&m, 1, 0, 1, 0, 0, 0);
    u8(&m, 1); u8(&m, 'a'); u16(&m, 0xC00C); u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_a_pointer_loop_inside_the_header_is_formerr(void **state)
{
    /* ID C0 00 points at itself; the question points at the ID. */
    struct m m;
    header(&m, 0xC000, 0, 1, 0, 0, 0);
    u16(&m, 0xC000); u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_a_forward_pointer_and_a_pointer_past_the_end_are_formerr(void **state)
{
    struct m m;
    header(&m, 1, 0, 1, 0, 0, 0);
    u16(&m, 0xC012); u16(&m, 1); u16(&m, 1); u8(&m, 0);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    header(&m, 1, 0, 1, 0, 0, 0);
    u8(&m, 0xC0); /* half a pointer at the end */
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_extended_label_types_are_formerr(void **state)
{
    struct m m;
    header(&m, 1, 0, 1, 0, 0, 0);
    u8(&m, 0x41); u8(&m, 0); u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_a_name_over_255_bytes_is_formerr_and_255_is_accepted(void **state)
{
    char label[64];
    memset(label, 'a', 63);
    label[63] = '\0';
    struct m m;
    /* 3 x (1+63) + (1+61) + 1 = 255 */
    header(&m, 1, 0, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++) {
        u8(&m, 63); put(&m, label, 63);
    }
    u8(&m, 61); put(&m, label, 61); u8(&m, 0); u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_int_equal(q.qname_wire_len, 255);
    assert_int_equal(strlen(q.qname), 253);
    header(&m, 1, 0, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++) {
        u8(&m, 63); put(&m, label, 63);
    }
    u8(&m, 62); put(&m, label, 62); u8(&m, 0); u16(&m, 1); u16(&m, 1);
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_a_label_holding_a_dot_or_nul_has_no_text_form(void **state)
{
    struct m m;
    header(&m, 1, 0, 1, 0, 0, 0);
    u8(&m, 3); put(&m, "a.b", 3); u8(&m, 0); u16(&m, 1); u16(&m, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_false(q.qname_text_ok);
    header(&m, 1, 0, 1, 0, 0, 0);
    u8(&m, 3); put(&m, "a\0b", 3); u8(&m, 0); u16(&m, 1); u16(&m, 1);
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_false(q.qname_text_ok);
}

static void test_several_questions_or_none_are_formerr_without_an_echoed_question(void **state)
{
    struct m m;
    header(&m, 9, 0x0100, 2, 0, 0, 0);
    question(&m, "a.test", 1, 1);
    question(&m, "b.test", 1, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
    assert_false(q.has_question);
    uint8_t out[512];
    size_t n = torify_dns_build_reply(&q, q.rcode, NULL, 0, out, sizeof out);
    assert_int_equal(n, 12);
    assert_int_equal(out[0], 0); assert_int_equal(out[1], 9);
    assert_int_equal(out[3] & 0xF, TORIFY_DNS_FORMERR);
    assert_int_equal(out[4] << 8 | out[5], 0);
    header(&m, 9, 0x0100, 0, 0, 0, 0);
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_a_question_cut_short_is_formerr(void **state)
{
    struct m m;
    header(&m, 1, 0, 1, 0, 0, 0);
    name(&m, "a.test");
    u16(&m, 1); /* no class */
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
    /* a record count promising more than is there */
    header(&m, 1, 0, 1, 1, 0, 0);
    question(&m, "a.test", 1, 1);
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_responses_and_runts_are_ignored(void **state)
{
    struct m m;
    header(&m, 1, 0x8180, 1, 0, 0, 0);
    question(&m, "a.test", 1, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_IGNORE);
    assert_int_equal(torify_dns_parse_query(m.b, 11, &q), TORIFY_DNS_PARSE_IGNORE);
    assert_int_equal(torify_dns_parse_query(NULL, 0, &q), TORIFY_DNS_PARSE_IGNORE);
}

static void test_other_opcodes_are_notimp_with_the_question_echoed(void **state)
{
    struct m m;
    header(&m, 3, (2u << 11) | 0x0100, 1, 0, 0, 0); /* STATUS */
    question(&m, "a.test", 1, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_NOTIMP);
    uint8_t out[512];
    size_t n = torify_dns_build_reply(&q, q.rcode, NULL, 0, out, sizeof out);
    assert_int_equal(n, m.n);
    assert_int_equal((out[2] >> 3) & 0xF, 2); /* opcode echoed */
    assert_int_equal(out[3] & 0xF, TORIFY_DNS_NOTIMP);
    assert_memory_equal(out + 12, m.b + 12, m.n - 12);
}

static void test_edns0_gives_size_version_and_do_bit(void **state)
{
    struct m m;
    header(&m, 1, 0x0100, 1, 0, 0, 1);
    question(&m, "a.test", 1, 1);
    opt(&m, 4096, 0, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp, 4096);
    assert_int_equal(q.edns_version, 0);
    assert_true(q.edns_do);
    assert_int_equal(torify_dns_reply_limit(&q, true, 65535), 4096);
    assert_int_equal(torify_dns_reply_limit(&q, true, 1000), 1000);
}

static void test_edns_version_1_is_badvers_with_the_upper_rcode_bits_in_opt(void **state)
{
    struct m m;
    header(&m, 1, 0x0100, 1, 0, 0, 1);
    question(&m, "a.test", 1, 1);
    opt(&m, 1232, 1, 0);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_BADVERS);
    uint8_t out[512];
    size_t n = torify_dns_build_reply(&q, q.rcode, NULL, 0, out, sizeof out);
    size_t o = n - 11;
    assert_int_equal(out[3] & 0xF, 0);           /* 16 = 1 << 4: nothing in the header */
    assert_int_equal(out[10] << 8 | out[11], 1); /* ARCOUNT */
    assert_int_equal(out[o], 0);
    assert_int_equal(out[o + 1] << 8 | out[o + 2], 41);
    assert_int_equal(out[o + 5], 1);             /* extended rcode */
    assert_int_equal(out[o + 6], 0);             /* our version */
}

static void test_two_opt_records_or_one_not_owned_by_the_root_are_formerr(void **state)
{
    struct m m;
    header(&m, 1, 0x0100, 1, 0, 0, 2);
    question(&m, "a.test", 1, 1);
    opt(&m, 1232, 0, 0);
    opt(&m, 1232, 0, 0);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
    header(&m, 1, 0x0100, 1, 0, 0, 1);
    question(&m, "a.test", 1, 1);
    u16(&m, 0xC00C); u16(&m, 41); u16(&m, 1232); u32(&m, 0); u16(&m, 0);
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_ERROR);
    assert_int_equal(q.rcode, TORIFY_DNS_FORMERR);
}

static void test_udp_limit_is_512_without_edns_or_below_it_and_tcp_is_the_length_prefix(void **state)
{
    struct torify_dns_query q;
    memset(&q, 0, sizeof q);
    assert_int_equal(torify_dns_reply_limit(&q, true, 65535), 512);
    q.edns = true;
    q.edns_udp = 100;
    assert_int_equal(torify_dns_reply_limit(&q, true, 65535), 512);
    assert_int_equal(torify_dns_reply_limit(&q, true, 300), 300);
    assert_int_equal(torify_dns_reply_limit(&q, false, 100000), 65535);
    assert_int_equal(torify_dns_reply_limit(&q, false, 700), 700);
}

static void test_a_reply_echoes_id_rd_cd_and_the_question_as_asked(void **state)
{
    struct m m;
    header(&m, 0x1234, 0x0110, 1, 0, 0, 0); /* RD, CD */
    question(&m, "WwW.ExAmPlE.oRg", 1, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    uint8_t addr[4] = { 127, 192, 0, 1 };
    struct torify_dns_rr rr = { .type = 1, .ttl = 60, .rdata = addr, .rdlen = 4 };
    uint8_t out[512];
    size_t n = torify_dns_build_reply(&q, 0, &rr, 1, out, sizeof out);
    assert_int_equal(n, m.n + 16);
    assert_int_equal(out[0] << 8 | out[1], 0x1234);
    unsigned flags = out[2] << 8 | out[3];
    assert_int_equal(flags, 0x8000 | 0x0400 | 0x0100 | 0x0080 | 0x0010); /* QR AA RD RA CD */
    assert_int_equal(out[4] << 8 | out[5], 1);
    assert_int_equal(out[6] << 8 | out[7], 1);
    assert_int_equal(out[10] << 8 | out[11], 0); /* no OPT: the query had none */
    assert_memory_equal(out + 12, m.b + 12, m.n - 12);
    const uint8_t *a = out + m.n;
    static const uint8_t want[] = { 0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 192, 0, 1 };
    assert_memory_equal(a, want, sizeof want);
}

static void test_a_reply_to_an_edns_query_carries_opt_with_the_do_bit_copied(void **state)
{
    struct m m;
    header(&m, 1, 0x0100, 1, 0, 0, 1);
    question(&m, "a.test", 1, 1);
    opt(&m, 4096, 0, 1);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    uint8_t out[512];
    size_t n = torify_dns_build_reply(&q, 0, NULL, 0, out, sizeof out);
    assert_int_equal(n, m.n);
    size_t o = n - 11;
    assert_int_equal(out[10] << 8 | out[11], 1);
    assert_int_equal(out[o + 1] << 8 | out[o + 2], 41);
    assert_int_equal(out[o + 3] << 8 | out[o + 4], TORIFY_DNS_EDNS_ADVERTISED);
    assert_int_equal(out[o + 7] & 0x80, 0x80); /* DO */
}

static void test_a_reply_too_big_for_the_limit_is_truncated_with_tc_keeping_question_and_opt(void **state)
{
    struct m m;
    header(&m, 1, 0x0100, 1, 0, 0, 1);
    question(&m, "a.test", 1, 1);
    opt(&m, 512, 0, 0);
    struct torify_dns_query q;
    assert_int_equal(parse(&m, &q), TORIFY_DNS_PARSE_OK);
    uint8_t big[400];
    memset(big, 'x', sizeof big);
    struct torify_dns_rr rr[2] = { { .type = 16, .ttl = 1, .rdata = big, .rdlen = 300 },
                                   { .type = 16, .ttl = 1, .rdata = big, .rdlen = 300 } };
    uint8_t out[700];
    memset(out, 0xAA, sizeof out);
    size_t n = torify_dns_build_reply(&q, 0, rr, 2, out, 512);
    assert_int_equal(n, m.n); /* header + question + OPT */
    assert_int_equal(out[2] & 0x02, 0x02); /* TC */
    assert_int_equal(out[6] << 8 | out[7], 0);
    assert_int_equal(out[10] << 8 | out[11], 1);
    assert_int_equal(out[512], 0xAA);
    /* One record fits: all is sent, no TC. */
    n = torify_dns_build_reply(&q, 0, rr, 1, out, 512);
    assert_int_equal(n, m.n + 12 + 300);
    assert_int_equal(out[2] & 0x02, 0);
    /* Below header + question + OPT: the OPT goes, then the question. */
    n = torify_dns_build_reply(&q, 0, rr, 1, out, m.n - 1);
    assert_int_equal(n, m.n - 11);
    assert_int_equal(out[10] << 8 | out[11], 0);
    n = torify_dns_build_reply(&q, 0, rr, 1, out, 13);
    assert_int_equal(n, 12);
    assert_int_equal(out[4] << 8 | out[5], 0);
    assert_int_equal(torify_dns_build_reply(&q, 0, rr, 1, out, 11), 0);
}

static void test_names_go_to_wire_form_and_bad_ones_are_refused(void **state)
{
    uint8_t w[300];
    static const uint8_t ab[] = { 1, 'a', 2, 'b', 'c', 0 };
    assert_int_equal(torify_dns_name_to_wire("a.bc", w, sizeof w), sizeof ab);
    assert_memory_equal(w, ab, sizeof ab);
    assert_int_equal(torify_dns_name_to_wire("a.bc.", w, sizeof w), sizeof ab);
    assert_int_equal(torify_dns_name_to_wire("", w, sizeof w), 1);
    assert_int_equal(torify_dns_name_to_wire(".", w, sizeof w), 1);
    assert_int_equal(torify_dns_name_to_wire("a..b", w, sizeof w), 0);
    assert_int_equal(torify_dns_name_to_wire("a..", w, sizeof w), 0);
    assert_int_equal(torify_dns_name_to_wire(".a", w, sizeof w), 0);
    char l64[70];
    memset(l64, 'a', 64);
    l64[64] = '\0';
    assert_int_equal(torify_dns_name_to_wire(l64, w, sizeof w), 0);
    assert_int_equal(torify_dns_name_to_wire("a.bc", w, 5), 0); /* short buffer */
}

static void test_a_built_query_parses_back(void **state)
{
    uint8_t b[512];
    size_t n = torify_dns_build_query(77, "Web.Test", 1, 33, b, sizeof b);
    assert_int_equal(n, 12 + 10 + 4);
    struct torify_dns_query q;
    assert_int_equal(torify_dns_parse_query(b, n, &q), TORIFY_DNS_PARSE_OK);
    assert_int_equal(q.id, 77);
    assert_int_equal(q.flags, 0x0100);
    assert_string_equal(q.qname, "Web.Test");
    assert_int_equal(q.qtype, 33);
    assert_int_equal(torify_dns_build_query(1, "a..b", 1, 1, b, sizeof b), 0);
    assert_int_equal(torify_dns_build_query(1, "a.test", 1, 1, b, 20), 0);
}

static void test_reverse_names_give_whole_addresses_only(void **state)
{
    int fam = 0;
    uint8_t a[16];
    assert_true(torify_dns_reverse_parse("4.3.2.1.in-addr.arpa", &fam, a));
    assert_int_equal(fam, AF_INET);
    static const uint8_t v4[4] = { 1, 2, 3, 4 };
    assert_memory_equal(a, v4, 4);
    assert_true(torify_dns_reverse_parse("1.0.192.127.IN-ADDR.ARPA", &fam, a));
    assert_int_equal(a[0], 127);
    assert_false(torify_dns_reverse_parse("3.2.1.in-addr.arpa", &fam, a));     /* a zone */
    assert_false(torify_dns_reverse_parse("5.4.3.2.1.in-addr.arpa", &fam, a));
    assert_false(torify_dns_reverse_parse("256.3.2.1.in-addr.arpa", &fam, a));
    assert_false(torify_dns_reverse_parse("04.3.2.1.in-addr.arpa", &fam, a));
    assert_false(torify_dns_reverse_parse("in-addr.arpa", &fam, a));
    assert_false(torify_dns_reverse_parse("web.test", &fam, a));
    char name[80];
    uint8_t v6[16];
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::abcd:1", v6), 1);
    assert_non_null(torify_dns_reverse_name(AF_INET6, v6, name, sizeof name));
    assert_string_equal(name, "1.0.0.0.d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_true(torify_dns_reverse_parse(name, &fam, a));
    assert_int_equal(fam, AF_INET6);
    assert_memory_equal(a, v6, 16);
    name[0] = 'g';
    assert_false(torify_dns_reverse_parse(name, &fam, a));
    assert_false(torify_dns_reverse_parse("1.0.ip6.arpa", &fam, a));
    assert_non_null(torify_dns_reverse_name(AF_INET, v4, name, sizeof name));
    assert_string_equal(name, "4.3.2.1.in-addr.arpa");
    assert_null(torify_dns_reverse_name(AF_INET6, v6, name, 72));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_plain_query_gives_id_flags_name_type_and_class),
        cmocka_unit_test(test_a_compressed_question_name_is_followed_back_into_the_message),
        cmocka_unit_test(test_compressed_names_in_other_sections_are_skipped),
        cmocka_unit_test(test_a_pointer_to_itself_is_formerr),
        cmocka_unit_test(test_a_label_then_a_pointer_back_to_it_is_formerr),
        cmocka_unit_test(test_a_pointer_loop_inside_the_header_is_formerr),
        cmocka_unit_test(test_a_forward_pointer_and_a_pointer_past_the_end_are_formerr),
        cmocka_unit_test(test_extended_label_types_are_formerr),
        cmocka_unit_test(test_a_name_over_255_bytes_is_formerr_and_255_is_accepted),
        cmocka_unit_test(test_a_label_holding_a_dot_or_nul_has_no_text_form),
        cmocka_unit_test(test_several_questions_or_none_are_formerr_without_an_echoed_question),
        cmocka_unit_test(test_a_question_cut_short_is_formerr),
        cmocka_unit_test(test_responses_and_runts_are_ignored),
        cmocka_unit_test(test_other_opcodes_are_notimp_with_the_question_echoed),
        cmocka_unit_test(test_edns0_gives_size_version_and_do_bit),
        cmocka_unit_test(test_edns_version_1_is_badvers_with_the_upper_rcode_bits_in_opt),
        cmocka_unit_test(test_two_opt_records_or_one_not_owned_by_the_root_are_formerr),
        cmocka_unit_test(test_udp_limit_is_512_without_edns_or_below_it_and_tcp_is_the_length_prefix),
        cmocka_unit_test(test_a_reply_echoes_id_rd_cd_and_the_question_as_asked),
        cmocka_unit_test(test_a_reply_to_an_edns_query_carries_opt_with_the_do_bit_copied),
        cmocka_unit_test(test_a_reply_too_big_for_the_limit_is_truncated_with_tc_keeping_question_and_opt),
        cmocka_unit_test(test_names_go_to_wire_form_and_bad_ones_are_refused),
        cmocka_unit_test(test_a_built_query_parses_back),
        cmocka_unit_test(test_reverse_names_give_whole_addresses_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
