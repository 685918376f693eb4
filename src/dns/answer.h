/*
 * dns/answer.h — torify's answer to one DNS query, the same answer the shim
 * gives for the same name (getaddrinfo, gethostbyname*, getnameinfo):
 *
 *   A / AAAA of a host name or .onion -> its fake address (the fake map's
 *                                slot: the connect that follows goes to Tor
 *                                by name)
 *   localhost names, the machine's own name -> 127.0.0.1 / ::1
 *   an address literal          -> itself (A of IPv4, AAAA of IPv6)
 *   PTR of a fake address       -> its name (NXDOMAIN when none is there)
 *   PTR of loopback             -> "localhost"
 *   PTR of another address      -> resolve_ptr (the shim: Tor's RESOLVE_PTR,
 *                                as getnameinfo), NXDOMAIN without one
 *   other types (MX, TXT, SRV, HTTPS, SVCB, ANY...) -> NOERROR, no records:
 *                                Tor resolves nothing else, and programs
 *                                then fall back to A / AAAA
 *   names the policy refuses    -> NXDOMAIN (the shim: EAI_NONAME)
 *   broken configuration        -> REFUSED for host names (the shim refuses
 *                                their lookups: it fails closed)
 *   class other than IN         -> REFUSED: the query kind is implemented,
 *                                the data is not served (NOTIMP is kept for
 *                                opcodes torify does not implement)
 *   fake map full or missing    -> SERVFAIL (the shim: EAI_AGAIN)
 *   malformed / several questions -> FORMERR; EDNS version != 0 -> BADVERS
 *   a response, or under 12 bytes -> nothing is sent
 *
 * Sans-IO except for what the answerer's own fields bring: the fake map
 * (shared memory, its own lock), gethostname when hostname is NULL, and the
 * optional callbacks.  No globals: any number of threads may answer at once.
 */
#ifndef TORIFY_DNS_ANSWER_H
#define TORIFY_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>
#include <torify/error.h>
#include "core/config.h"
#include "core/fakemap.h"

/* TTL of every answer when the answerer says 0.  Short: a fake address
 * stays its name's only while the slot is not recycled (core/fakemap.h), so
 * a cache must not keep it for long. */
#define TORIFY_DNS_TTL_DEFAULT 60u

enum torify_dns_transport { TORIFY_DNS_UDP, TORIFY_DNS_TCP }; /* TCP: caller strips/adds the 2-byte length */

struct torify_dns_answerer {
    struct torify_fakemap *map;        /* the process tree's fake map (core/fakemap.h) */
    const struct torify_config *cfg;   /* policy; NULL = defaults */
    const char *hostname;              /* the machine's own name, as the shim uses it (NULL = ask gethostname) */
    uint32_t ttl;                      /* TTL of answers (0 = TORIFY_DNS_TTL_DEFAULT) */
    /* Optional "real answers" (ResolveThroughTor, dns/tor.h): NULL = fake
     * addresses (the default).  resolve: A/AAAA of a host name (never of
     * .onion, localhost or literals), family AF_INET or AF_INET6, 4 or 16
     * bytes into addr.  TORIFY_E_PROTO_RESOLVE_TYPE: the name has no address
     * of that family (NOERROR, no record); Tor's "no such host" replies
     * (TORIFY_E_S5_HOST_UNREACH, _S5_GENERAL, _S4_REJECTED) and questions
     * Tor cannot be asked (TORIFY_E_INVAL_TARGET, _INVAL_HOST_*): NXDOMAIN;
     * any other error (Tor unreachable, timeout): SERVFAIL.
     * resolve_ptr: the name of an address that is neither fake nor loopback,
     * NUL-terminated into name[0..len); errors as for resolve. */
    torify_err (*resolve)(void *ctx, const char *name, int family, uint8_t addr[16]);
    torify_err (*resolve_ptr)(void *ctx, int family, const uint8_t *addr, char *name, size_t len);
    void *ctx;
    /* The configuration is broken (state's config_err): host names are
     * REFUSED, as the shim refuses their lookups. */
    bool config_broken;
};

struct torify_dns_summary { char name[256]; int qtype; int rcode; int answers; char first[64]; }; /* for one log line */

/* One query in, one reply out.  Returns the reply length, or 0 when nothing must be sent (a response, a
 * message shorter than a header).  Never writes more than cap.  Thread-safe (the fake map locks).
 * what->name is the question's name with unprintable bytes as '?', what->first the first answer
 * (address or name), "" when none; rcode -1 and qtype -1 when nothing was sent. */
size_t torify_dns_answer(const struct torify_dns_answerer *a, enum torify_dns_transport t,
                         const uint8_t *query, size_t len, uint8_t *reply, size_t cap,
                         struct torify_dns_summary *what /* may be NULL */);

/* The name of a DNS type for log lines ("A", "SRV", "type 99"); returns buf
 * or a constant. */
const char *torify_dns_type_name(int type, char *buf, size_t len);
/* "NOERROR", "NXDOMAIN"... ("rcode 9" for others). */
const char *torify_dns_rcode_name(int rcode, char *buf, size_t len);

#endif
