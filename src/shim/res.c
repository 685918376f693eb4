/* shim/res.c — the res_* resolver family, answered in-process.
 *
 * These would build DNS packets and send them to the configured nameserver
 * themselves, leaking every name to the local network.  Instead each query
 * goes to torify's own answerer (dns/answer.h) — no socket at all — which
 * gives the answers getaddrinfo and getnameinfo give here: a host name's
 * fake address, loopback for localhost, a fake address's name, and NOERROR
 * without records for types Tor cannot resolve (SRV, MX...: apt asks for
 * SRV first and goes on without).  With ResolveThroughTor, A / AAAA come
 * from Tor's RESOLVE instead (blocking, one round trip).  PTR of an
 * address that is neither fake nor loopback is asked of Tor (RESOLVE_PTR),
 * as getnameinfo does.
 *
 * The query forms (res_query, res_search, res_querydomain and res_n*)
 * report as glibc's do: the reply's length, or -1 with h_errno (and
 * statp->res_h_errno) HOST_NOT_FOUND for NXDOMAIN, TRY_AGAIN for
 * SERVFAIL, NO_DATA for an answer without records, NO_RECOVERY for the
 * rest.  res_search applies no search list: every name already has an
 * answer as it is, as in getaddrinfo.  The send forms return the reply
 * whatever its rcode.  glibc exports both res_query (2.34+) and the older
 * __res_query names that binaries built against older headers use.  An
 * exempt process (ExemptExecutable) gets libc's functions untouched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/policy.h"
#include "dns/answer.h"
#include "dns/msg.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/state.h"
#include "shim/tor.h"

/* The answerer's callbacks: ctx is the process's configuration. */
static torify_err res_resolve(void *ctx, const char *name, int family, uint8_t addr[16])
{
    return torify_tor_resolve(ctx, name, family, addr);
}

static torify_err res_resolve_ptr(void *ctx, int family, const uint8_t *addr, char *name, size_t len)
{
    struct torify_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = family;
    memcpy(ip.addr, addr, family == AF_INET ? 4 : 16);
    return torify_tor_resolve_ptr(ctx, &ip, name, len);
}

/* One line per answer, at the level getaddrinfo's lines have (info); a
 * type Tor cannot resolve is what programs probe and do without (debug). */
static void report(const char *call, const struct torify_dns_summary *w, const struct torify_dns_answerer *a,
                   bool real)
{
    char tb[16], rb[16];
    const struct torify_fakemap *m = a->map;
    const char *type = torify_dns_type_name(w->qtype, tb, sizeof tb);
    if (w->rcode == TORIFY_DNS_REFUSED && a->config_broken) {
        torify_refuse(TORIFY_E_REFUSE_CONFIG, "lookup of %s", w->name);
        return;
    }
    if (w->rcode == TORIFY_DNS_SERVFAIL && m && !real) {
        torify_log(TORIFY_LOG_NOTICE, "%s(%s, %s): no fake address free (all %u in use by connections)", call,
                   w->name, type, torify_fakemap_capacity(m));
        return;
    }
    if (w->answers > 0) {
        if (torify_log_enabled(TORIFY_LOG_INFO))
            torify_log(TORIFY_LOG_INFO, "%s(%s, %s) -> %s (%s)", call, w->name, type, w->first,
                       w->qtype == TORIFY_DNS_T_PTR ? "answered in-process"
                       : real                       ? "Tor's RESOLVE"
                                                    : "fake address, resolved by Tor's exit");
        return;
    }
    bool carried = torify_policy_dns_type_carried(w->qtype);
    enum torify_log_level level = carried ? TORIFY_LOG_INFO : TORIFY_LOG_DEBUG;
    if (torify_log_enabled(level))
        torify_log(level, "%s(%s, %s) -> %s, no records%s", call, w->name, type,
                   torify_dns_rcode_name(w->rcode, rb, sizeof rb),
                   carried ? "" : " (Tor resolves only A, AAAA and PTR)");
}

/* Answer query[0..qlen) into answer[0..anslen).  Returns the reply's
 * length (0: no reply), *rcode its rcode and *an its answer count. */
