/* shim/hostent.c — gethostbyname*, gethostbyaddr* without local DNS.
 *
 * Names become fake addresses (IPv4 for AF_INET, IPv6 for AF_INET6),
 * literals and localhost are answered here, reverse lookups of fake
 * addresses give the name, of real ones ask Tor (RESOLVE_PTR).  The _r
 * forms fill the caller's buffer; the plain forms the thread's own
 * (torify_shim_thread, shim/state.h), so threads never share one result.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "core/fakemap.h"
#include "core/log.h"
#include "core/lookup.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

/* Lay out name, empty alias list, one address and the address list in buf. */
static int fill_hostent(struct hostent *ret, char *buf, size_t buflen, const char *name, int af,
                        const uint8_t *addr, size_t alen)
{
    size_t nlen = strlen(name) + 1;
    uintptr_t p = (uintptr_t)buf;
    uintptr_t end = p + buflen;
    uintptr_t a = (p + alignof(char *) - 1) & ~(uintptr_t)(alignof(char *) - 1);
    /* aliases[1], addr_list[2], then address bytes, then the name */
    size_t need = (a - p) + 3 * sizeof(char *) + alen + nlen;
    if (need > buflen || a > end)
        return ERANGE;
    char **aliases = (char **)a;
    char **addrs = aliases + 1;
    char *abytes = (char *)(addrs + 2);
    char *nm = abytes + alen;
    memcpy(abytes, addr, alen);
    memcpy(nm, name, nlen);
    aliases[0] = NULL;
    addrs[0] = abytes;
    addrs[1] = NULL;
    ret->h_name = nm;
    ret->h_aliases = aliases;
    ret->h_addrtype = af;
    ret->h_length = (int)alen;
    ret->h_addr_list = addrs;
    return 0;
}

static int by_name(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
                   struct hostent **result, int *h_errnop)
{
    *result = NULL;
    if (af != AF_INET && af != AF_INET6) {
        *h_errnop = NO_RECOVERY;
        return EAFNOSUPPORT;
    }
    uint8_t addr[16];
    size_t alen = af == AF_INET ? 4 : 16;
    enum torify_name_kind kind = torify_shim_name_kind(name);
    bool config_ok = torify_state_config()->config_err == TORIFY_OK;
    struct torify_fakemap *m = torify_lookup_needs_map(kind) && config_ok ? torify_state_fakemap(NULL) : NULL;
    switch (torify_lookup_name(kind, name, af, config_ok, m, addr, NULL)) {
    case TORIFY_LOOKUP_OK:
        break;
    case TORIFY_LOOKUP_REFUSED:
        torify_refuse(TORIFY_E_REFUSE_CONFIG, "lookup of %s", name);
        *h_errnop = NO_RECOVERY;
        return 0;
    case TORIFY_LOOKUP_AGAIN:
        *h_errnop = TRY_AGAIN;
        return 0;
    case TORIFY_LOOKUP_NODATA: /* a literal of the other family */
    case TORIFY_LOOKUP_NONAME:
    default:
        *h_errnop = HOST_NOT_FOUND;
        return 0;
    }
    int r = fill_hostent(ret, buf, buflen, name, af, addr, alen);
    if (r != 0) {
        *h_errnop = NETDB_INTERNAL;
        return r;
    }
    *h_errnop = 0;
    *result = ret;
    return 0;
}

static int by_addr(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf, size_t buflen,
                   struct hostent **result, int *h_errnop)
{
    *result = NULL;
    struct torify_ip ip;
    memset(&ip, 0, sizeof ip);
    if (!addr || (type == AF_INET && len == 4)) {
        ip.family = AF_INET;
    } else if (type == AF_INET6 && len == 16) {
        ip.family = AF_INET6;
    } else {
        *h_errnop = NO_RECOVERY;
        return EINVAL;
    }
    if (!addr) {
        *h_errnop = NO_RECOVERY;
        return EINVAL;
    }
    memcpy(ip.addr, addr, len);
    if (ip.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
        /* ::ffff:a.b.c.d is a.b.c.d (a fake one included). */
        ip.family = AF_INET;
        memmove(ip.addr, ip.addr + 12, 4);
    }
    char name[NI_MAXHOST];
    torify_tor_reverse_name(&ip, name, sizeof name);
    if (!name[0]) {
        *h_errnop = HOST_NOT_FOUND;
        return 0;
    }
    int r = fill_hostent(ret, buf, buflen, name, type, addr, len);
    if (r != 0) {
        *h_errnop = NETDB_INTERNAL;
        return r;
    }
    *h_errnop = 0;
    *result = ret;
    return 0;
}

/* What the non-reentrant forms return for r, the _r form's result: the
 * error in errno and h_errno as glibc sets them. */
static struct hostent *plain_result(int r, struct hostent *res, int herr)
{
    if (r != 0) {
        errno = r;
        h_errno = NETDB_INTERNAL;
        return NULL;
    }
    h_errno = herr;
    return res;
}

EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
                            struct hostent **result, int *h_errnop)
{
    if (torify_state_passthrough()) {
        torify_gethostbyname2_r_fn f = REAL(GETHOSTBYNAME2_R, torify_gethostbyname2_r_fn);
        return f ? f(name, af, ret, buf, buflen, result, h_errnop) : ENOSYS;
    }
    return by_name(name, af, ret, buf, buflen, result, h_errnop);
}

EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                           struct hostent **result, int *h_errnop)
{
    if (torify_state_passthrough()) {
        torify_gethostbyname_r_fn f = REAL(GETHOSTBYNAME_R, torify_gethostbyname_r_fn);
        return f ? f(name, ret, buf, buflen, result, h_errnop) : ENOSYS;
    }
    return by_name(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
    if (torify_state_passthrough()) {
        torify_gethostbyname2_fn f = REAL(GETHOSTBYNAME2, torify_gethostbyname2_fn);
        return f ? f(name, af) : NULL;
    }
    struct torify_shim_thread *t = &torify_shim_thread;
    struct hostent *res;
    int herr = 0;
    int r = by_name(name, af, &t->he, t->he_buf, sizeof t->he_buf, &res, &herr);
    return plain_result(r, res, herr);
}

EXPORT struct hostent *gethostbyname(const char *name)
{
    if (torify_state_passthrough()) {
        torify_gethostbyname_fn f = REAL(GETHOSTBYNAME, torify_gethostbyname_fn);
        return f ? f(name) : NULL;
    }
    return gethostbyname2(name, AF_INET);
}

EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
                           size_t buflen, struct hostent **result, int *h_errnop)
{
    if (torify_state_passthrough()) {
        torify_gethostbyaddr_r_fn f = REAL(GETHOSTBYADDR_R, torify_gethostbyaddr_r_fn);
        return f ? f(addr, len, type, ret, buf, buflen, result, h_errnop) : ENOSYS;
    }
    return by_addr(addr, len, type, ret, buf, buflen, result, h_errnop);
}

EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
    if (torify_state_passthrough()) {
        torify_gethostbyaddr_fn f = REAL(GETHOSTBYADDR, torify_gethostbyaddr_fn);
        return f ? f(addr, len, type) : NULL;
    }
    struct torify_shim_thread *t = &torify_shim_thread;
    struct hostent *res;
    int herr = 0;
    int r = by_addr(addr, len, type, &t->he, t->he_buf, sizeof t->he_buf, &res, &herr);
    return plain_result(r, res, herr);
}
