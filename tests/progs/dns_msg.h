/*
 * dns_msg.h — the DNS messages of the dns_* test programs (dns_probe.c,
 * dns_stress.c), written here by hand so the programs send exactly what a
 * resolver of their own would (Go's, dig's), without libresolv.
 *
 * dns_build: one standard query (RD set, one question, class IN); a PTR
 * query given an IP literal asks for its in-addr.arpa / ip6.arpa name.
 * dns_parse: the reply's header, whether it echoes the query's ID and
 * question, and up to DNS_MAX_ANSWERS answers as text ("A 127.192.0.1",
 * "AAAA 100::1", "PTR web.test", "CNAME x", other types as "TYPE<n>").
 * Every read is bounded by the message length; a malformed reply is
 * reported (ok = 0), never read past.
 */
#ifndef DNS_MSG_H
#define DNS_MSG_H

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNS_MAX_MSG 4096
#define DNS_MAX_ANSWERS 16
#define DNS_NAME_MAX 256

enum { DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6, DNS_T_PTR = 12, DNS_T_MX = 15,
       DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_SRV = 33, DNS_T_HTTPS = 65, DNS_T_ANY = 255 };

static const struct { const char *name; int type; } dns_types[] = {
    {"A", DNS_T_A}, {"NS", DNS_T_NS}, {"CNAME", DNS_T_CNAME}, {"SOA", DNS_T_SOA}, {"PTR", DNS_T_PTR},
    {"MX", DNS_T_MX}, {"TXT", DNS_T_TXT}, {"AAAA", DNS_T_AAAA}, {"SRV", DNS_T_SRV},
    {"HTTPS", DNS_T_HTTPS}, {"ANY", DNS_T_ANY},
};

static const char *const dns_rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

/* "A", "aaaa", "65" -> type number; -1 when unknown. */
static inline int dns_type_of(const char *s)
{
    for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
        if (!strcasecmp(s, dns_types[i].name))
            return dns_types[i].type;
    char *end = NULL;
    long n = strtol(s, &end, 10);
    return end && *end == 0 && n > 0 && n < 65536 ? (int)n : -1;
}

static inline const char *dns_type_name(int type, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
        if (dns_types[i].type == type)
            return dns_types[i].name;
    snprintf(buf, len, "TYPE%d", type);
    return buf;
}

static inline const char *dns_rcode_name(int rcode, char *buf, size_t len)
{
    if (rcode >= 0 && rcode < (int)(sizeof dns_rcodes / sizeof dns_rcodes[0]))
        return dns_rcodes[rcode];
    snprintf(buf, len, "RCODE%d", rcode);
    return buf;
}

/* The reverse name of an IP literal (PTR queries); 0 or -1 (not an IP). */
static inline int dns_reverse_name(const char *ip, char *out, size_t cap)
{
    unsigned char a[16];
    size_t pos = 0;
    if (inet_pton(AF_INET, ip, a) == 1) {
        int n = snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
        return n > 0 && (size_t)n < cap ? 0 : -1;
    }
    if (inet_pton(AF_INET6, ip, a) != 1)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        if (pos + 4 >= cap)
            return -1;
        out[pos++] = hex[a[i] & 15];
        out[pos++] = '.';
        out[pos++] = hex[a[i] >> 4];
        out[pos++] = '.';
    }
    const char tail[] = "ip6.arpa";
    if (pos + sizeof tail > cap)
        return -1;
    memcpy(out + pos, tail, sizeof tail);
    return 0;
}

/* A query for name/type with the given ID into q; its length, or 0 when the
 * name does not fit (labels of 1..63 bytes, at most 253 in all). */
static inline size_t dns_build(uint16_t id, const char *name, int type, unsigned char *q, size_t cap)
{
    char rev[DNS_NAME_MAX];
    if (type == DNS_T_PTR && dns_reverse_name(name, rev, sizeof rev) == 0)
        name = rev;
    size_t nlen = strlen(name);
    if (nlen > 253 || cap < 12 + nlen + 2 + 4)
        return 0;
    const unsigned char head[12] = {id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(q, head, sizeof head);
    size_t pos = sizeof head;
    const char *p = name;
    while (*p) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63)
            return 0;
        q[pos++] = (unsigned char)l;
        memcpy(q + pos, p, l);
        pos += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[pos++] = 0;
    q[pos++] = (unsigned char)(type >> 8);
    q[pos++] = (unsigned char)type;
    q[pos++] = 0;
    q[pos++] = 1; /* class IN */
    return pos;
}

/* Length of the (possibly compressed) name at off, as it sits in the
 * message (not followed); 0 when malformed. */
static inline size_t dns_skip_name(const unsigned char *m, size_t len, size_t off)
{
    size_t start = off;
    while (off < len) {
        unsigned l = m[off];
        if (l == 0)
            return off + 1 - start;
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 - start : 0;
        if (l & 0xc0)
            return 0;
        off += 1 + l;
    }
    return 0;
}

