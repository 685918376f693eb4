/*
 * stress_threads — many threads connecting through the shim at once.
 *
 *   stress_threads THREADS CONNECTS PORT [NAMES]
 *
 * Every thread makes CONNECTS connections, each to one of NAMES shared names
 * (default 200: threads race on the same map entries), alternating IPv4 and
 * IPv6 fake addresses, each verified end to end with a unique token
 * (stress_common.h).  Prints "stat connects N", "stat seconds S" and
 * "ok threads" when every connection was right.
 */
#include "stress_common.h"

#include <pthread.h>

static int n_connects, port, n_names;
static pthread_barrier_t start;
static atomic_int good, bad;

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < n_connects; i++) {
        char name[64], token[64];
        snprintf(name, sizeof name, "n%d.threads.test", (t * 31 + i) % n_names);
        snprintf(token, sizeof token, "t%d-i%d", t, i);
        if (stress_connect_echo(name, (i & 1) ? AF_INET6 : AF_INET, port, token) == 0)
            atomic_fetch_add(&good, 1);
        else
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
    if (threads < 1 || threads > 4096 || n_connects < 1 || port < 1 || n_names < 1)
        return 2;
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
    printf("stat connects %d\nstat failed %d\nstat seconds %.2f\n", atomic_load(&good), atomic_load(&bad),
           stress_now() - t0);
    if (atomic_load(&bad) != 0 || atomic_load(&good) != threads * n_connects)
        return 1;
    printf("ok threads\n");
    return 0;
}
