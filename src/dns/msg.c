/* dns/msg.c — see msg.h. */
#include "dns/msg.h"

#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* A name at msg[off..]: *next is the offset after it in the message (after
 * the first pointer, if any).  wire (may be NULL) receives the labels
 * uncompressed.  text_ok (may be NULL) is cleared when a label holds '.' or
 * NUL.  Returns the wire length, 0 when malformed. */
static size_t read_name(const uint8_t *msg, size_t len, size_t off, size_t *next, uint8_t *wire, bool *text_ok)
{
    size_t pos = off, wl = 0;
    size_t bound = off; /* every pointer must go below the lowest place read so far */
    bool jumped = false;
    for (;;) {
        if (pos >= len)
            return 0;
        uint8_t b = msg[pos];
        if ((b & 0xC0) == 0xC0) {
            if (pos + 1 >= len)
                return 0;
            size_t target = ((size_t)(b & 0x3F) << 8) | msg[pos + 1];
            if (target >= bound)
                return 0; /* forward, or a loop */
            if (!jumped)
                *next = pos + 2;
            jumped = true;
            bound = target;
            pos = target;
            continue;
        }
        if (b & 0xC0)
            return 0; /* 01 and 10: extended label types (RFC 6891 5), none in use */
        if (b == 0) {
            if (wl + 1 > TORIFY_DNS_NAME_WIRE_MAX)
                return 0;
            if (wire)
                wire[wl] = 0;
            wl++;
            if (!jumped)
                *next = pos + 1;
            return wl;
        }
        if (pos + 1 + b > len || wl + 1 + b + 1 > TORIFY_DNS_NAME_WIRE_MAX)
            return 0;
        if (wire)
            memcpy(wire + wl, msg + pos, 1 + (size_t)b);
        if (text_ok)
            for (size_t i = 1; i <= b; i++)
                if (msg[pos + i] == '.' || msg[pos + i] == 0)
                    *text_ok = false;
        wl += 1 + (size_t)b;
        pos += 1 + (size_t)b;
    }
}

/* Dotted text of a wire name read by read_name (labels are sound). */
static void wire_to_text(const uint8_t *wire, size_t wl, char *text)
{
    size_t i = 0, t = 0;
    while (i < wl && wire[i] != 0) {
        size_t n = wire[i];
        if (t)
            text[t++] = '.';
        memcpy(text + t, wire + i + 1, n);
        t += n;
        i += 1 + n;
    }
    text[t] = '\0';
}

/* One resource record at *off: its type, class, TTL and rdata bounds. */
struct rr_view {
    bool root_owner;
    uint16_t type, rclass;
    uint32_t ttl;
    size_t rdlen;
};

static bool read_rr(const uint8_t *msg, size_t len, size_t *off, struct rr_view *rr)
{
    uint8_t wire[TORIFY_DNS_NAME_WIRE_MAX];
    size_t next = 0;
    size_t wl = read_name(msg, len, *off, &next, wire, NULL);
    if (wl == 0 || next + 10 > len)
        return false;
    rr->root_owner = wl == 1;
    rr->type = get16(msg + next);
    rr->rclass = get16(msg + next + 2);
    rr->ttl = ((uint32_t)get16(msg + next + 4) << 16) | get16(msg + next + 6);
    rr->rdlen = get16(msg + next + 8);
    if (next + 10 + rr->rdlen > len)
        return false;
    *off = next + 10 + rr->rdlen;
    return true;
}

static bool read_question(const uint8_t *msg, size_t len, size_t *off, struct torify_dns_query *q, bool keep)
{
    uint8_t wire[TORIFY_DNS_NAME_WIRE_MAX];
    bool text_ok = true;
    size_t next = 0;
    size_t wl = read_name(msg, len, *off, &next, wire, &text_ok);
    if (wl == 0 || next + 4 > len)
        return false;
    if (keep) {
        memcpy(q->qname_wire, wire, wl);
        q->qname_wire_len = wl;
        wire_to_text(wire, wl, q->qname);
        q->qname_text_ok = text_ok;
        q->qtype = get16(msg + next);
        q->qclass = get16(msg + next + 2);
        q->has_question = true;
    }
    *off = next + 4;
    return true;
}

