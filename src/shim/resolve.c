/* shim/resolve.c — getaddrinfo, freeaddrinfo, getnameinfo without local DNS.
 *
 * getaddrinfo:
 *   NULL node           -> libc (passive or loopback addresses, no lookup)
 *   numeric node        -> libc with AI_NUMERICHOST forced (never DNS)
 *   localhost names     -> 127.0.0.1 / ::1 via libc's numeric path
 *   other names, .onion -> fake addresses.  AF_UNSPEC and AF_INET give the
 *                          IPv4 fake only, AF_INET6 the IPv6 fake; both are
 *                          torified, and AF_UNSPEC opening no IPv6 path at
 *                          all keeps happy-eyeballs programs on one path.
 * The fake result is built by libc itself (a numeric lookup of a template
 * address with the caller's service and hints, then the address patched),
 * so service names, socktype/protocol filters and the memory layout are
 * exactly libc's, and either freeaddrinfo frees it.  With no socktype and no
 * protocol in the hints, only SOCK_STREAM entries are returned: nothing else
 * can be carried.  Datagram hints still get addresses (the lookup itself
 * sends nothing); socket() refuses the datagram socket later.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fakemap.h"
#include "core/log.h"
#include "core/lookup.h"
#include "core/policy.h"
#include "shim/state.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/tor.h"

static int gai_localhost(torify_getaddrinfo_fn f, const char *service, const struct addrinfo *hints,
                         struct addrinfo **res)
{
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    if (hints)
        h = *hints;
    int fam = h.ai_family;
    h.ai_flags = (h.ai_flags & ~(AI_CANONNAME | AI_ADDRCONFIG)) | AI_NUMERICHOST;
    struct addrinfo *v4 = NULL, *v6 = NULL;
    int r4 = EAI_FAMILY, r6 = EAI_FAMILY;
    if (fam == AF_UNSPEC || fam == AF_INET) {
        h.ai_family = AF_INET;
        r4 = f("127.0.0.1", service, &h, &v4);
    }
    if (fam == AF_UNSPEC || fam == AF_INET6) {
        h.ai_family = AF_INET6;
        r6 = f("::1", service, &h, &v6);
    }
    if (r4 != 0 && r6 != 0)
        return fam == AF_INET6 ? r6 : r4;
    struct addrinfo *list;
    if (r4 != 0) {
        list = v6;
    } else {
        /* Both lists come from libc's allocator, node by node: chained, they
         * are still freed correctly by freeaddrinfo. */
        struct addrinfo *t = v4;
        while (t->ai_next)
            t = t->ai_next;
        t->ai_next = r6 == 0 ? v6 : NULL;
        list = v4;
    }
    if (hints && (hints->ai_flags & AI_CANONNAME) && list) {
        list->ai_canonname = strdup("localhost");
        if (!list->ai_canonname) {
            torify_freeaddrinfo_fn fr = REAL(FREEADDRINFO, torify_freeaddrinfo_fn);
            if (fr)
                fr(list);
            return EAI_MEMORY;
        }
    }
    *res = list;
    return 0;
}

static int gai_fake(torify_getaddrinfo_fn f, enum torify_name_kind kind, const char *node, const char *service,
                    const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    if (hints)
        h = *hints;
    int fam = h.ai_family == AF_INET6 ? AF_INET6 : AF_INET;
    const struct torify_state_config *st = torify_state_config();
    bool config_ok = st->config_err == TORIFY_OK;
    if (config_ok && h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
        return EAI_FAMILY;
    torify_err me = TORIFY_E_IO;
    struct torify_fakemap *m = config_ok ? torify_state_fakemap(&me) : NULL;
    if (config_ok && !m)
        return EAI_MEMORY;
    uint8_t addr[16];
    uint32_t slot;
    switch (torify_lookup_name(kind, node, fam, config_ok, m, addr, &slot)) {
    case TORIFY_LOOKUP_OK:
        break;
    case TORIFY_LOOKUP_REFUSED:
        torify_refuse(TORIFY_E_REFUSE_CONFIG, "lookup of %s", node);
        return EAI_FAIL;
    case TORIFY_LOOKUP_AGAIN:
        torify_log(TORIFY_LOG_NOTICE, "no fake address free for %s (all %u in use by connections)", node,
                   torify_fakemap_capacity(m));
        return EAI_AGAIN;
    case TORIFY_LOOKUP_NODATA:
    case TORIFY_LOOKUP_NONAME:
    default:
        return EAI_NONAME;
    }

    int want_canon = h.ai_flags & AI_CANONNAME;
    h.ai_family = fam;
    h.ai_flags = (h.ai_flags & AI_NUMERICSERV) | AI_NUMERICHOST;
    if (h.ai_socktype == 0 && h.ai_protocol == 0)
        h.ai_socktype = SOCK_STREAM;
    struct addrinfo *list = NULL;
    int r = f(fam == AF_INET ? "0.0.0.0" : "::", service, &h, &list);
    if (r != 0)
        return r;
    uint8_t a4[4], a6[16];
    torify_fakemap_addr4(m, slot, a4);
    torify_fakemap_addr6(m, slot, a6);
    for (struct addrinfo *p = list; p; p = p->ai_next) {
        if (p->ai_family == AF_INET && p->ai_addr)
            memcpy(&((struct sockaddr_in *)p->ai_addr)->sin_addr, a4, 4);
        else if (p->ai_family == AF_INET6 && p->ai_addr)
            memcpy(&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr, a6, 16);
    }
    if (want_canon && list) {
        /* strdup: freeaddrinfo frees ai_canonname with free(). */
        list->ai_canonname = strdup(node);
        if (!list->ai_canonname) {
            torify_freeaddrinfo_fn fr = REAL(FREEADDRINFO, torify_freeaddrinfo_fn);
            if (fr)
                fr(list);
            return EAI_MEMORY;
        }
    }
    if (torify_log_enabled(TORIFY_LOG_INFO)) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(fam, fam == AF_INET ? (const void *)a4 : (const void *)a6, a, sizeof a);
        torify_log(TORIFY_LOG_INFO, "lookup of %s -> %s (fake address, resolved by Tor's exit)", node, a);
    }
    *res = list;
    return 0;
}

