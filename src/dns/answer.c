/* dns/answer.c — see answer.h. */
#include "dns/answer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/lookup.h"
#include "core/policy.h"
#include "dns/msg.h"
#include "dns/reverse.h"

/* What the answer is: an rcode and at most one record (torify has one
 * address per name, as the shim's getaddrinfo returns one). */
struct outcome {
    int rcode;
    bool has_rr;
    uint16_t type;
    uint8_t rdata[TORIFY_DNS_NAME_WIRE_MAX];
    size_t rdlen;
    char first[64];
};

static void set_addr(struct outcome *o, int family, const uint8_t *addr)
{
    size_t n = family == AF_INET ? 4 : 16;
    o->rcode = TORIFY_DNS_NOERROR;
    o->has_rr = true;
    o->type = family == AF_INET ? TORIFY_DNS_T_A : TORIFY_DNS_T_AAAA;
    memcpy(o->rdata, addr, n);
    o->rdlen = n;
    if (!inet_ntop(family, addr, o->first, sizeof o->first))
        o->first[0] = '\0';
}

static void set_name(struct outcome *o, const char *name)
{
    size_t wl = torify_dns_name_to_wire(name, o->rdata, sizeof o->rdata);
    if (wl == 0) {
        o->rcode = TORIFY_DNS_NXDOMAIN; /* a name that has no wire form names nothing */
        return;
    }
    o->rcode = TORIFY_DNS_NOERROR;
    o->has_rr = true;
    o->type = TORIFY_DNS_T_PTR;
    o->rdlen = wl;
    /* For a log line: a long name is cut, the record keeps it whole. */
    size_t n = strlen(name);
    if (n >= sizeof o->first)
        n = sizeof o->first - 1;
    memcpy(o->first, name, n);
    o->first[n] = '\0';
}

/* The rcode of a callback's failure (answer.h). */
static int rcode_of(torify_err e)
{
    switch (e) {
    case TORIFY_E_PROTO_RESOLVE_TYPE:
        return TORIFY_DNS_NOERROR;
    case TORIFY_E_S5_HOST_UNREACH:
    case TORIFY_E_S5_GENERAL:
    case TORIFY_E_S4_REJECTED:
    /* A question Tor cannot be asked (SOCKS4a has no RESOLVE_PTR, a name
     * SOCKS cannot carry): there is no answer to have, as getnameinfo then
     * gives no name. */
    case TORIFY_E_INVAL_TARGET:
    case TORIFY_E_INVAL_HOST_EMPTY:
    case TORIFY_E_INVAL_HOST_TOO_LONG:
    case TORIFY_E_INVAL_HOST_NUL:
        return TORIFY_DNS_NXDOMAIN;
    default:
        return TORIFY_DNS_SERVFAIL;
    }
}

static bool in_fake_range(const struct torify_dns_answerer *a, int family, const uint8_t *addr)
{
    if (a->map)
        return torify_fakemap_in_range(a->map, family, addr);
    if (a->cfg)
        return torify_cidr_contains(family == AF_INET ? &a->cfg->fake4 : &a->cfg->fake6, family, addr);
    return false;
}

static void answer_ptr(const struct torify_dns_answerer *a, int family, const uint8_t *addr, struct outcome *o)
{
    struct torify_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = family;
    memcpy(ip.addr, addr, family == AF_INET ? 4 : 16);
    if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
        /* ::ffff:a.b.c.d is a.b.c.d, as torify_ip_from_sockaddr folds it. */
        ip.family = AF_INET;
        memmove(ip.addr, ip.addr + 12, 4);
    }
    char name[TORIFY_FAKEMAP_NAME_MAX + 1];
    switch (torify_policy_reverse_kind(&ip, in_fake_range(a, ip.family, ip.addr))) {
    case TORIFY_REVERSE_FAKE:
        if (!a->map) {
            o->rcode = TORIFY_DNS_SERVFAIL;
        } else if (torify_fakemap_lookup_addr(a->map, ip.family, ip.addr, name, sizeof name, NULL) == TORIFY_OK) {
            set_name(o, name);
        } else {
            o->rcode = TORIFY_DNS_NXDOMAIN; /* in range, but no name there */
        }
        return;
    case TORIFY_REVERSE_LOCALHOST:
        set_name(o, "localhost");
        return;
    case TORIFY_REVERSE_TOR:
        break;
    }
    if (!a->resolve_ptr || a->config_broken) {
        o->rcode = TORIFY_DNS_NXDOMAIN;
        return;
    }
    torify_err e = a->resolve_ptr(a->ctx, ip.family, ip.addr, name, sizeof name);
    if (e == TORIFY_OK) {
        name[sizeof name - 1] = '\0';
        set_name(o, name);
    } else {
        o->rcode = rcode_of(e) == TORIFY_DNS_NOERROR ? TORIFY_DNS_NXDOMAIN : rcode_of(e);
    }
}

