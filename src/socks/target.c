/*
 * struct torify_target: constructors, checks and conversions.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

torify_err torify_target_host(struct torify_target *t, const char *name, size_t len, uint16_t port)
{
    if (t == NULL || (name == NULL && len > 0))
        return TORIFY_E_INVAL_ARGUMENT;
    if (len == 0)
        return TORIFY_E_INVAL_HOST_EMPTY;
    if (len > TORIFY_SX_FIELD_MAX)
        return TORIFY_E_INVAL_HOST_TOO_LONG;
    /* The wire format carries a length, but SOCKS4a ends the name with NUL
     * and Tor rejects it anyway: a NUL inside is always a mistake (or an
     * attack on a C string comparison somewhere). */
    if (memchr(name, '\0', len) != NULL)
        return TORIFY_E_INVAL_HOST_NUL;
    memset(t, 0, sizeof *t);
    t->kind = TORIFY_TARGET_HOST;
    t->port = port;
    t->host_len = (uint8_t)len;
    memcpy(t->host, name, len);
    t->host[len] = '\0';
    return TORIFY_OK;
}

torify_err torify_target_ipv4(struct torify_target *t, const uint8_t addr[4], uint16_t port)
{
    if (t == NULL || addr == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    memset(t, 0, sizeof *t);
    t->kind = TORIFY_TARGET_IPV4;
    t->port = port;
    memcpy(t->addr, addr, 4);
    return TORIFY_OK;
}

torify_err torify_target_ipv6(struct torify_target *t, const uint8_t addr[16], uint16_t port)
{
    if (t == NULL || addr == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    memset(t, 0, sizeof *t);
    t->kind = TORIFY_TARGET_IPV6;
    t->port = port;
    memcpy(t->addr, addr, 16);
    return TORIFY_OK;
}

torify_err torify_target_sockaddr(struct torify_target *t, const struct sockaddr *sa, socklen_t len)
{
    if (t == NULL || sa == NULL || len < (socklen_t)sizeof(sa_family_t))
        return TORIFY_E_INVAL_ARGUMENT;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        if (len < (socklen_t)sizeof in)
            return TORIFY_E_INVAL_ARGUMENT;
        memcpy(&in, sa, sizeof in); /* sa may be unaligned */
        return torify_target_ipv4(t, (const uint8_t *)&in.sin_addr, ntohs(in.sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        if (len < (socklen_t)sizeof in6)
            return TORIFY_E_INVAL_ARGUMENT;
        memcpy(&in6, sa, sizeof in6);
        return torify_target_ipv6(t, in6.sin6_addr.s6_addr, ntohs(in6.sin6_port));
    }
    return TORIFY_E_INVAL_TARGET;
}

socklen_t torify_target_to_sockaddr(const struct torify_target *t, struct sockaddr_storage *ss)
{
    if (t == NULL || ss == NULL)
        return 0;
    memset(ss, 0, sizeof *ss);
    if (t->kind == TORIFY_TARGET_IPV4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(t->port);
        memcpy(&in->sin_addr, t->addr, 4);
        return (socklen_t)sizeof *in;
    }
    if (t->kind == TORIFY_TARGET_IPV6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(t->port);
        memcpy(in6->sin6_addr.s6_addr, t->addr, 16);
        return (socklen_t)sizeof *in6;
    }
    return 0;
}

const char *torify_target_format(const struct torify_target *t, char *buf, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    char name[TORIFY_SX_FIELD_MAX + 1];

    if (buf == NULL || len == 0)
        return buf;
    if (t == NULL) {
        snprintf(buf, len, "(none)");
        return buf;
    }
    switch (t->kind) {
    case TORIFY_TARGET_HOST: {
        /* Names may come from a server reply: show control and non-ASCII
         * bytes as '?' so a log line cannot be forged or garble a terminal. */
        size_t n = t->host_len;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)t->host[i];
            name[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
        name[n] = '\0';
        snprintf(buf, len, "%s:%u", name, (unsigned)t->port);
        break;
    }
    case TORIFY_TARGET_IPV4:
        if (inet_ntop(AF_INET, t->addr, addr, sizeof addr) == NULL)
            snprintf(addr, sizeof addr, "?");
        snprintf(buf, len, "%s:%u", addr, (unsigned)t->port);
        break;
    case TORIFY_TARGET_IPV6:
        if (inet_ntop(AF_INET6, t->addr, addr, sizeof addr) == NULL)
            snprintf(addr, sizeof addr, "?");
        snprintf(buf, len, "[%s]:%u", addr, (unsigned)t->port);
        break;
    default:
        snprintf(buf, len, "(none)");
        break;
    }
    return buf;
}

torify_err torify_sx_check_target(const struct torify_target *t)
{
    if (t == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    switch (t->kind) {
    case TORIFY_TARGET_HOST:
        /* Filled by hand perhaps: re-check what torify_target_host checks. */
        if (t->host_len == 0)
            return TORIFY_E_INVAL_HOST_EMPTY;
        if (memchr(t->host, '\0', t->host_len) != NULL)
            return TORIFY_E_INVAL_HOST_NUL;
        return TORIFY_OK;
    case TORIFY_TARGET_IPV4:
    case TORIFY_TARGET_IPV6:
        return TORIFY_OK;
    default:
        return TORIFY_E_INVAL_TARGET;
    }
}
