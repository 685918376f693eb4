/*
 * guard/decide.c — the supervisor's policy for one connect(): the shim's
 * own decision (core/policy.c), so a program gets the same answer whether
 * LD_PRELOAD or the kernel guard caught its connect, mapped to what the
 * supervisor can do:
 *
 *   DIRECT  (AF_UNIX, AF_NETLINK, AF_UNSPEC, Tor itself, ExemptNetwork,
 *            loopback when AllowOutboundLocalhost)   -> connect as asked
 *   TOR_IP  (any other IPv4/IPv6)                    -> torify: SOCKS CONNECT
 *   FAKE    (the shim's fake range)                  -> torify with the name
 *            the process tree's fake map (published by the launcher) holds
 *            for it — a static program handed a fake address connects to
 *            the name; an address the map does not know is refused
 *   REFUSE  (loopback, other families, ...)          -> refused, errno from
 *            torify_err_errno()
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include "core/fakemap.h"
#include "core/policy.h"
#include "guard/internal.h"

static enum guard_action refuse(torify_err why, int *err_no, torify_err *why_out)
{
    *why_out = why;
    *err_no = torify_err_errno(why);
    if (*err_no == 0)
        *err_no = EPERM;
    return GUARD_REFUSE;
}

enum guard_action guard_decide(const struct torify_config *cfg, const struct sockaddr_storage *sa,
                               socklen_t len, struct torify_fakemap *map, struct torify_target *target,
                               int *err_no, torify_err *why)
{
    *err_no = 0;
    *why = TORIFY_OK;
    /* What the kernel would refuse anyway is refused here, before anything
     * is done on the program's behalf. */
    if (len < (socklen_t)sizeof(sa_family_t) || len > (socklen_t)sizeof(*sa) ||
        (sa->ss_family == AF_INET && len < (socklen_t)sizeof(struct sockaddr_in)) ||
        (sa->ss_family == AF_INET6 && len < 24 /* RFC 2133 size, no scope id */)) {
        *why = TORIFY_E_INVAL_ARGUMENT;
        *err_no = EINVAL;
        return GUARD_REFUSE;
    }

    torify_err e = TORIFY_OK;
    switch (torify_policy_connect(cfg, SOCK_STREAM, (const struct sockaddr *)sa, len, &e)) {
    case TORIFY_CONNECT_DIRECT:
        return GUARD_DIRECT;
    case TORIFY_CONNECT_FAKE: {
        /* No hold on the slot: the supervisor never sees the program's
         * close, and a name recycled after the connect does not change a
         * stream Tor already opened. */
        struct torify_ip fip;
        char name[TORIFY_FAKEMAP_NAME_MAX + 1];
        if (!map || torify_ip_from_sockaddr((const struct sockaddr *)sa, len, &fip) != 0 ||
            torify_fakemap_lookup_addr(map, fip.family, fip.addr, name, sizeof name, NULL) != TORIFY_OK)
            return refuse(TORIFY_E_REFUSE_UNKNOWN_FAKE, err_no, why);
        if (fip.port == 0)
            return refuse(TORIFY_E_INVAL_PORT, err_no, why);
        e = torify_target_host(target, name, strlen(name), fip.port);
        if (e != TORIFY_OK)
            return refuse(e, err_no, why);
        return GUARD_TORIFY;
    }
    case TORIFY_CONNECT_TOR_IP:
        break;
    case TORIFY_CONNECT_REFUSE:
    default:
        return refuse(e != TORIFY_OK ? e : TORIFY_E_REFUSE_FAMILY, err_no, why);
    }

    struct torify_ip ip;
    if (torify_ip_from_sockaddr((const struct sockaddr *)sa, len, &ip) != 0)
        return refuse(TORIFY_E_INVAL_ARGUMENT, err_no, why);
    if (ip.port == 0)
        return refuse(TORIFY_E_INVAL_PORT, err_no, why);
    e = ip.family == AF_INET ? torify_target_ipv4(target, ip.addr, ip.port)
                             : torify_target_ipv6(target, ip.addr, ip.port);
    if (e != TORIFY_OK)
        return refuse(e, err_no, why);
    return GUARD_TORIFY;
}