static int answer_query(const char *call, const uint8_t *query, size_t qlen, unsigned char *answer, int anslen,
                        int *rcode, int *an)
{
    const struct torify_state_config *st = torify_state_config(); /* also sets up logging */
    struct torify_dns_answerer a;
    memset(&a, 0, sizeof a);
    a.map = torify_state_fakemap(NULL);
    a.cfg = &st->cfg;
    char host[256];
    if (torify_shim_etc_hostname(host, sizeof host) != 0 && torify_shim_real_hostname(host, sizeof host) != 0)
        host[0] = '\0';
    a.hostname = host; /* the real name on each query, as torify_shim_name_kind */
    a.config_broken = st->config_err != TORIFY_OK;
    a.ctx = (void *)&st->cfg;
    a.resolve_ptr = res_resolve_ptr;
    bool real = st->cfg.resolve_through_tor;
    if (real)
        a.resolve = res_resolve;
    struct torify_dns_summary w;
    size_t n = anslen > 0 && answer
                   ? torify_dns_answer(&a, TORIFY_DNS_TCP, query, qlen, answer, (size_t)anslen, &w)
                   : 0;
    if (n == 0) {
        *rcode = -1;
        *an = 0;
        return 0;
    }
    report(call, &w, &a, real);
    uint16_t flags = 0, counts[4] = { 0 };
    (void)torify_dns_header(answer, n, &flags, counts);
    *rcode = w.rcode;
    *an = counts[1];
    return (int)n;
}

static int fail(res_state statp, int herr, int err)
{
    if (statp)
        statp->res_h_errno = herr;
    h_errno = herr;
    errno = err;
    return -1;
}

/* The query forms: build the question, answer it, map the rcode (glibc's
 * res_nquery does the same mapping). */
static int do_query(res_state statp, const char *call, const char *name, int cls, int type, unsigned char *answer,
                    int anslen)
{
    uint8_t q[TORIFY_DNS_HEADER_LEN + TORIFY_DNS_NAME_WIRE_MAX + 4];
    uint16_t id = statp ? statp->id : 0;
    size_t qn = name && cls >= 0 && cls <= 0xFFFF && type >= 0 && type <= 0xFFFF
                    ? torify_dns_build_query(id, name, cls, type, q, sizeof q)
                    : 0;
    if (qn == 0)
        return fail(statp, NO_RECOVERY, EINVAL); /* no wire form: res_mkquery fails too */
    int rcode, an;
    int n = answer_query(call, q, qn, answer, anslen, &rcode, &an);
    if (n == 0)
        return fail(statp, NO_RECOVERY, EMSGSIZE); /* answer buffer under a header */
    if (rcode != TORIFY_DNS_NOERROR || an == 0) {
        int herr = rcode == TORIFY_DNS_NXDOMAIN   ? HOST_NOT_FOUND
                   : rcode == TORIFY_DNS_SERVFAIL ? TRY_AGAIN
                   : rcode == TORIFY_DNS_NOERROR  ? NO_DATA
                                                  : NO_RECOVERY;
        return fail(statp, herr, errno);
    }
    if (statp)
        statp->res_h_errno = NETDB_SUCCESS;
    h_errno = NETDB_SUCCESS;
    return n;
}

static int do_querydomain(res_state statp, const char *call, const char *name, const char *domain, int cls,
                          int type, unsigned char *answer, int anslen)
{
    char full[NS_MAXDNAME];
    int r = domain && *domain ? snprintf(full, sizeof full, "%s.%s", name ? name : "", domain)
                              : snprintf(full, sizeof full, "%s", name ? name : "");
    if (r < 0 || (size_t)r >= sizeof full)
        return fail(statp, NO_RECOVERY, EMSGSIZE);
    return do_query(statp, call, full, cls, type, answer, anslen);
}

static int do_send(res_state statp, const char *call, const unsigned char *msg, int msglen, unsigned char *answer,
                   int anslen)
{
    int rcode, an;
    int n = msg && msglen > 0 ? answer_query(call, msg, (size_t)msglen, answer, anslen, &rcode, &an) : 0;
    if (n == 0)
        return fail(statp, NO_RECOVERY, EINVAL); /* not a query, or no room for a reply */
    return n;
}

typedef int (*query_fn)(const char *, int, int, unsigned char *, int);
typedef int (*querydomain_fn)(const char *, const char *, int, int, unsigned char *, int);
typedef int (*send_fn)(const unsigned char *, int, unsigned char *, int);
typedef int (*nquery_fn)(res_state, const char *, int, int, unsigned char *, int);
typedef int (*nquerydomain_fn)(res_state, const char *, const char *, int, int, unsigned char *, int);
typedef int (*nsend_fn)(res_state, const unsigned char *, int, unsigned char *, int);

/* Each res_* and its __res_* twin: pass-through when exempt, else answered. */
static int query(enum torify_real_id id, const char *call, const char *d, int c, int t, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        query_fn f = (query_fn)torify_real(id);
        return f ? f(d, c, t, a, l) : -1;
    }
    return do_query(NULL, call, d, c, t, a, l);
}

