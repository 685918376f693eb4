/*
 * call_common.h — shared helpers of the call_* test programs.
 *
 * The integration tests run these programs with and without torify and parse
 * their stdout.  Every line is "<word> ..." so the tests can match exactly:
 *   ok <call> <details>          the call succeeded
 *   fail <call> errno=<NAME>     the call failed with errno (strerrorname_np)
 * Exit status: 0 when every attempted call succeeded, 1 when one failed,
 * 2 on bad usage.  Output is flushed per line so a test that kills a hung
 * program still sees what happened before the hang.
 */
#ifndef CALL_COMMON_H
#define CALL_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static inline const char *errno_name(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "UNKNOWN";
}

static inline int report_fail(const char *call, int e)
{
    printf("fail %s errno=%s\n", call, errno_name(e));
    fflush(stdout);
    return 1;
}

static inline void report_ok(const char *call, const char *details)
{
    printf("ok %s%s%s\n", call, details && *details ? " " : "", details ? details : "");
    fflush(stdout);
}

/* Numeric "IP" + port into a sockaddr; IPv4 or IPv6 literal only, so these
 * programs never resolve a name unless the vector under test is a lookup. */
static inline int parse_numeric(const char *ip, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!end || *end || p < 0 || p > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        *len = sizeof *s4;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        *len = sizeof *s6;
        return 0;
    }
    return -1;
}

/* "ip port" text of a sockaddr, for the ok/peer lines. */
static inline const char *format_sa(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
    }
    snprintf(buf, len, "%s %u", ip, port);
    return buf;
}

#endif /* CALL_COMMON_H */