/* The name at off as dotted text (compression followed, at most 32 jumps);
 * 0 or -1. */
static inline int dns_read_name(const unsigned char *m, size_t len, size_t off, char *out, size_t cap)
{
    size_t pos = 0;
    for (int jumps = 0; jumps < 32;) {
        if (off >= len)
            return -1;
        unsigned l = m[off];
        if (l == 0) {
            if (pos == 0) {
                if (cap < 2)
                    return -1;
                out[pos++] = '.';
            }
            out[pos] = 0;
            return 0;
        }
        if ((l & 0xc0) == 0xc0) {
            if (off + 1 >= len)
                return -1;
            off = ((l & 0x3f) << 8) | m[off + 1];
            jumps++;
            continue;
        }
        if (l & 0xc0 || off + 1 + l > len || pos + l + 2 > cap)
            return -1;
        if (pos)
            out[pos++] = '.';
        for (unsigned i = 0; i < l; i++) {
            unsigned char c = m[off + 1 + i];
            out[pos++] = isgraph(c) ? (char)c : '?';
        }
        off += 1 + l;
    }
    return -1;
}

struct dns_reply {
    int ok;                 /* the header and every record parsed */
    int id_ok;              /* ID equals the query's */
    int question_ok;        /* the question section is the query's, byte for byte */
    int qr, tc, rcode;
    unsigned qdcount, ancount, nscount, arcount;
    int nanswers;
    char answers[DNS_MAX_ANSWERS][DNS_NAME_MAX + 16];
};

static inline void dns_parse(const unsigned char *m, size_t len, const unsigned char *q, size_t qlen,
                             struct dns_reply *r)
{
    memset(r, 0, sizeof *r);
    if (len < 12)
        return;
    r->id_ok = qlen >= 2 && m[0] == q[0] && m[1] == q[1];
    r->qr = m[2] >> 7;
    r->tc = (m[2] >> 1) & 1;
    r->rcode = m[3] & 15;
    r->qdcount = (unsigned)(m[4] << 8 | m[5]);
    r->ancount = (unsigned)(m[6] << 8 | m[7]);
    r->nscount = (unsigned)(m[8] << 8 | m[9]);
    r->arcount = (unsigned)(m[10] << 8 | m[11]);
    size_t off = 12;
    for (unsigned i = 0; i < r->qdcount; i++) {
        size_t n = dns_skip_name(m, len, off);
        if (!n || off + n + 4 > len)
            return;
        off += n + 4;
    }
    /* The query's first question (what follows it, an EDNS0 OPT record,
     * is not echoed) must come back byte for byte, alone. */
    size_t qn = qlen > 12 ? dns_skip_name(q, qlen, 12) : 0;
    size_t qend = 12 + qn + 4;
    r->question_ok = r->qdcount == 1 && qn && qend <= qlen && off == qend && !memcmp(m + 12, q + 12, qend - 12);
    for (unsigned i = 0; i < r->ancount; i++) {
        size_t n = dns_skip_name(m, len, off);
        if (!n || off + n + 10 > len)
            return;
        off += n;
        int type = m[off] << 8 | m[off + 1];
        size_t rdlen = (size_t)(m[off + 8] << 8 | m[off + 9]);
        off += 10;
        if (off + rdlen > len)
            return;
        if (r->nanswers < DNS_MAX_ANSWERS) {
            char *a = r->answers[r->nanswers++];
            size_t cap = sizeof r->answers[0];
            char ip[INET6_ADDRSTRLEN], name[DNS_NAME_MAX], tbuf[16];
            if (type == DNS_T_A && rdlen == 4 && inet_ntop(AF_INET, m + off, ip, sizeof ip))
                snprintf(a, cap, "A %s", ip);
            else if (type == DNS_T_AAAA && rdlen == 16 && inet_ntop(AF_INET6, m + off, ip, sizeof ip))
                snprintf(a, cap, "AAAA %s", ip);
            else if ((type == DNS_T_PTR || type == DNS_T_CNAME) && dns_read_name(m, len, off, name, sizeof name) == 0)
                snprintf(a, cap, "%s %s", type == DNS_T_PTR ? "PTR" : "CNAME", name);
            else
                snprintf(a, cap, "%s len=%zu", dns_type_name(type, tbuf, sizeof tbuf), rdlen);
        }
        off += rdlen;
    }
    r->ok = 1;
}

/* The first A/AAAA answer's address text (after "A "/"AAAA "), or NULL. */
static inline const char *dns_first_address(const struct dns_reply *r)
{
    for (int i = 0; i < r->nanswers; i++) {
        if (!strncmp(r->answers[i], "A ", 2))
            return r->answers[i] + 2;
        if (!strncmp(r->answers[i], "AAAA ", 5))
            return r->answers[i] + 5;
    }
    return NULL;
}

#endif /* DNS_MSG_H */
