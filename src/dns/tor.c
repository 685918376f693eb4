/* dns/tor.c — see tor.h. */
#include "dns/tor.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/policy.h"

torify_err torify_dns_tor_pick(const struct torify_target *r, int family, uint8_t addr[16])
{
    if (family == AF_INET && r->kind == TORIFY_TARGET_IPV4) {
        memcpy(addr, r->addr, 4);
        return TORIFY_OK;
    }
    if (family == AF_INET6 && r->kind == TORIFY_TARGET_IPV6) {
        memcpy(addr, r->addr, 16);
        return TORIFY_OK;
    }
    return TORIFY_E_PROTO_RESOLVE_TYPE;
}

torify_err torify_dns_tor_ptr_target(int family, const uint8_t *addr, struct torify_target *t)
{
    if (family == AF_INET)
        return torify_target_ipv4(t, addr, 0);
    if (family == AF_INET6)
        return torify_target_ipv6(t, addr, 0);
    return TORIFY_E_INVAL_TARGET;
}

torify_err torify_dns_tor_resolve(void *ctx, const char *name, int family, uint8_t addr[16])
{
    const struct torify_config *c = ctx;
    if (!c || !c->tor_addr_len)
        return TORIFY_E_PROXY_UNREACHABLE;
    struct torify_socks_opts o;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    torify_policy_socks_opts(c, (long)getpid(), 0, TORIFY_TOR_HANDSHAKE_MS, user, pass, &o);
    struct torify_target r;
    torify_err e = torify_socks_resolve((const struct sockaddr *)&c->tor_addr, c->tor_addr_len, name, &o, &r);
    return e ? e : torify_dns_tor_pick(&r, family, addr);
}

torify_err torify_dns_tor_resolve_ptr(void *ctx, int family, const uint8_t *addr, char *name, size_t len)
{
    const struct torify_config *c = ctx;
    if (!c || !c->tor_addr_len)
        return TORIFY_E_PROXY_UNREACHABLE;
    if (c->proto == TORIFY_SOCKS4A)
        return TORIFY_E_INVAL_TARGET; /* RESOLVE_PTR is a SOCKS5 extension */
    struct torify_target t;
    torify_err e = torify_dns_tor_ptr_target(family, addr, &t);
    if (e)
        return e;
    struct torify_socks_opts o;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    torify_policy_socks_opts(c, (long)getpid(), 0, TORIFY_TOR_PTR_MS, user, pass, &o);
    return torify_socks_resolve_ptr((const struct sockaddr *)&c->tor_addr, c->tor_addr_len, &t, &o, name, len);
}
