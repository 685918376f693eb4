/*
 * stress_names — many more distinct names than the fake map holds.
 *
 *   stress_names NAMES HELD PORT
 *
 * Opens HELD connections to names of their own and keeps them open, then
 * looks up NAMES distinct names (more than the map's 65,536 slots: least
 * recently used slots are recycled).  Every 1,000th name is mapped back
 * (getnameinfo) and every 5,000th connected (echo-verified).  At the end the
 * held connections' names must still own their addresses — held slots are
 * never recycled — and each held connection still carries its echo.
 * Prints "stat rss_start_kb" (before the map is full), "stat rss_full_kb"
 * (when it first is), "stat rss_end_kb" and "ok names".
 */
#include "stress_common.h"

#define CAPACITY 65536

static int check_back(const struct sockaddr_storage *ss, socklen_t len, const char *name)
{
    char host[NI_MAXHOST];
    int r = getnameinfo((const struct sockaddr *)ss, len, host, sizeof host, NULL, 0, NI_NAMEREQD);
    if (r != 0 || strcmp(host, name) != 0) {
        STRESS_FAIL("%s maps back to %.200s", name, r ? gai_strerror(r) : host);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stress_names NAMES HELD PORT\n");
        return 2;
    }
    int names = atoi(argv[1]), held = atoi(argv[2]), port = atoi(argv[3]);
    if (names < 1 || held < 0 || held > 1000 || port < 1)
        return 2;
    int *fds = calloc((size_t)held + 1, sizeof *fds);
    struct sockaddr_storage *addrs = calloc((size_t)held + 1, sizeof *addrs);
    if (!fds || !addrs)
        return 2;
    int failed = 0;
    double t0 = stress_now();
    for (int h = 0; h < held; h++) {
        char name[64];
        snprintf(name, sizeof name, "held%d.names.test", h);
        socklen_t len;
        if (stress_resolve(name, AF_INET, port, &addrs[h], &len) != 0)
            return 1;
        fds[h] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[h] < 0 || stress_timeouts(fds[h], 20) != 0 ||
            connect(fds[h], (struct sockaddr *)&addrs[h], len) != 0) {
            STRESS_FAIL("held connect %s: %s", name, strerror(errno));
            return 1;
        }
    }
    long rss_start = stress_rss_kb(), rss_full = -1;
    for (int i = 0; i < names; i++) {
        char name[64];
        snprintf(name, sizeof name, "x%d.names.test", i);
        struct sockaddr_storage ss;
        socklen_t len;
        if (stress_resolve(name, (i & 1) ? AF_INET6 : AF_INET, port, &ss, &len) != 0) {
            failed++;
            continue;
        }
        if (i % 1000 == 999 && check_back(&ss, len, name) != 0)
            failed++;
        if (i % 5000 == 4999 && stress_connect_echo(name, AF_INET, port, "names-churn") != 0)
            failed++;
        if (i == CAPACITY)
            rss_full = stress_rss_kb();
    }
    long rss_end = stress_rss_kb();
    /* Held names kept their slots through all that recycling. */
    for (int h = 0; h < held; h++) {
        char name[64], token[32];
        snprintf(name, sizeof name, "held%d.names.test", h);
        if (check_back(&addrs[h], sizeof(struct sockaddr_in), name) != 0)
            failed++;
        struct sockaddr_storage ss;
        socklen_t len;
        if (stress_resolve(name, AF_INET, port, &ss, &len) != 0 ||
            memcmp(&((struct sockaddr_in *)&ss)->sin_addr, &((struct sockaddr_in *)&addrs[h])->sin_addr, 4) != 0) {
            STRESS_FAIL("held name %s changed its address", name);
            failed++;
        }
        snprintf(token, sizeof token, "held-%d", h);
        if (stress_echo(fds[h], name, port, token) != 0)
            failed++;
        close(fds[h]);
    }
    printf("stat names %d\nstat held %d\nstat failed %d\nstat rss_start_kb %ld\nstat rss_full_kb %ld\n"
           "stat rss_end_kb %ld\nstat seconds %.2f\n",
           names, held, failed, rss_start, rss_full, rss_end, stress_now() - t0);
    if (failed || atomic_load(&stress_fail_lines))
        return 1;
    printf("ok names\n");
    return 0;
}
