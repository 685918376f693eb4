/*
 * call_tcp — outbound TCP the ways programs really do it.
 *
 *   call_tcp http HOST PORT PATH [gai|ghbn]   look HOST up (getaddrinfo AF_UNSPEC,
 *                                  or gethostbyname), connect, GET PATH, print
 *                                  "peer IP PORT" (getpeername) and the body
 *   call_tcp connect_all HOST PORT getaddrinfo AF_UNSPEC, then connect to every
 *                                  address returned ("ok connect IP PORT" each)
 *   call_tcp connect IP PORT       connect to a literal IPv4/IPv6 address
 *   call_tcp syscall_connect IP PORT   the same through syscall(SYS_connect)
 *   call_tcp tfo IP PORT           TCP Fast Open: sendto(MSG_FASTOPEN) with a
 *                                  destination, no connect
 */
#include "call_common.h"

#include <netdb.h>
#include <sys/syscall.h>
#include <unistd.h>

static int connect_sa(const struct sockaddr *sa, socklen_t len, int use_syscall)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0) {
        report_fail("socket", errno);
        return -1;
    }
    long rc = use_syscall ? syscall(SYS_connect, fd, sa, len) : connect(fd, sa, len);
    if (rc != 0) {
        int e = errno;
        close(fd);
        report_fail(use_syscall ? "syscall_connect" : "connect", e);
        return -1;
    }
    char buf[80];
    report_ok(use_syscall ? "syscall_connect" : "connect", format_sa(sa, buf, sizeof buf));
    return fd;
}

static int print_peer(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return report_fail("getpeername", errno);
    char buf[80];
    printf("peer %s\n", format_sa((struct sockaddr *)&ss, buf, sizeof buf));
    return 0;
}

static int http_exchange(int fd, const char *host, const char *path)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    if (n < 0 || (size_t)n >= sizeof req)
        return 2;
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0)
            return report_fail("send", errno);
        off += (int)w;
    }
    /* Print the body only: skip the header block. */
    char buf[4096];
    size_t have = 0;
    int in_body = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + have, sizeof buf - have - 1, 0);
        if (r < 0)
            return report_fail("recv", errno);
        if (r == 0)
            break;
        have += (size_t)r;
        buf[have] = 0;
        if (!in_body) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end) {
                if (have == sizeof buf - 1)
                    return report_fail("recv", EMSGSIZE);
                continue;
            }
            char *status_end = strstr(buf, "\r\n");
            printf("status %.*s\n", (int)(status_end - buf), buf);
            in_body = 1;
            end += 4;
            have = (size_t)(buf + have - end);
            memmove(buf, end, have);
        }
        fwrite(buf, 1, have, stdout);
        have = 0;
    }
    fflush(stdout);
    return in_body ? 0 : report_fail("http", EPROTO);
}

static int do_http(const char *host, const char *port, const char *path, int use_ghbn)
{
    int fd = -1;
    if (use_ghbn) {
        struct hostent *he = gethostbyname(host);
        if (!he || he->h_addrtype != AF_INET || !he->h_addr_list[0]) {
            printf("fail gethostbyname h_errno=%d\n", h_errno);
            return 1;
        }
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)atoi(port));
        memcpy(&sin.sin_addr, he->h_addr_list[0], 4);
        fd = connect_sa((struct sockaddr *)&sin, sizeof sin, 0);
    } else {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            printf("fail getaddrinfo gai=%d\n", rc);
            return 1;
        }
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
            fd = connect_sa(ai->ai_addr, ai->ai_addrlen, 0);
        freeaddrinfo(res);
    }
    if (fd < 0)
        return 1;
    int rc = print_peer(fd);
    if (rc == 0)
        rc = http_exchange(fd, host, path);
    close(fd);
    return rc;
}

static int do_connect_all(const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        printf("fail getaddrinfo gai=%d\n", rc);
        return 1;
    }
    int failed = 0, count = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next, count++) {
        int fd = connect_sa(ai->ai_addr, ai->ai_addrlen, 0);
        if (fd < 0)
            failed = 1;
        else
            close(fd);
    }
    freeaddrinfo(res);
    printf("addresses %d\n", count);
    return failed;
}

static int do_tfo(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    static const char hello[] = "GET / HTTP/1.0\r\n\r\n";
    ssize_t n = sendto(fd, hello, sizeof hello - 1, MSG_FASTOPEN, sa, len);
    int e = errno;
    close(fd);
    if (n < 0)
        return report_fail("tfo", e);
    report_ok("tfo", "sent");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: call_tcp CALL HOST|IP PORT [...]\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "http"))
        return do_http(argv[2], argv[3], argc > 4 ? argv[4] : "/", argc > 5 && !strcmp(argv[5], "ghbn"));
    if (!strcmp(c, "connect_all"))
        return do_connect_all(argv[2], argv[3]);
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(argv[2], argv[3], &ss, &len) != 0) {
        fprintf(stderr, "call_tcp: %s needs a numeric IP and port\n", c);
        return 2;
    }
    if (!strcmp(c, "connect") || !strcmp(c, "syscall_connect")) {
        int fd = connect_sa((struct sockaddr *)&ss, len, c[0] == 's');
        if (fd < 0)
            return 1;
        close(fd);
        return 0;
    }
    if (!strcmp(c, "tfo"))
        return do_tfo((struct sockaddr *)&ss, len);
    fprintf(stderr, "call_tcp: unknown call %s\n", c);
    return 2;
}
