/*
 * bench_calls — loops over the calls a preloaded library sits in, for
 * instruction counting (scripts/bench runs it under callgrind).
 *
 *   bench_calls socket_close N    N x socket(AF_UNIX, SOCK_STREAM) + close
 *   bench_calls getaddrinfo N     N x getaddrinfo("127.0.0.1", "80", NUMERICHOST)
 *   bench_calls connect_unix N PATH   N x socket(AF_UNIX)+connect(PATH)+close
 *
 * Running it with N and with 0 and subtracting isolates the per-call cost
 * from start-up (loader, library constructors, first-call resolution).
 */
#include <netdb.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int run_socket_close(long n)
{
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) { perror("socket"); return 1; }
        if (close(fd) != 0) { perror("close"); return 1; }
    }
    return 0;
}

static int run_getaddrinfo(long n)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    for (long i = 0; i < n; i++) {
        struct addrinfo *res = NULL;
        int rc = getaddrinfo("127.0.0.1", "80", &hints, &res);
        if (rc != 0) { fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc)); return 1; }
        freeaddrinfo(res);
    }
    return 0;
}

static int run_connect_unix(long n, const char *path)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun.sun_path) { fprintf(stderr, "path too long\n"); return 1; }
    memcpy(sun.sun_path, path, strlen(path));
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) { perror("socket"); return 1; }
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) { perror("connect"); close(fd); return 1; }
        close(fd);
    }
    return 0;
}

/* read(2) of one byte from /dev/zero: the pass-through of read for an fd
 * that owes no SOCKS reply (optimistic data, shim/opt_io.c). */
static int run_read(long n)
{
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { perror("open"); return 1; }
    char c;
    for (long i = 0; i < n; i++)
        if (read(fd, &c, 1) != 1) { perror("read"); close(fd); return 1; }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s socket_close|getaddrinfo|read|connect_unix N [PATH]\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    if (strcmp(argv[1], "socket_close") == 0) return run_socket_close(n);
    if (strcmp(argv[1], "getaddrinfo") == 0) return run_getaddrinfo(n);
    if (strcmp(argv[1], "read") == 0) return run_read(n);
    if (strcmp(argv[1], "connect_unix") == 0 && argc > 3) return run_connect_unix(n, argv[3]);
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