enum torify_name_kind torify_shim_name_kind(const char *name)
{
    /* The real name (uname(2): no file, no packet), also under
     * HideIdentity, whose masked "localhost" is a loopback name anyway.
     * Asked on every name lookup because the machine may be renamed while
     * programs run. */
    char host[256];
    if (torify_shim_real_hostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    enum torify_name_kind k = torify_policy_name_kind_on(name, host);
    /* Under the guard's HideIdentity the program's UTS namespace says
     * "localhost" even to uname(2): the machine's name as /etc/hostname
     * has it must still never reach Tor. */
    if (k == TORIFY_NAME_HOST && torify_shim_etc_hostname(host, sizeof host) == 0)
        k = torify_policy_name_kind_on(name, host);
    return k;
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    torify_getaddrinfo_fn f = REAL(GETADDRINFO, torify_getaddrinfo_fn);
    if (!f)
        return EAI_SYSTEM;
    if (!node)
        return f(node, service, hints, res);
    /* Numeric first, as cheaply as libc itself: AI_NUMERICHOST makes libc
     * parse the literal and never consult DNS or /etc/hosts. */
    struct addrinfo h;
    if (hints) {
        h = *hints;
    } else {
        memset(&h, 0, sizeof h);
        h.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG; /* libc's default for NULL hints */
    }
    int caller_numeric = h.ai_flags & AI_NUMERICHOST;
    h.ai_flags |= AI_NUMERICHOST;
    int r = f(node, service, &h, res);
    if (r != EAI_NONAME || caller_numeric)
        return r;
    if (torify_state_passthrough())
        return f(node, service, hints, res); /* exempt: libc's own lookup */
    enum torify_name_kind kind = torify_shim_name_kind(node);
    switch (kind) {
    case TORIFY_NAME_NUMERIC:
        return r; /* a literal that failed for another reason (e.g. service) */
    case TORIFY_NAME_LOCALHOST:
        return gai_localhost(f, service, hints, res);
    case TORIFY_NAME_HOST:
    case TORIFY_NAME_ONION:
        return gai_fake(f, kind, node, service, hints, res);
    case TORIFY_NAME_INVALID:
    default:
        return EAI_NONAME;
    }
}

EXPORT void freeaddrinfo(struct addrinfo *ai)
{
    /* Every list we return was allocated by libc: its free is right. */
    torify_freeaddrinfo_fn f = REAL(FREEADDRINFO, torify_freeaddrinfo_fn);
    if (f)
        f(ai);
}

static int copy_host(char *host, socklen_t hostlen, const char *name)
{
    size_t n = strlen(name);
    if (n >= hostlen)
        return EAI_OVERFLOW;
    memcpy(host, name, n + 1);
    return 0;
}

EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
                       socklen_t servlen, int flags)
{
    torify_getnameinfo_fn f = REAL(GETNAMEINFO, torify_getnameinfo_fn);
    if (!f)
        return EAI_SYSTEM;
    struct torify_ip ip;
    if (torify_state_passthrough())
        return f(sa, salen, host, hostlen, serv, servlen, flags);
    if (!host || hostlen == 0 || (flags & NI_NUMERICHOST) || torify_ip_from_sockaddr(sa, salen, &ip) != 0)
        return f(sa, salen, host, hostlen, serv, servlen, flags | (host && hostlen ? 0 : NI_NUMERICHOST));

    char name[NI_MAXHOST];
    torify_tor_reverse_name(&ip, name, sizeof name);
    if (!name[0] && (flags & NI_NAMEREQD))
        return EAI_NONAME;
    /* The service part (and the numeric host when no name) from libc,
     * with NI_NUMERICHOST so it never looks a name up itself. */
    int r = f(sa, salen, host, hostlen, serv, servlen, (flags & ~NI_NAMEREQD) | NI_NUMERICHOST);
    if (r != 0 || !name[0])
        return r;
    return copy_host(host, hostlen, name);
}
