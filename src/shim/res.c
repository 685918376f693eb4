/* shim/res.c — the res_* resolver family: refused.
 *
 * These build and send DNS packets themselves (UDP to the configured
 * nameserver), which would leak every name to the local network and cannot
 * be carried by Tor.  Each returns -1 at once with h_errno NO_RECOVERY and
 * errno ECONNREFUSED.  glibc exports both res_query (2.34+) and the older
 * __res_query names that binaries built against older headers use.
 * An exempt process (ExemptExecutable) gets libc's functions untouched.
 */
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>

#include "core/log.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/real.h"

static const char *type_name(int type, char *buf, size_t len)
{
    switch (type) {
    case ns_t_a: return "A";
    case ns_t_ns: return "NS";
    case ns_t_cname: return "CNAME";
    case ns_t_ptr: return "PTR";
    case ns_t_mx: return "MX";
    case ns_t_txt: return "TXT";
    case ns_t_aaaa: return "AAAA";
    case ns_t_srv: return "SRV";
    default:
        snprintf(buf, len, "type %d", type);
        return buf;
    }
}

/* The res_n* forms report through the state too, as libc's do.  type < 0:
 * a raw packet (res_send), reported as it always was.  A query of a type
 * Tor cannot resolve (SRV, MX...) is what programs try first and then do
 * without (apt's SRV lookup): shown with -d, not as a default-level line. */
static int refuse_dns_typed(res_state statp, const char *call, const char *what, int type)
{
    if (statp)
        statp->res_h_errno = NO_RECOVERY;
    (void)torify_state_config(); /* sets up logging */
    if (type < 0) {
        torify_refuse(TORIFY_E_REFUSE_DNS, "%s(%s)", call, what ? what : "");
    } else {
        char num[16];
        enum torify_log_level level =
            torify_policy_refusal_level(TORIFY_E_REFUSE_DNS, !torify_policy_dns_type_carried(type));
        torify_refuse_at(level, TORIFY_E_REFUSE_DNS, "%s(%s, %s)", call, what ? what : "",
                         type_name(type, num, sizeof num));
    }
    h_errno = NO_RECOVERY;
    errno = ECONNREFUSED;
    return -1;
}

static int refuse_dns_state(res_state statp, const char *call, const char *what)
{
    return refuse_dns_typed(statp, call, what, -1);
}

static int refuse_dns(const char *call, const char *what, int type)
{
    return refuse_dns_typed(NULL, call, what, type);
}

typedef int (*query_fn)(const char *, int, int, unsigned char *, int);
typedef int (*querydomain_fn)(const char *, const char *, int, int, unsigned char *, int);
typedef int (*send_fn)(const unsigned char *, int, unsigned char *, int);
typedef int (*nquery_fn)(res_state, const char *, int, int, unsigned char *, int);
typedef int (*nquerydomain_fn)(res_state, const char *, const char *, int, int, unsigned char *, int);
typedef int (*nsend_fn)(res_state, const unsigned char *, int, unsigned char *, int);

/* Each res_* and its __res_* twin: pass-through when exempt, else refused. */
static int query(enum torify_real_id id, const char *call, const char *d, int c, int t, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        query_fn f = (query_fn)torify_real(id);
        return f ? f(d, c, t, a, l) : -1;
    }
    return refuse_dns(call, d, t);
}

static int querydomain(const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        querydomain_fn f = REAL(RES_QUERYDOMAIN, querydomain_fn);
        return f ? f(n, d, c, t, a, l) : -1;
    }
    return refuse_dns("res_querydomain", n, t);
}

static int do_send(const unsigned char *m, int ml, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        send_fn f = REAL(RES_SEND, send_fn);
        return f ? f(m, ml, a, l) : -1;
    }
    return refuse_dns("res_send", "raw query", -1);
}

static int nquery(enum torify_real_id id, const char *call, res_state st, const char *d, int c, int t,
                  unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        nquery_fn f = (nquery_fn)torify_real(id);
        return f ? f(st, d, c, t, a, l) : -1;
    }
    return refuse_dns_typed(st, call, d, t);
}

static int nquerydomain(res_state st, const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        nquerydomain_fn f = REAL(RES_NQUERYDOMAIN, nquerydomain_fn);
        return f ? f(st, n, d, c, t, a, l) : -1;
    }
    return refuse_dns_typed(st, "res_nquerydomain", n, t);
}

static int nsend(res_state st, const unsigned char *m, int ml, unsigned char *a, int l)
{
    if (torify_state_passthrough()) {
        nsend_fn f = REAL(RES_NSEND, nsend_fn);
        return f ? f(st, m, ml, a, l) : -1;
    }
    return refuse_dns_state(st, "res_nsend", "raw query");
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
    return do_send(msg, msglen, answer, anslen);
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
EXPORT int __res_send(const unsigned char *m, int ml, unsigned char *a, int l) { return do_send(m, ml, a, l); }
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
