/*
 * stress_threads — many threads connecting through the shim at once.
 *
 *   stress_threads THREADS CONNECTS PORT [NAMES [nonblock]]
 *
 * Every thread makes CONNECTS connections, each to one of NAMES shared names
 * (default 200: threads race on the same map entries), alternating IPv4 and
 * IPv6 fake addresses, each verified end to end with a unique token
 * (stress_common.h).  Prints "stat connects N", "stat seconds S" and
 * "ok threads" when every connection was right.
 *
 * nonblock: sockets are O_NONBLOCK (the shim's EINPROGRESS path and its
 * helper thread): connect, poll for POLLOUT, SO_ERROR, then the echo; every
 * 10th connection is closed right after connect, mid-handshake.  The
 * process's open fds are counted before and after: none may be left over
 * ("stat fds_leaked"), and its resident set before and after ("stat
 * rss_start_kb", "stat rss_end_kb": the shim's pool of connection objects
 * must grow with the connects in flight, not with the connects made).
 */
#include "stress_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

static int n_connects, port, n_names;
static pthread_barrier_t start;
static atomic_int good, bad, closed_early;
static int nonblock;

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* One non-blocking connect; close_early: close it right after connect. */
static int connect_nonblock(const char *name, int family, const char *token, bool close_early)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (stress_resolve(name, family, port, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        STRESS_FAIL("socket: %s", strerror(errno));
        return -1;
    }
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
        STRESS_FAIL("connect %s: %s", name, strerror(errno));
    } else if (close_early) {
        atomic_fetch_add(&closed_early, 1);
        close(fd);
        return 1;
    } else {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t el = sizeof err;
        int fl = fcntl(fd, F_GETFL);
        if (poll(&p, 1, 20000) != 1 || !(p.revents & POLLOUT))
            STRESS_FAIL("poll %s: not writable (revents 0x%x)", name, p.revents);
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
            STRESS_FAIL("SO_ERROR %s: %s", name, strerror(err));
        else if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 || stress_timeouts(fd, 20) != 0)
            STRESS_FAIL("fcntl %s: %s", name, strerror(errno));
        else
            rc = stress_echo(fd, name, port, token);
    }
    close(fd);
    return rc;
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < n_connects; i++) {
        char name[64], token[64];
        snprintf(name, sizeof name, "n%d.threads.test", (t * 31 + i) % n_names);
        snprintf(token, sizeof token, "t%d-i%d", t, i);
        int family = (i & 1) ? AF_INET6 : AF_INET;
        int r = nonblock ? connect_nonblock(name, family, token, i % 10 == 9)
                         : stress_connect_echo(name, family, port, token);
        if (r == 0)
            atomic_fetch_add(&good, 1);
        else if (r < 0)
            atomic_fetch_add(&bad, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stress_threads THREADS CONNECTS PORT [NAMES]\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    n_connects = atoi(argv[2]);
    port = atoi(argv[3]);
    n_names = argc > 4 ? atoi(argv[4]) : 200;
    nonblock = argc > 5 && strcmp(argv[5], "nonblock") == 0;
    if (threads < 1 || threads > 4096 || n_connects < 1 || port < 1 || n_names < 1)
        return 2;
    int fds_before = -1;
    if (nonblock) {
        /* One connect first, so whatever the shim keeps for the process
         * (its helper's fds) is counted in the baseline. */
        if (connect_nonblock("warmup.threads.test", AF_INET, "warmup", false) != 0)
            return 1;
        fds_before = count_fds();
        printf("stat rss_start_kb %ld\n", stress_rss_kb());
    }
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    if (!th || pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0)
        return 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int t = 0; t < threads; t++) {
        if (pthread_create(&th[t], &attr, worker, (void *)(intptr_t)t) != 0) {
            printf("fail pthread_create %d\n", t);
            return 1;
        }
    }
    double t0 = stress_now();
    pthread_barrier_wait(&start);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    printf("stat connects %d\nstat failed %d\nstat closed_early %d\nstat seconds %.2f\n", atomic_load(&good),
           atomic_load(&bad), atomic_load(&closed_early), stress_now() - t0);
    if (nonblock) {
        /* A connection closed mid-handshake is let go by the helper at
         * once or when its handshake ends: give it a moment. */
        int leaked = 0;
        for (int tries = 0; tries < 100 && (leaked = count_fds() - fds_before) > 0; tries++)
            usleep(50000);
        printf("stat fds_leaked %d\nstat rss_end_kb %ld\n", leaked, stress_rss_kb());
        if (leaked != 0)
            return 1;
    }
    if (atomic_load(&bad) != 0 || atomic_load(&good) + atomic_load(&closed_early) != threads * n_connects)
        return 1;
    printf("ok threads\n");
    return 0;
}
