/*
 * socks_nonblocking — use the sans-IO codec the way an event loop does:
 * a non-blocking socket, poll() for readiness, and the codec deciding
 * what to send and how much to read.  Then an HTTP GET over the tunnel.
 *
 *   socks_nonblocking PROXY HOST:PORT [--socks4|--socks4a] [--user U] [--pass P]
 *                     [--pipeline] [--chunk N] [--timeout MS] [--resolve]
 *
 * --chunk N sends and reads at most N bytes per call, to exercise partial
 * writes (torify_socks_sent with less than offered) and partial replies.
 * --resolve does a Tor RESOLVE of HOST (port ignored) instead of CONNECT.
 *
 * Output: "error TORIFY_E_..." and exit 1 on a codec error; otherwise
 * "handshake done writes=W reads=R" (counts of send/recv calls), then for
 * CONNECT the HTTP response body, for RESOLVE "resolved ADDRESS".
 * Exit 2 on bad usage, 3 on a non-SOCKS failure (socket, HTTP).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <torify/socks.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline; 1 ready, 0 timeout, -1 error. */
static int wait_for(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r > 0)
            return 1;
    }
}

static int fail(torify_err err)
{
    printf("error %s\n", torify_err_name(err));
    return 1;
}

static int parse_target(const char *text, struct torify_target *t)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    char host[300];
    const char *start = text;
    size_t len = (size_t)(colon - text);
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        start++;
        len -= 2;
    }
    if (len >= sizeof(host))
        return -1;
    memcpy(host, start, len);
    host[len] = '\0';
    uint8_t addr[16];
    torify_err err;
    if (inet_pton(AF_INET, host, addr) == 1)
        err = torify_target_ipv4(t, addr, (uint16_t)port);
    else if (inet_pton(AF_INET6, host, addr) == 1)
        err = torify_target_ipv6(t, addr, (uint16_t)port);
    else
        err = torify_target_host(t, host, len, (uint16_t)port);
    return err == TORIFY_OK ? 0 : (int)err;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: socks_nonblocking PROXY HOST:PORT [--socks4|--socks4a] [--user U] "
                        "[--pass P] [--pipeline] [--chunk N] [--timeout MS] [--resolve]\n");
        return 2;
    }
    enum torify_socks_proto proto = TORIFY_SOCKS5;
    enum torify_socks_cmd cmd = TORIFY_SOCKS_CONNECT;
    const char *user = NULL, *pass = NULL;
    unsigned flags = 0;
    size_t chunk = 0;
    int timeout_ms = 10000;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--socks4") == 0)
            proto = TORIFY_SOCKS4;
        else if (strcmp(argv[i], "--socks4a") == 0)
            proto = TORIFY_SOCKS4A;
        else if (strcmp(argv[i], "--pipeline") == 0)
            flags |= TORIFY_SOCKS_PIPELINE;
        else if (strcmp(argv[i], "--resolve") == 0)
            cmd = TORIFY_SOCKS_RESOLVE;
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
            user = argv[++i];
        else if (strcmp(argv[i], "--pass") == 0 && i + 1 < argc)
            pass = argv[++i];
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
            chunk = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_ms = atoi(argv[++i]);
        else {
            fprintf(stderr, "socks_nonblocking: bad option %s\n", argv[i]);
            return 2;
        }
    }

    struct sockaddr_storage proxy;
    socklen_t proxy_len;
    struct torify_target target;
    if (torify_sockaddr_parse(argv[1], &proxy, &proxy_len) != TORIFY_OK) {
        fprintf(stderr, "socks_nonblocking: bad proxy %s\n", argv[1]);
        return 2;
    }
    int perr = parse_target(argv[2], &target);
    if (perr > 0)
        return fail((torify_err)perr);
    if (perr < 0) {
        fprintf(stderr, "socks_nonblocking: bad target %s\n", argv[2]);
        return 2;
    }

    /* The codec validates everything before any socket exists. */
    struct torify_socks s;
    torify_err err = torify_socks_init(&s, proto, cmd, &target, user, pass, flags);
    if (err != TORIFY_OK)
        return fail(err);

    long long deadline = now_ms() + timeout_ms;
    int fd = socket(proxy.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        return 3;
    }
    if (connect(fd, (struct sockaddr *)&proxy, proxy_len) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return fail(TORIFY_E_PROXY_UNREACHABLE);
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (wait_for(fd, POLLOUT, deadline) != 1) {
            close(fd);
            return fail(TORIFY_E_TIMEOUT);
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            close(fd);
            return fail(TORIFY_E_PROXY_UNREACHABLE);
        }
    }

    unsigned writes = 0, reads = 0;
    for (;;) {
        enum torify_socks_want w = torify_socks_want(&s);
        if (w == TORIFY_SOCKS_DONE)
            break;
        if (w == TORIFY_SOCKS_FAILED) {
            close(fd);
            return fail(torify_socks_error(&s));
        }
        if (w == TORIFY_SOCKS_WANT_WRITE) {
            const uint8_t *buf;
            size_t n = torify_socks_output(&s, &buf);
            if (chunk && n > chunk)
                n = chunk;
            ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (wait_for(fd, POLLOUT, deadline) != 1) {
                    close(fd);
                    return fail(TORIFY_E_TIMEOUT);
                }
                continue;
            }
            if (r < 0) {
                close(fd);
                return fail(TORIFY_E_IO);
            }
            writes++;
            if ((err = torify_socks_sent(&s, (size_t)r)) != TORIFY_OK) {
                close(fd);
                return fail(err);
            }
            continue;
        }
        /* WANT_READ: never read more than the codec needs, so bytes after
         * the reply stay in the socket for the application. */
        uint8_t in[512];
        size_t need = torify_socks_need(&s);
        if (need > sizeof(in))
            need = sizeof(in);
        if (chunk && need > chunk)
            need = chunk;
        ssize_t r = recv(fd, in, need, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_for(fd, POLLIN, deadline) != 1) {
                close(fd);
                return fail(TORIFY_E_TIMEOUT);
            }
            continue;
        }
        if (r < 0) {
            close(fd);
            return fail(TORIFY_E_IO);
        }
        reads++;
        if (r == 0) {
            (void)torify_socks_eof(&s);
            continue;
        }
        size_t used = 0;
        (void)torify_socks_feed(&s, in, (size_t)r, &used);
        if (torify_socks_want(&s) != TORIFY_SOCKS_FAILED && used != (size_t)r) {
            fprintf(stderr, "socks_nonblocking: codec took %zu of %zd bytes it asked for\n", used, r);
            close(fd);
            return 3;
        }
    }
    printf("handshake done writes=%u reads=%u\n", writes, reads);

    if (cmd == TORIFY_SOCKS_RESOLVE) {
        const struct torify_target *res = torify_socks_result(&s);
        char text[300];
        printf("resolved %s\n", torify_target_format(res, text, sizeof(text)));
        close(fd);
        return 0;
    }

    char req[400];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n",
                     target.kind == TORIFY_TARGET_HOST ? target.host : "localhost");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        close(fd);
        return 3;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t r = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_for(fd, POLLOUT, deadline) != 1) {
                close(fd);
                return 3;
            }
            continue;
        }
        if (r < 0) {
            close(fd);
            return 3;
        }
        off += (size_t)r;
    }

    /* Read the whole response (bounded), then print only the body. */
    static char resp[1 << 16];
    size_t have = 0;
    for (;;) {
        if (have == sizeof(resp) - 1)
            break;
        ssize_t r = recv(fd, resp + have, sizeof(resp) - 1 - have, 0);
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EAGAIN || errno == EINTR) {
            if (wait_for(fd, POLLIN, deadline) != 1) {
                close(fd);
                fprintf(stderr, "socks_nonblocking: timeout reading the HTTP response\n");
                return 3;
            }
            continue;
        }
        close(fd);
        return 3;
    }
    close(fd);
    resp[have] = '\0';
    char *body = strstr(resp, "\r\n\r\n");
    if (body == NULL) {
        fprintf(stderr, "socks_nonblocking: no HTTP body in %zu bytes\n", have);
        return 3;
    }
    fputs(body + 4, stdout);
    return 0;
}
