/*
 * torify_sockaddr_parse: the proxy address as users write it.  Numeric
 * only (plus "localhost"): looking a name up here would be exactly the DNS
 * leak torify exists to prevent.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "internal.h"

#define DEFAULT_PORT 9050

torify_err torify_port_parse(const char *p, uint16_t *port)
{
    unsigned long v = 0;
    size_t n = 0;

    if (!p || !port)
        return TORIFY_E_INVAL_ARGUMENT;
    for (; p[n] != '\0'; n++) {
        if (p[n] < '0' || p[n] > '9' || n >= 5)
            return TORIFY_E_INVAL_ARGUMENT;
        v = v * 10 + (unsigned long)(p[n] - '0');
    }
    if (n == 0 || v == 0 || v > 65535)
        return TORIFY_E_INVAL_ARGUMENT;
    *port = (uint16_t)v;
    return TORIFY_OK;
}

static torify_err put_v4(const char *host, size_t hlen, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len)
{
    char tmp[INET_ADDRSTRLEN];
    struct sockaddr_in *in = (struct sockaddr_in *)ss;

    if (hlen == 0 || hlen >= sizeof tmp)
        return TORIFY_E_INVAL_ARGUMENT;
    memcpy(tmp, host, hlen);
    tmp[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    if (strcasecmp(tmp, "localhost") == 0) {
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, tmp, &in->sin_addr) != 1) {
        return TORIFY_E_INVAL_ARGUMENT;
    }
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    *len = (socklen_t)sizeof *in;
    return TORIFY_OK;
}

static torify_err put_v6(const char *host, size_t hlen, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len)
{
    char tmp[INET6_ADDRSTRLEN];
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    if (hlen == 0 || hlen >= sizeof tmp)
        return TORIFY_E_INVAL_ARGUMENT;
    memcpy(tmp, host, hlen);
    tmp[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) != 1)
        return TORIFY_E_INVAL_ARGUMENT;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *len = (socklen_t)sizeof *in6;
    return TORIFY_OK;
}

static torify_err put_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strnlen(path, sizeof un->sun_path);

    /* Room for the terminating NUL too (an abstract name needs none, but
     * one limit for both keeps it simple). */
    if (n == 0 || n >= sizeof un->sun_path)
        return TORIFY_E_INVAL_ARGUMENT;
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n);
    if (path[0] == '@') {
        /* Linux abstract socket: leading NUL, length without terminator. */
        if (n == 1)
            return TORIFY_E_INVAL_ARGUMENT;
        un->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return TORIFY_OK;
}

torify_err torify_sockaddr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    uint16_t port = DEFAULT_PORT;
    const char *colon;

    if (text == NULL || ss == NULL || len == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (strncmp(text, "unix:", 5) == 0)
        return put_unix(text + 5, ss, len);

    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL)
            return TORIFY_E_INVAL_ARGUMENT;
        if (end[1] == ':') {
            if (torify_port_parse(end + 2, &port) != TORIFY_OK)
                return TORIFY_E_INVAL_ARGUMENT;
        } else if (end[1] != '\0') {
            return TORIFY_E_INVAL_ARGUMENT;
        }
        return put_v6(text + 1, (size_t)(end - text - 1), port, ss, len);
    }

    colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
        return put_v6(text, strlen(text), port, ss, len); /* bare IPv6, default port */
    if (colon != NULL) {
        if (torify_port_parse(colon + 1, &port) != TORIFY_OK)
            return TORIFY_E_INVAL_ARGUMENT;
        return put_v4(text, (size_t)(colon - text), port, ss, len);
    }
    return put_v4(text, strlen(text), port, ss, len);
}
