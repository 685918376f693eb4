/*
 * leak_common.h — shared helpers of the leak-vector programs (leak_*.c,
 * static_connect.c, static_dns.c, uring_connect.c).
 *
 * Each program tries to reach DEST (an IP literal and a port given on the
 * command line) by one path around LD_PRELOAD and prints one line:
 *   ok <vector> <details>          it got through (for TCP vectors: an HTTP
 *                                  exchange with what answered, e.g. the
 *                                  "hello from HOST:PORT" of a virtual SOCKS
 *                                  server when torified)
 *   fail <vector> errno=<NAME>     it was refused or failed
 * Exit status 0 for ok, 1 for fail, 2 for bad usage.  The integration test
 * (tests/integration/test_guard.py) decides from the leak trap whether a
 * packet left, and from the SOCKS server's record whether it was torified.
 */
#ifndef LEAK_COMMON_H
#define LEAK_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline const char *leak_errno_name(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "UNKNOWN";
}

static inline int leak_fail(const char *vector, int e)
{
    printf("fail %s errno=%s\n", vector, leak_errno_name(e));
    fflush(stdout);
    return 1;
}

static inline int leak_ok(const char *vector, const char *details)
{
    printf("ok %s %s\n", vector, details ? details : "");
    fflush(stdout);
    return 0;
}

/* "1.2.3.4" or "2001:db8::1" plus a port into a sockaddr; 0 or -1. */
static inline int leak_addr(const char *ip, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    long p = strtol(port, NULL, 10);
    if (p < 0 || p > 65535)
        return -1;
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
        *len = sizeof *in;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        *len = sizeof *in6;
        return 0;
    }
    return -1;
}

/* Wait until fd is ready for events, at most ms. 1 ready, 0 timeout, -1 error. */
static inline int leak_wait(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r;
}

/* One HTTP/1.0 exchange over a connected stream: send a GET, read the
 * answer (5 s at most) and copy its last line (the body) into out.
 * 0 when an "HTTP/" answer came, else -errno. */
static inline int leak_http(int fd, char *out, size_t out_len)
{
    static const char req[] = "GET / HTTP/1.0\r\nHost: leak\r\n\r\n";
    size_t sent = 0;
    while (sent < sizeof req - 1) {
        ssize_t n = send(fd, req + sent, sizeof req - 1 - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && leak_wait(fd, POLLOUT, 5000) > 0)
                continue;
            return -errno;
        }
        sent += (size_t)n;
    }
    char buf[2048];
    size_t used = 0;
    for (;;) {
        if (leak_wait(fd, POLLIN, 5000) <= 0)
            break;
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == sizeof buf - 1)
            break;
    }
    buf[used] = '\0';
    if (strncmp(buf, "HTTP/", 5) != 0)
        return used ? -EPROTO : -ECONNRESET;
    const char *body = strstr(buf, "\r\n\r\n");
    body = body ? body + 4 : buf;
    snprintf(out, out_len, "%.*s", (int)strcspn(body, "\r\n"), body);
    return 0;
}

/* After connect() succeeded: the exchange, and the one result line. */
static inline int leak_finish_tcp(const char *vector, int fd)
{
    char body[256];
    int r = leak_http(fd, body, sizeof body);
    close(fd);
    if (r < 0)
        return leak_fail(vector, -r);
    return leak_ok(vector, body);
}

/* A connect that nothing answers (a leak into the trap) gives up after 3 s
 * instead of the kernel's two minutes: blocking connect() honours
 * SO_SNDTIMEO.  Returns fd (unchanged) for chaining. */
static inline int leak_bound(int fd)
{
    struct timeval tv = {3, 0};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static inline void leak_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#endif
