/*
 * connect_echo — the timing loop of scripts/bench-connect's table: N times
 * connect to IP:PORT, send one byte, read it back, close; each round timed
 * on its own (CLOCK_MONOTONIC).
 *
 *   connect_echo plain N IP PORT          libc socket/connect (what torify,
 *                                         torsocks and proxychains4 hook)
 *   connect_echo socks N PROXY IP PORT    the program speaks SOCKS5 itself
 *                                         through libtorify-socks.a's blocking
 *                                         helper (torify_socks_dial): the limit
 *                                         a library in between can approach
 *
 * Ten unmeasured rounds first (page faults, the library's first-use set-up).
 * Prints "median_us X", "p90_us Y", "rounds N"; exit 1 at the first failure
 * (with a "fail" line), 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <torify/socks.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int echo1(int fd)
{
    char c = 'x', r = 0;
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
        return -1;
    for (;;) {
        ssize_t n = recv(fd, &r, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        return n == 1 && r == c ? 0 : -1;
    }
}

int main(int argc, char **argv)
{
    int socks = argc == 6 && strcmp(argv[1], "socks") == 0;
    if (!socks && !(argc == 5 && strcmp(argv[1], "plain") == 0)) {
        fprintf(stderr, "usage: connect_echo plain N IP PORT | socks N PROXY IP PORT\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    const char *ip = argv[socks ? 4 : 3], *port_text = argv[socks ? 5 : 4];
    uint16_t port;
    struct sockaddr_storage dest, proxy;
    socklen_t dest_len, proxy_len = 0;
    struct torify_target target;
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%s", ip, port_text);
    if (n < 1 || n > 10000000 || torify_port_parse(port_text, &port) != TORIFY_OK ||
        torify_sockaddr_parse(hostport, &dest, &dest_len) != TORIFY_OK ||
        torify_target_sockaddr(&target, (struct sockaddr *)&dest, dest_len) != TORIFY_OK)
        return 2;
    if (socks && torify_sockaddr_parse(argv[3], &proxy, &proxy_len) != TORIFY_OK)
        return 2;
    struct torify_socks_opts opts = { .timeout_ms = 10000 };
    double *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return 2;
    for (long i = -10; i < n; i++) {
        double t0 = now_us();
        int fd;
        if (socks) {
            torify_err err = TORIFY_OK;
            fd = torify_socks_dial((struct sockaddr *)&proxy, proxy_len, &target, &opts, &err);
            if (fd < 0) {
                printf("fail dial: %s\n", torify_strerror(err));
                return 1;
            }
        } else {
            fd = socket(dest.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&dest, dest_len) != 0) {
                printf("fail connect: %s\n", strerror(errno));
                return 1;
            }
        }
        int e = echo1(fd);
        close(fd);
        if (e != 0) {
            printf("fail echo\n");
            return 1;
        }
        if (i >= 0)
            t[i] = now_us() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("median_us %.1f\np90_us %.1f\nrounds %ld\n", t[n / 2], t[(n * 9) / 10], n);
    free(t);
    return 0;
}
