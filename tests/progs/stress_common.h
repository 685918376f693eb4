/*
 * stress_common.h — helpers of the stress_* and exec test programs.
 *
 * They run under libtorify.so against tests/integration/lib/socksserver.py in
 * "echo" mode: a connection to NAME:PORT sends "TOKEN\n" and must read back
 * exactly "NAME:PORT TOKEN\n" — proof that the SOCKS server was asked for
 * that very name on that very connection.  Output lines: "ok ...",
 * "fail ..." (at most a few), "stat KEY VALUE"; exit 0 iff all went well.
 */
#ifndef STRESS_COMMON_H
#define STRESS_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int stress_fail_lines;

/* One "fail" line per problem, the first 20 only (a storm must not flood). */
#define STRESS_FAIL(...)                                          \
    do {                                                          \
        if (atomic_fetch_add(&stress_fail_lines, 1) < 20) {       \
            char line_[512];                                      \
            snprintf(line_, sizeof line_, __VA_ARGS__);           \
            printf("fail %s\n", line_);                           \
            fflush(stdout);                                       \
        }                                                         \
    } while (0)

static inline double stress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in KiB (VmRSS, shared map pages included). */
static inline long stress_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, res = 0;
    int n = fscanf(f, "%ld %ld", &size, &res);
    fclose(f);
    return n == 2 ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

/* name -> fake address (family AF_INET or AF_INET6) through getaddrinfo. */
static inline int stress_resolve(const char *name, int family, int port, struct sockaddr_storage *ss,
                                 socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int r = getaddrinfo(name, ps, &hints, &res);
    if (r != 0) {
        STRESS_FAIL("getaddrinfo %s: %s", name, gai_strerror(r));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Bounded reads and writes.  SO_SNDTIMEO also bounds connect (and makes the
 * shim wait for its helper thread); TORIFY_STRESS_NO_SNDTIMEO=1 leaves it
 * out (see test_stress.py: forked children under ASan). */
static inline int stress_timeouts(int fd, int seconds)
{
    struct timeval tv = { seconds, 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return -1;
    const char *no = getenv("TORIFY_STRESS_NO_SNDTIMEO");
    if (no && strcmp(no, "1") == 0)
        return 0;
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Send "token\n" on a connected fd and check the echo "name:port token\n". */
static inline int stress_echo(int fd, const char *name, int port, const char *token)
{
    char out[300], want[600], got[600];
    int n = snprintf(out, sizeof out, "%s\n", token);
    if (send(fd, out, (size_t)n, MSG_NOSIGNAL) != n) {
        STRESS_FAIL("send %s: %s", name, strerror(errno));
        return -1;
    }
    int wn = snprintf(want, sizeof want, "%s:%d %s\n", name, port, token);
    size_t have = 0;
    for (;;) {
        ssize_t r = recv(fd, got + have, sizeof got - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            STRESS_FAIL("recv %s: %s", name, strerror(errno));
            return -1;
        }
        if (r == 0 || (have += (size_t)r) >= sizeof got - 1)
            break;
    }
    got[have] = '\0';
    if ((int)have != wn || memcmp(got, want, have) != 0) {
        STRESS_FAIL("echo for %s: got '%.*s', want '%.*s'", name, (int)strcspn(got, "\n"), got,
                    (int)strcspn(want, "\n"), want);
        return -1;
    }
    return 0;
}

/* Look name up, connect to its fake address, verify the echo, close. */
static inline int stress_connect_echo(const char *name, int family, int port, const char *token)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (stress_resolve(name, family, port, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        STRESS_FAIL("socket: %s", strerror(errno));
        return -1;
    }
    int rc = -1;
    if (stress_timeouts(fd, 20) != 0)
        STRESS_FAIL("setsockopt: %s", strerror(errno));
    else if (connect(fd, (struct sockaddr *)&ss, len) != 0)
        STRESS_FAIL("connect %s: %s", name, strerror(errno));
    else
        rc = stress_echo(fd, name, port, token);
    close(fd);
    return rc;
}

#endif
