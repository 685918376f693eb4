/*
 * static_http — a statically linked glibc program that looks a name up with
 * getaddrinfo (glibc's own stub resolver, built in: it sends its DNS queries
 * itself, LD_PRELOAD never applies) and fetches a page over HTTP/1.0.
 *
 *   static_http HOST PORT PATH
 *
 * Prints "resolved <ip>" for the address it connects to, then the whole
 * response as received.  Exit 0 when a response came, 1 when the lookup or
 * the connection failed ("fail getaddrinfo error=<text>" / "fail <call>
 * errno=<NAME>"), 2 on bad usage.  Reads are bounded (30 s each).
 */
#include "call_common.h"

#include <netdb.h>
#include <poll.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: static_http HOST PORT PATH\n");
        return 2;
    }
    const char *host = argv[1], *port = argv[2], *path = argv[3];
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        printf("fail getaddrinfo error=%s\n", gai_strerror(g));
        fflush(stdout);
        return 1;
    }
    int fd = -1, err = 0;
    char where[INET6_ADDRSTRLEN + 8] = "?";
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            format_sa(a->ai_addr, where, sizeof where);
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return report_fail("connect", err);
    char *sp = strchr(where, ' ');
    if (sp)
        *sp = 0;
    printf("resolved %s\n", where);
    fflush(stdout);
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", path, host, port);
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n)
        return report_fail("write", errno);
    char buf[4096];
    size_t total = 0;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, 30000);
        if (r <= 0)
            return report_fail("poll", r == 0 ? ETIMEDOUT : errno);
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0)
            return report_fail("read", errno);
        if (got == 0)
            break;
        fwrite(buf, 1, (size_t)got, stdout);
        total += (size_t)got;
    }
    fflush(stdout);
    close(fd);
    return total ? 0 : 1;
}