static enum torify_dns_parse parse_error(struct torify_dns_query *q, int rcode)
{
    q->rcode = rcode;
    return TORIFY_DNS_PARSE_ERROR;
}

enum torify_dns_parse torify_dns_parse_query(const uint8_t *msg, size_t len, struct torify_dns_query *q)
{
    memset(q, 0, sizeof *q);
    if (!msg || len < TORIFY_DNS_HEADER_LEN)
        return TORIFY_DNS_PARSE_IGNORE;
    q->id = get16(msg);
    q->flags = get16(msg + 2);
    q->opcode = (q->flags >> 11) & 0xF;
    if (q->flags & TORIFY_DNS_F_QR)
        return TORIFY_DNS_PARSE_IGNORE; /* a response: answering it could start a loop */
    uint16_t qd = get16(msg + 4), an = get16(msg + 6), ns = get16(msg + 8), ar = get16(msg + 10);

    /* Read every section, so the OPT record is found even when the
     * question is wrong, and a reply can carry it back (RFC 6891 7). */
    size_t off = TORIFY_DNS_HEADER_LEN;
    bool malformed = false;
    for (uint16_t i = 0; i < qd && !malformed; i++)
        malformed = !read_question(msg, len, &off, q, i == 0);
    struct rr_view rr;
    for (uint32_t i = 0; i < (uint32_t)an + ns && !malformed; i++)
        malformed = !read_rr(msg, len, &off, &rr);
    for (uint16_t i = 0; i < ar && !malformed; i++) {
        if (!read_rr(msg, len, &off, &rr)) {
            malformed = true;
        } else if (rr.type == TORIFY_DNS_T_OPT) {
            if (q->edns || !rr.root_owner)
                malformed = true; /* RFC 6891 6.1.1: one OPT, owned by the root */
            q->edns = true;
            q->edns_udp = rr.rclass;
            q->edns_version = (uint8_t)(rr.ttl >> 16);
            q->edns_do = (rr.ttl & 0x8000u) != 0;
        }
    }
    if (malformed || qd != 1) {
        if (qd != 1)
            q->has_question = false; /* never echo one question of several */
        return parse_error(q, TORIFY_DNS_FORMERR);
    }
    if (q->edns && q->edns_version != 0)
        return parse_error(q, TORIFY_DNS_BADVERS);
    if (q->opcode != TORIFY_DNS_OPCODE_QUERY)
        return parse_error(q, TORIFY_DNS_NOTIMP);
    return TORIFY_DNS_PARSE_OK;
}

size_t torify_dns_reply_limit(const struct torify_dns_query *q, bool udp, size_t cap)
{
    size_t limit = TORIFY_DNS_TCP_MAX;
    if (udp) {
        limit = TORIFY_DNS_UDP_MIN;
        if (q && q->edns && q->edns_udp > limit)
            limit = q->edns_udp;
    }
    return limit < cap ? limit : cap;
}

