/* shim/res.c — the res_* resolver family: refused.
 *
 * These build and send DNS packets themselves (UDP to the configured
 * nameserver), which would leak every name to the local network and cannot
 * be carried by Tor.  Each returns -1 at once with h_errno NO_RECOVERY and
 * errno ECONNREFUSED.  glibc exports both res_query (2.34+) and the older
 * __res_query names that binaries built against older headers use.
 */
#include <errno.h>
#include <netdb.h>
#include <resolv.h>

#include "core/log.h"
#include "core/state.h"

#define EXPORT __attribute__((visibility("default")))

/* The res_n* forms report through the state too, as libc's do. */
static int refuse_dns_state(res_state statp, const char *call, const char *what)
{
    if (statp)
        statp->res_h_errno = NO_RECOVERY;
    (void)torify_state_config(); /* sets up logging */
    torify_refuse(TORIFY_E_REFUSE_DNS, "%s(%s)", call, what ? what : "");
    h_errno = NO_RECOVERY;
    errno = ECONNREFUSED;
    return -1;
}

static int refuse_dns(const char *call, const char *what)
{
    return refuse_dns_state(NULL, call, what);
}


EXPORT int res_query(const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return refuse_dns("res_query", dname);
}

EXPORT int res_search(const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return refuse_dns("res_search", dname);
}

EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer,
                           int anslen)
{
    return refuse_dns("res_querydomain", name);
}

EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
    return refuse_dns("res_send", "raw query");
}

EXPORT int res_nquery(res_state statp, const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return refuse_dns_state(statp, "res_nquery", dname);
}

EXPORT int res_nsearch(res_state statp, const char *dname, int class, int type, unsigned char *answer, int anslen)
{
    return refuse_dns_state(statp, "res_nsearch", dname);
}

EXPORT int res_nquerydomain(res_state statp, const char *name, const char *domain, int class, int type,
                            unsigned char *answer, int anslen)
{
    return refuse_dns_state(statp, "res_nquerydomain", name);
}

EXPORT int res_nsend(res_state statp, const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
    return refuse_dns_state(statp, "res_nsend", "raw query");
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

EXPORT int __res_query(const char *d, int c, int t, unsigned char *a, int l) { return refuse_dns("res_query", d); }
EXPORT int __res_search(const char *d, int c, int t, unsigned char *a, int l) { return refuse_dns("res_search", d); }
EXPORT int __res_querydomain(const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    return refuse_dns("res_querydomain", n);
}
EXPORT int __res_send(const unsigned char *m, int ml, unsigned char *a, int l) { return refuse_dns("res_send", "raw query"); }
EXPORT int __res_nquery(res_state statp, const char *d, int c, int t, unsigned char *a, int l) { return refuse_dns_state(statp, "res_nquery", d); }
EXPORT int __res_nsearch(res_state statp, const char *d, int c, int t, unsigned char *a, int l) { return refuse_dns_state(statp, "res_nsearch", d); }
EXPORT int __res_nquerydomain(res_state statp, const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
    return refuse_dns_state(statp, "res_nquerydomain", n);
}
EXPORT int __res_nsend(res_state statp, const unsigned char *m, int ml, unsigned char *a, int l)
{
    return refuse_dns_state(statp, "res_nsend", "raw query");
}