static int querydomain(const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        querydomain_fn f = REAL(RES_QUERYDOMAIN, querydomain_fn);
        return f ? f(n, d, c, t, a, l) : -1;
    }
    return do_querydomain(NULL, "res_querydomain", n, d, c, t, a, l);
}

static int send_plain(const unsigned char *m, int ml, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        send_fn f = REAL(RES_SEND, send_fn);
        return f ? f(m, ml, a, l) : -1;
    }
    return do_send(NULL, "res_send", m, ml, a, l);
}

static int nquery(enum torify_real_id id, const char *call, res_state st, const char *d, int c, int t,
                  unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        nquery_fn f = (nquery_fn)torify_real(id);
        return f ? f(st, d, c, t, a, l) : -1;
    }
    return do_query(st, call, d, c, t, a, l);
}

static int nquerydomain(res_state st, const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        nquerydomain_fn f = REAL(RES_NQUERYDOMAIN, nquerydomain_fn);
        return f ? f(st, n, d, c, t, a, l) : -1;
    }
    return do_querydomain(st, "res_nquerydomain", n, d, c, t, a, l);
}

static int nsend(res_state st, const unsigned char *m, int ml, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        nsend_fn f = REAL(RES_NSEND, nsend_fn);
        return f ? f(st, m, ml, a, l) : -1;
    }
    return do_send(st, "res_nsend", m, ml, a, l);
}

EXPORT int res_query(const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return query(TORIFY_REAL_RES_QUERY, "res_query", dname, class, type, answer, anslen);
}

EXPORT int res_search(const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return query(TORIFY_REAL_RES_SEARCH, "res_search", dname, class, type, answer, anslen);
}

EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer,
                           int anslen)
{
    return querydomain(name, domain, class, type, answer, anslen);
}

EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
    return send_plain(msg, msglen, answer, anslen);
}

EXPORT int res_nquery(res_state statp, const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return nquery(TORIFY_REAL_RES_NQUERY, "res_nquery", statp, dname, class, type, answer, anslen);
}

EXPORT int res_nsearch(res_state statp, const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return nquery(TORIFY_REAL_RES_NSEARCH, "res_nsearch", statp, dname, class, type, answer, anslen);
}

EXPORT int res_nquerydomain(res_state statp, const char *name, const char *domain, int class, int type,
                            unsigned char *answer, int anslen)
{
    return nquerydomain(statp, name, domain, class, type, answer, anslen);
}

EXPORT int res_nsend(res_state statp, const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
    return nsend(statp, msg, msglen, answer, anslen);
}

/* The pre-2.34 names (what binaries built against older headers call),
 * same behaviour.  Separate definitions, not aliases: the res_* prototypes
 * carry attributes an alias would have to repeat. */
EXPORT int __res_query(const char *, int, int, unsigned char *, int);
EXPORT int __res_search(const char *, int, int, unsigned char *, int);
EXPORT int __res_querydomain(const char *, const char *, int, int, unsigned char *, int);
EXPORT int __res_send(const unsigned char *, int, unsigned char *, int);
EXPORT int __res_nquery(res_state, const char *, int, int, unsigned char *, int);
EXPORT int __res_nsearch(res_state, const char *, int, int, unsigned char *, int);
EXPORT int __res_nquerydomain(res_state, const char *, const char *, int, int, unsigned char *, int);
EXPORT int __res_nsend(res_state, const unsigned char *, int, unsigned char *, int);

EXPORT int __res_query(const char *d, int c, int t, unsigned char *a, int l)
{
    return query(TORIFY_REAL_RES_QUERY, "res_query", d, c, t, a, l);
}
EXPORT int __res_search(const char *d, int c, int t, unsigned char *a, int l)
{
    return query(TORIFY_REAL_RES_SEARCH, "res_search", d, c, t, a, l);
}
EXPORT int __res_querydomain(const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    return querydomain(n, d, c, t, a, l);
}
EXPORT int __res_send(const unsigned char *m, int ml, unsigned char *a, int l) { return send_plain(m, ml, a, l); }
EXPORT int __res_nquery(res_state statp, const char *d, int c, int t, unsigned char *a, int l)
{
    return nquery(TORIFY_REAL_RES_NQUERY, "res_nquery", statp, d, c, t, a, l);
}
EXPORT int __res_nsearch(res_state statp, const char *d, int c, int t, unsigned char *a, int l)
{
    return nquery(TORIFY_REAL_RES_NSEARCH, "res_nsearch", statp, d, c, t, a, l);
}
EXPORT int __res_nquerydomain(res_state statp, const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    return nquerydomain(statp, n, d, c, t, a, l);
}
EXPORT int __res_nsend(res_state statp, const unsigned char *m, int ml, unsigned char *a, int l)
{
    return nsend(statp, m, ml, a, l);
}