/* A / AAAA of a name of this kind: the shim's answer (core/lookup.h), or
 * with the resolve callback Tor's for a host name. */
static void answer_name(const struct torify_dns_answerer *a, const char *name, enum torify_name_kind kind, int family,
                        struct outcome *o)
{
    uint8_t addr[16];
    if (a->resolve && kind == TORIFY_NAME_HOST) {
        torify_err e = a->resolve(a->ctx, name, family, addr);
        if (e == TORIFY_OK)
            set_addr(o, family, addr);
        else
            o->rcode = rcode_of(e);
        return;
    }
    struct torify_fakemap *m = torify_lookup_needs_map(kind) ? a->map : NULL;
    switch (torify_lookup_name(kind, name, family, !a->config_broken, m, addr, NULL)) {
    case TORIFY_LOOKUP_OK:
        set_addr(o, family, addr);
        return;
    case TORIFY_LOOKUP_NODATA:
        o->rcode = TORIFY_DNS_NOERROR;
        return;
    case TORIFY_LOOKUP_NONAME:
        o->rcode = TORIFY_DNS_NXDOMAIN; /* as getaddrinfo: EAI_NONAME */
        return;
    case TORIFY_LOOKUP_AGAIN:
        o->rcode = TORIFY_DNS_SERVFAIL; /* every slot held by a live connection (getaddrinfo: EAI_AGAIN) */
        return;
    case TORIFY_LOOKUP_REFUSED:
        o->rcode = TORIFY_DNS_REFUSED;
        return;
    }
}

