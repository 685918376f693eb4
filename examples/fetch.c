/* fetch PROXY HOST [PORT]: print http://HOST:PORT/ fetched through a SOCKS5 proxy.
 * cc fetch.c $(pkg-config --cflags --libs torify-socks) -o fetch */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <torify/socks.h>

int main(int argc, char **argv) {
    struct sockaddr_storage proxy; socklen_t plen; struct torify_target t; torify_err err;
    if (argc < 3 || torify_sockaddr_parse(argv[1], &proxy, &plen) != TORIFY_OK ||
        torify_target_host(&t, argv[2], strlen(argv[2]), argc > 3 ? atoi(argv[3]) : 80) != TORIFY_OK)
        return fprintf(stderr, "usage: fetch PROXY HOST [PORT]\n"), 2;
    struct torify_socks_opts opts = { .proto = TORIFY_SOCKS5, .timeout_ms = 10000 };
    int fd = torify_socks_dial((struct sockaddr *)&proxy, plen, &t, &opts, &err);
    if (fd < 0) return fprintf(stderr, "fetch: %s\n", torify_strerror(err)), 1;
    char buf[4096]; int n = snprintf(buf, sizeof buf, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", argv[2]);
    if (write(fd, buf, n) != n) return perror("write"), 1;
    for (ssize_t r; (r = read(fd, buf, sizeof buf)) > 0;) fwrite(buf, 1, r, stdout);
    return close(fd), 0;
}