size_t torify_dns_build_reply(const struct torify_dns_query *q, int rcode, const struct torify_dns_rr *rr,
                              size_t n_rr, uint8_t *out, size_t limit)
{
    if (!out || limit < TORIFY_DNS_HEADER_LEN)
        return 0;
    size_t question = q->has_question ? q->qname_wire_len + 4 : 0;
    size_t opt = q->edns ? TORIFY_DNS_OPT_LEN : 0;
    size_t answers = 0;
    if (q->has_question) /* an answer's owner is a pointer to the question */
        for (size_t i = 0; i < n_rr; i++)
            answers += 2 + 10 + rr[i].rdlen;
    else
        n_rr = 0;
    bool tc = false;
    if (TORIFY_DNS_HEADER_LEN + question + answers + opt > limit) {
        tc = true;
        n_rr = 0;
        answers = 0;
        if (TORIFY_DNS_HEADER_LEN + question + opt > limit)
            opt = 0;
        if (TORIFY_DNS_HEADER_LEN + question > limit)
            question = 0;
    }

    uint16_t flags = TORIFY_DNS_F_QR | (uint16_t)((q->opcode & 0xF) << 11) | TORIFY_DNS_F_AA | TORIFY_DNS_F_RA |
                     (q->flags & (TORIFY_DNS_F_RD | TORIFY_DNS_F_CD)) | (uint16_t)(rcode & 0xF);
    if (tc)
        flags |= TORIFY_DNS_F_TC;
    put16(out, q->id);
    put16(out + 2, flags);
    put16(out + 4, question ? 1 : 0);
    put16(out + 6, (uint16_t)n_rr);
    put16(out + 8, 0);
    put16(out + 10, opt ? 1 : 0);
    size_t off = TORIFY_DNS_HEADER_LEN;
    if (question) {
        memcpy(out + off, q->qname_wire, q->qname_wire_len);
        off += q->qname_wire_len;
        put16(out + off, q->qtype);
        put16(out + off + 2, q->qclass);
        off += 4;
    }
    for (size_t i = 0; i < n_rr; i++) {
        put16(out + off, 0xC000u | TORIFY_DNS_HEADER_LEN);
        put16(out + off + 2, rr[i].type);
        put16(out + off + 4, TORIFY_DNS_CLASS_IN);
        put32(out + off + 6, rr[i].ttl);
        put16(out + off + 10, (uint16_t)rr[i].rdlen);
        if (rr[i].rdlen)
            memcpy(out + off + 12, rr[i].rdata, rr[i].rdlen);
        off += 12 + rr[i].rdlen;
    }
    if (opt) {
        out[off] = 0; /* root owner */
        put16(out + off + 1, TORIFY_DNS_T_OPT);
        put16(out + off + 3, TORIFY_DNS_EDNS_ADVERTISED);
        /* TTL: extended rcode (upper 8 of 12 bits), version 0, DO, Z 0. */
        uint32_t ttl = ((uint32_t)((rcode >> 4) & 0xFF) << 24) | (q->edns_do ? 0x8000u : 0);
        put32(out + off + 5, ttl);
        put16(out + off + 9, 0);
        off += TORIFY_DNS_OPT_LEN;
    }
    return off;
}

size_t torify_dns_name_to_wire(const char *name, uint8_t *out, size_t cap)
{
    if (!name || !out)
        return 0;
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    size_t wl = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && name[j] != '.')
            j++;
        size_t lab = j - i;
        if (lab == 0 || lab > 63 || wl + 1 + lab + 1 > TORIFY_DNS_NAME_WIRE_MAX || wl + 1 + lab + 1 > cap)
            return 0;
        out[wl] = (uint8_t)lab;
        memcpy(out + wl + 1, name + i, lab);
        wl += 1 + lab;
        i = j + 1;
        if (j < n && i == n)
            return 0; /* "a..": the last label empty */
    }
    if (wl + 1 > cap)
        return 0;
    out[wl++] = 0;
    return wl;
}

size_t torify_dns_build_query(uint16_t id, const char *name, int qclass, int qtype, uint8_t *out, size_t cap)
{
    if (!out || cap < TORIFY_DNS_HEADER_LEN)
        return 0;
    size_t wl = torify_dns_name_to_wire(name, out + TORIFY_DNS_HEADER_LEN, cap - TORIFY_DNS_HEADER_LEN);
    if (wl == 0 || TORIFY_DNS_HEADER_LEN + wl + 4 > cap)
        return 0;
    put16(out, id);
    put16(out + 2, TORIFY_DNS_F_RD);
    put16(out + 4, 1);
    put16(out + 6, 0);
    put16(out + 8, 0);
    put16(out + 10, 0);
    put16(out + TORIFY_DNS_HEADER_LEN + wl, (uint16_t)qtype);
    put16(out + TORIFY_DNS_HEADER_LEN + wl + 2, (uint16_t)qclass);
    return TORIFY_DNS_HEADER_LEN + wl + 4;
}

bool torify_dns_header(const uint8_t *msg, size_t len, uint16_t *flags, uint16_t counts[4])
{
    if (!msg || len < TORIFY_DNS_HEADER_LEN)
        return false;
    if (flags)
        *flags = get16(msg + 2);
    if (counts)
        for (int i = 0; i < 4; i++)
            counts[i] = get16(msg + 4 + 2 * i);
    return true;
}