static void decide(const struct torify_dns_answerer *a, const struct torify_dns_query *q, struct outcome *o)
{
    o->rcode = TORIFY_DNS_NOERROR;
    if (q->qclass != TORIFY_DNS_CLASS_IN) {
        o->rcode = TORIFY_DNS_REFUSED;
        return;
    }
    if (!q->qname_text_ok) {
        o->rcode = TORIFY_DNS_NXDOMAIN; /* no text can name it: no lookup could find it */
        return;
    }
    if (q->qname[0] == '\0')
        return; /* the root exists and has nothing torify can give */
    int family = 0;
    uint8_t addr[16];
    if (q->qtype == TORIFY_DNS_T_PTR && torify_dns_reverse_parse(q->qname, &family, addr)) {
        answer_ptr(a, family, addr, o);
        return;
    }
    char host[256];
    const char *me = a->hostname;
    if (!me) {
        /* gethostname is uname(2): no file, no packet (as the shim asks it). */
        if (gethostname(host, sizeof host) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0';
        me = host;
    }
    enum torify_name_kind kind = torify_policy_name_kind_on(q->qname, me);
    if (kind == TORIFY_NAME_INVALID) {
        o->rcode = TORIFY_DNS_NXDOMAIN;
        return;
    }
    if (torify_lookup_needs_map(kind) && a->config_broken) {
        o->rcode = TORIFY_DNS_REFUSED; /* every type: the shim refuses host-name lookups */
        return;
    }
    family = q->qtype == TORIFY_DNS_T_A ? AF_INET : q->qtype == TORIFY_DNS_T_AAAA ? AF_INET6 : 0;
    if (family)
        answer_name(a, q->qname, kind, family, o);
    /* other types: NOERROR without records, and no slot taken */
}

static void summarize(struct torify_dns_summary *what, const struct torify_dns_query *q, int rcode,
                      const struct outcome *o)
{
    if (!what)
        return;
    size_t i = 0;
    if (q->has_question)
        for (; q->qname[i] && i < sizeof what->name - 1; i++) {
            unsigned char c = (unsigned char)q->qname[i];
            what->name[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
        }
    what->name[i] = '\0';
    what->qtype = q->has_question ? q->qtype : -1;
    what->rcode = rcode;
    what->answers = o && o->has_rr ? 1 : 0;
    memcpy(what->first, o && o->has_rr ? o->first : "", o && o->has_rr ? sizeof what->first : 1);
}

size_t torify_dns_answer(const struct torify_dns_answerer *a, enum torify_dns_transport t,
                         const uint8_t *query, size_t len, uint8_t *reply, size_t cap,
                         struct torify_dns_summary *what)
{
    if (what) {
        memset(what, 0, sizeof *what);
        what->rcode = -1;
        what->qtype = -1;
    }
    if (!a || !reply || cap < TORIFY_DNS_HEADER_LEN)
        return 0;
    struct torify_dns_query q;
    enum torify_dns_parse p = torify_dns_parse_query(query, len, &q);
    if (p == TORIFY_DNS_PARSE_IGNORE)
        return 0;
    size_t limit = torify_dns_reply_limit(&q, t == TORIFY_DNS_UDP, cap);
    if (p == TORIFY_DNS_PARSE_ERROR) {
        summarize(what, &q, q.rcode, NULL);
        return torify_dns_build_reply(&q, q.rcode, NULL, 0, reply, limit);
    }
    struct outcome o;
    memset(&o, 0, sizeof o);
    decide(a, &q, &o);
    struct torify_dns_rr rr = {
        .type = o.type, .ttl = a->ttl ? a->ttl : TORIFY_DNS_TTL_DEFAULT, .rdata = o.rdata, .rdlen = o.rdlen,
    };
    size_t n = torify_dns_build_reply(&q, o.rcode, &rr, o.has_rr ? 1 : 0, reply, limit);
    summarize(what, &q, o.rcode, &o);
    if (what && n >= TORIFY_DNS_HEADER_LEN && (reply[2] & (TORIFY_DNS_F_TC >> 8)))
        what->answers = 0; /* truncated: the record was left out */
    return n;
}

const char *torify_dns_type_name(int type, char *buf, size_t len)
{
    switch (type) {
    case TORIFY_DNS_T_A: return "A";
    case TORIFY_DNS_T_NS: return "NS";
    case TORIFY_DNS_T_CNAME: return "CNAME";
    case TORIFY_DNS_T_SOA: return "SOA";
    case TORIFY_DNS_T_PTR: return "PTR";
    case TORIFY_DNS_T_MX: return "MX";
    case TORIFY_DNS_T_TXT: return "TXT";
    case TORIFY_DNS_T_AAAA: return "AAAA";
    case TORIFY_DNS_T_SRV: return "SRV";
    case TORIFY_DNS_T_SVCB: return "SVCB";
    case TORIFY_DNS_T_HTTPS: return "HTTPS";
    case TORIFY_DNS_T_ANY: return "ANY";
    default:
        snprintf(buf, len, "type %d", type);
        return buf;
    }
}

const char *torify_dns_rcode_name(int rcode, char *buf, size_t len)
{
    switch (rcode) {
    case TORIFY_DNS_NOERROR: return "NOERROR";
    case TORIFY_DNS_FORMERR: return "FORMERR";
    case TORIFY_DNS_SERVFAIL: return "SERVFAIL";
    case TORIFY_DNS_NXDOMAIN: return "NXDOMAIN";
    case TORIFY_DNS_NOTIMP: return "NOTIMP";
    case TORIFY_DNS_REFUSED: return "REFUSED";
    case TORIFY_DNS_BADVERS: return "BADVERS";
    default:
        snprintf(buf, len, "rcode %d", rcode);
        return buf;
    }
}
