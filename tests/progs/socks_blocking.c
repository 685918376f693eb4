/*
 * socks_blocking — drive libtorify-socks' blocking helpers from the command
 * line, for the integration tests.
 *
 *   socks_blocking PROXY connect HOST:PORT [options]   dial; then with --http
 *                                                       send a GET and copy the reply
 *   socks_blocking PROXY resolve HOSTNAME [options]    Tor RESOLVE
 *   socks_blocking PROXY ptr ADDRESS [options]         Tor RESOLVE_PTR
 *
 * options: --socks4 | --socks4a, --user U, --pass P, --pipeline,
 *          --timeout MS, --http (connect: send "GET / HTTP/1.0"),
 *          --read (connect: copy whatever the server sends until EOF),
 *          --handshake (connect: connect to the proxy here and use
 *          torify_socks_handshake_fd instead of torify_socks_dial; prints
 *          "bound ADDRESS" after "connected")
 *
 * Output (stdout), one line first:
 *   "connected BOUND" / "resolved ADDRESS" / "name HOSTNAME", exit 0;
 *   "error TORIFY_E_..." and exit 1 when the library reports an error;
 *   exit 2 for bad usage.  With --http/--read the received bytes follow
 *   the first line verbatim.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torify/socks.h>

static int usage(void)
{
    fprintf(stderr, "usage: socks_blocking PROXY connect|resolve|ptr TARGET [--socks4|--socks4a] "
                    "[--user U] [--pass P] [--pipeline] [--timeout MS] [--http] [--read]\n");
    return 2;
}

static int fail(torify_err err)
{
    printf("error %s\n", torify_err_name(err));
    fprintf(stderr, "socks_blocking: %s\n", torify_strerror(err));
    return 1;
}

/* "host:port", "1.2.3.4:port" or "[v6]:port" into a target. */
static torify_err parse_target(const char *text, struct torify_target *t)
{
    char host[300];
    const char *colon;
    size_t hlen;
    const char *start = text;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return TORIFY_E_INVAL_ARGUMENT;
        start = text + 1;
        hlen = (size_t)(close - start);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return TORIFY_E_INVAL_ARGUMENT;
        hlen = (size_t)(colon - text);
    }
    if (hlen >= sizeof(host))
        return TORIFY_E_INVAL_HOST_TOO_LONG;
    memcpy(host, start, hlen);
    host[hlen] = '\0';

    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return TORIFY_E_INVAL_ARGUMENT;

    uint8_t addr[16];
    if (inet_pton(AF_INET, host, addr) == 1)
        return torify_target_ipv4(t, addr, (uint16_t)port);
    if (inet_pton(AF_INET6, host, addr) == 1)
        return torify_target_ipv6(t, addr, (uint16_t)port);
    /* The length comes from the text, so the library sees the name as given. */
    return torify_target_host(t, host, hlen, (uint16_t)port);
}

static int copy_until_eof(int fd, int timeout_ms)
{
    char buf[4096];
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "socks_blocking: %s waiting for data\n", r == 0 ? "timeout" : strerror(errno));
            return 1;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "socks_blocking: recv: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0)
            return 0;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            return 1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *proxy_text = argv[1], *cmd = argv[2], *target_text = argv[3];
    struct torify_socks_opts opts = { .proto = TORIFY_SOCKS5 };
    int http = 0, read_all = 0, own_connect = 0;

    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--socks4") == 0)
            opts.proto = TORIFY_SOCKS4;
        else if (strcmp(argv[i], "--socks4a") == 0)
            opts.proto = TORIFY_SOCKS4A;
        else if (strcmp(argv[i], "--pipeline") == 0)
            opts.flags |= TORIFY_SOCKS_PIPELINE;
        else if (strcmp(argv[i], "--http") == 0)
            http = 1;
        else if (strcmp(argv[i], "--read") == 0)
            read_all = 1;
        else if (strcmp(argv[i], "--handshake") == 0)
            own_connect = 1;
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
            opts.user = argv[++i];
        else if (strcmp(argv[i], "--pass") == 0 && i + 1 < argc)
            opts.pass = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            opts.timeout_ms = atoi(argv[++i]);
        else
            return usage();
    }

    struct sockaddr_storage proxy;
    socklen_t proxy_len = 0;
    if (torify_sockaddr_parse(proxy_text, &proxy, &proxy_len) != TORIFY_OK) {
        fprintf(stderr, "socks_blocking: bad proxy address %s\n", proxy_text);
        return 2;
    }
    const struct sockaddr *psa = (const struct sockaddr *)&proxy;
    struct torify_target target, result;
    char text[300];
    torify_err err;

    if (strcmp(cmd, "connect") == 0) {
        err = parse_target(target_text, &target);
        if (err != TORIFY_OK)
            return fail(err);
        int fd;
        if (own_connect) {
            fd = socket(psa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, psa, proxy_len) != 0) {
                fprintf(stderr, "socks_blocking: connect to proxy: %s\n", strerror(errno));
                if (fd >= 0)
                    close(fd);
                return fail(TORIFY_E_PROXY_UNREACHABLE);
            }
            err = torify_socks_handshake_fd(fd, TORIFY_SOCKS_CONNECT, &target, &opts, &result);
            if (err != TORIFY_OK) {
                close(fd);
                return fail(err);
            }
        } else {
            fd = torify_socks_dial(psa, proxy_len, &target, &opts, &err);
            if (fd < 0)
                return fail(err);
        }
        printf("connected %s\n", torify_target_format(&target, text, sizeof(text)));
        if (own_connect)
            printf("bound %s\n", torify_target_format(&result, text, sizeof(text)));
        fflush(stdout);
        int rc = 0;
        if (http) {
            char req[400];
            int n = snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n",
                             target.kind == TORIFY_TARGET_HOST ? target.host : "localhost");
            if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
                fprintf(stderr, "socks_blocking: send failed\n");
                rc = 1;
            }
        }
        if (rc == 0 && (http || read_all))
            rc = copy_until_eof(fd, opts.timeout_ms > 0 ? opts.timeout_ms : 10000);
        fflush(stdout);
        close(fd);
        return rc;
    }
    if (strcmp(cmd, "resolve") == 0) {
        err = torify_socks_resolve(psa, proxy_len, target_text, &opts, &result);
        if (err != TORIFY_OK)
            return fail(err);
        char addr[INET6_ADDRSTRLEN];
        int fam = result.kind == TORIFY_TARGET_IPV6 ? AF_INET6 : AF_INET;
        if (result.kind != TORIFY_TARGET_IPV4 && result.kind != TORIFY_TARGET_IPV6)
            return fail(TORIFY_E_PROTO_RESOLVE_TYPE);
        if (inet_ntop(fam, result.addr, addr, sizeof(addr)) == NULL)
            return fail(TORIFY_E_IO);
        printf("resolved %s\n", addr);
        return 0;
    }
    if (strcmp(cmd, "ptr") == 0) {
        uint8_t addr[16];
        if (inet_pton(AF_INET, target_text, addr) == 1)
            err = torify_target_ipv4(&target, addr, 0);
        else if (inet_pton(AF_INET6, target_text, addr) == 1)
            err = torify_target_ipv6(&target, addr, 0);
        else
            return usage();
        if (err != TORIFY_OK)
            return fail(err);
        char name[256];
        err = torify_socks_resolve_ptr(psa, proxy_len, &target, &opts, name, sizeof(name));
        if (err != TORIFY_OK)
            return fail(err);
        printf("name %s\n", name);
        return 0;
    }
    return usage();
}
