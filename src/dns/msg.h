/*
 * dns/msg.h — DNS messages, sans-IO: parse a query (RFC 1035 section 4,
 * EDNS0 per RFC 6891), build its reply.  Bytes in, bytes out: no sockets,
 * no globals, nothing interposed, so the shim, the guard's responder, the
 * unit tests and the fuzz target all drive the same code.
 *
 * The parser treats every byte as hostile: each read is bounds-checked,
 * a compression pointer must point strictly before every earlier target of
 * the same name (so a chain always ends), and a name never grows past 255
 * bytes on the wire.
 */
#ifndef TORIFY_DNS_MSG_H
#define TORIFY_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TORIFY_DNS_HEADER_LEN 12
#define TORIFY_DNS_NAME_WIRE_MAX 255   /* RFC 1035 3.1: labels + length bytes */
#define TORIFY_DNS_UDP_MIN 512         /* RFC 1035 4.2.1: what every UDP client takes */
#define TORIFY_DNS_TCP_MAX 65535       /* the 2-byte length prefix of RFC 1035 4.2.2 */
#define TORIFY_DNS_EDNS_ADVERTISED 1232 /* our OPT's payload size: fits any path MTU without fragments */
#define TORIFY_DNS_OPT_LEN 11          /* root name, type, class, ttl, rdlength 0 */

/* Response codes; BADVERS is an extended code (RFC 6891 6.1.3): its upper
 * bits go in the OPT record. */
enum torify_dns_rcode {
    TORIFY_DNS_NOERROR = 0,
    TORIFY_DNS_FORMERR = 1,
    TORIFY_DNS_SERVFAIL = 2,
    TORIFY_DNS_NXDOMAIN = 3,
    TORIFY_DNS_NOTIMP = 4,
    TORIFY_DNS_REFUSED = 5,
    TORIFY_DNS_BADVERS = 16,
};

enum {
    TORIFY_DNS_T_A = 1,
    TORIFY_DNS_T_NS = 2,
    TORIFY_DNS_T_CNAME = 5,
    TORIFY_DNS_T_SOA = 6,
    TORIFY_DNS_T_PTR = 12,
    TORIFY_DNS_T_MX = 15,
    TORIFY_DNS_T_TXT = 16,
    TORIFY_DNS_T_AAAA = 28,
    TORIFY_DNS_T_SRV = 33,
    TORIFY_DNS_T_OPT = 41,
    TORIFY_DNS_T_SVCB = 64,
    TORIFY_DNS_T_HTTPS = 65,
    TORIFY_DNS_T_ANY = 255,
    TORIFY_DNS_CLASS_IN = 1,
    TORIFY_DNS_OPCODE_QUERY = 0,
};

/* Header flag bits (second 16-bit word). */
#define TORIFY_DNS_F_QR 0x8000u
#define TORIFY_DNS_F_AA 0x0400u
#define TORIFY_DNS_F_TC 0x0200u
#define TORIFY_DNS_F_RD 0x0100u
#define TORIFY_DNS_F_RA 0x0080u
#define TORIFY_DNS_F_CD 0x0010u

enum torify_dns_parse {
    TORIFY_DNS_PARSE_OK = 1,     /* a well-formed query with one question: answer it */
    TORIFY_DNS_PARSE_ERROR,      /* reply with q->rcode (FORMERR, NOTIMP, BADVERS) */
    TORIFY_DNS_PARSE_IGNORE,     /* send nothing: shorter than a header, or a response */
};

struct torify_dns_query {
    uint16_t id;
    uint16_t flags;              /* the query's flag word as sent */
    int opcode;
    int rcode;                   /* for TORIFY_DNS_PARSE_ERROR */

    /* The (first) question.  has_question: its name and fields were read,
     * so a reply can echo it, also with an error code. */
    bool has_question;
    uint8_t qname_wire[TORIFY_DNS_NAME_WIRE_MAX]; /* uncompressed labels, case as asked, ends with 0 */
    size_t qname_wire_len;
    /* Dotted text of the name, no trailing dot, "" for the root.
     * qname_text_ok is false when a label holds a '.' or a NUL byte: no
     * text names it unambiguously, so no lookup may be made with it. */
    char qname[TORIFY_DNS_NAME_WIRE_MAX + 1];
    bool qname_text_ok;
    uint16_t qtype, qclass;

    /* EDNS0: the query's OPT record, if any. */
    bool edns;
    uint8_t edns_version;
    uint16_t edns_udp;           /* the requestor's payload size as sent */
    bool edns_do;                /* DNSSEC OK (RFC 3225): copied to the reply */
};

/* Parse msg[0..len).  Fills *q as far as it got (always id and flags when
 * len >= 12). */
enum torify_dns_parse torify_dns_parse_query(const uint8_t *msg, size_t len, struct torify_dns_query *q);

/* The most bytes a reply to q may have: over UDP max(512, the EDNS size),
 * over TCP 65535 (the length prefix), either way no more than cap. */
size_t torify_dns_reply_limit(const struct torify_dns_query *q, bool udp, size_t cap);

/* One answer record; its owner is the question's name (a pointer to it). */
struct torify_dns_rr {
    uint16_t type;
    uint32_t ttl;
    const uint8_t *rdata;
    size_t rdlen;
};

/* Build the reply to q into out[0..limit): ID, opcode, RD and CD echoed,
 * QR, AA and RA set, the question as asked (when it was read), the answer
 * records (class IN), and an OPT record when the query had one (our
 * payload size, version 0, the DO bit copied, the upper bits of rcode).
 * When it does not fit limit: TC set and no answer records (header,
 * question and OPT: RFC 6891 7), still less if even that does not fit.
 * Returns the length, 0 when limit is below a header. */
size_t torify_dns_build_reply(const struct torify_dns_query *q, int rcode, const struct torify_dns_rr *rr,
                              size_t n_rr, uint8_t *out, size_t limit);

/* A dotted name (one trailing dot allowed) in wire form into out[0..cap).
 * Returns the length (with the final 0), or 0: empty label, label over 63
 * bytes, name over 255 bytes, or out too small.  "" and "." are the root. */
size_t torify_dns_name_to_wire(const char *name, uint8_t *out, size_t cap);

/* A query (one question, RD set, no EDNS) for the res_query family.
 * Returns its length, or 0 when the name has no wire form or cap is short. */
size_t torify_dns_build_query(uint16_t id, const char *name, int qclass, int qtype, uint8_t *out, size_t cap);

/* Read the header fields of a message (at least 12 bytes): rcode (the
 * low 4 bits) and the record counts.  false when len < 12. */
bool torify_dns_header(const uint8_t *msg, size_t len, uint16_t *flags, uint16_t counts[4]);

#endif
