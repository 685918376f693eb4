/*
 * stress_load — connections made continuously from many threads, for the
 * load-and-faults test (tests/integration/test_stress_faults.py) and
 * scripts/bench-connect's throughput part.
 *
 *   stress_load run SECONDS THREADS IP PORT [NAMES [WARM]]
 *   stress_load count THREADS CONNECTS IP PORT
 *
 * Every connection: connect, send 8 bytes (count: 1), read them back (an
 * echo server, or socks_echo behind torify), close.  Destinations alternate
 * between IP:PORT as given and a name "nK.load.test" (K < NAMES, default
 * 100; 0: the address only) looked up with getaddrinfo, so under
 * libtorify.so both the address path and the fake-name path are used.
 *
 * run: half the threads use blocking sockets, half non-blocking ones
 * (connect, poll, SO_ERROR).  A failed connection is counted by kind and the
 * thread waits 10 ms before the next (a client backing off; while the
 * SOCKS port is down a tight loop would only burn the shared machine):
 *   refused  connect failed with ECONNREFUSED (SO_ERROR for non-blocking)
 *   other    connect failed otherwise (the errno is on a "fail" line)
 *   echo     connected, but the echo failed (reset, EOF, wrong bytes)
 * The test needs the process still at both ends, with nothing in flight, to
 * compare its fds, threads and memory: after WARM connections of the same
 * load (default 0: one a thread; not counted) the threads park and "quiet
 * start warm_failed N" is printed; the run begins when a line arrives on
 * stdin.  The warm-up is there because the first connections take memory
 * once for good: the shim's pool of connection objects (shim/nb_conn.c,
 * 16,384 of them, 34 MiB) is walked round-robin, so every object is touched
 * once before the first is reused; "flat" is judged after that.  Every 250 ms a line "tick T ok N refused N other
 * N echo N" (cumulative, T seconds since the start).  After SECONDS the
 * threads park again (still alive), "quiet end" is printed and a second
 * stdin line lets the program end.  Exit 0 unless set-up failed.
 *
 * count: THREADS blocking threads, CONNECTS connections each, started
 * together; prints "stat connects N", "stat failed N", "stat seconds S",
 * "stat per_second R"; exit 1 on any failure.
 */
#include "stress_common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

static const char *dest_ip, *dest_port;
static int n_names = 100;
static size_t echo_len = 8; /* count: 1 */
static atomic_int stop_run;
static long warm_count;
static atomic_long n_warm_done, n_warm_failed;
static atomic_long n_ok, n_refused, n_other, n_echo;
static pthread_barrier_t warm, go, done, leave;

enum outcome { OUT_OK, OUT_REFUSED, OUT_OTHER, OUT_ECHO };

static int resolve(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_INET;
    if (getaddrinfo(host, dest_port, &hints, &res) != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static enum outcome fail_connect(const char *host, int err)
{
    if (err == ECONNREFUSED)
        return OUT_REFUSED;
    STRESS_FAIL("connect %s: %s", host, strerror(err));
    return OUT_OTHER;
}

/* Send n bytes (1..8) and read them back. */
static enum outcome echo_n(int fd, long serial, size_t n)
{
    char out[9], in[8];
    snprintf(out, sizeof out, "%08lx", serial & 0xFFFFFFFF);
    if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
        return OUT_ECHO;
    size_t have = 0;
    while (have < n) {
        ssize_t r = recv(fd, in + have, n - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return OUT_ECHO;
        have += (size_t)r;
    }
    return memcmp(in, out, n) == 0 ? OUT_OK : OUT_ECHO;
}

static enum outcome one(long serial, int nonblock)
{
    char host[64];
    int by_name = n_names > 0 && (serial & 1);
    if (by_name)
        snprintf(host, sizeof host, "n%ld.load.test", (serial >> 1) % n_names);
    else
        snprintf(host, sizeof host, "%s", dest_ip);
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(host, &ss, &len) != 0) {
        STRESS_FAIL("getaddrinfo %s failed", host);
        return OUT_OTHER;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        STRESS_FAIL("socket: %s", strerror(errno));
        return OUT_OTHER;
    }
    enum outcome o;
    if (stress_timeouts(fd, 10) != 0) {
        STRESS_FAIL("setsockopt: %s", strerror(errno));
        o = OUT_OTHER;
    } else if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
        o = echo_n(fd, serial, echo_len);
    } else if (!nonblock || errno != EINPROGRESS) {
        o = fail_connect(host, errno);
    } else {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t el = sizeof err;
        int fl = fcntl(fd, F_GETFL);
        if (poll(&p, 1, 10000) != 1) {
            STRESS_FAIL("poll %s: no answer in 10 s", host);
            o = OUT_OTHER;
        } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) {
            o = fail_connect(host, errno);
        } else if (err != 0) {
            o = fail_connect(host, err);
        } else if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            STRESS_FAIL("fcntl: %s", strerror(errno));
            o = OUT_OTHER;
        } else {
            o = echo_n(fd, serial, echo_len);
        }
    }
    close(fd);
    return o;
}

static void count(enum outcome o)
{
    atomic_long *c[] = { &n_ok, &n_refused, &n_other, &n_echo };
    atomic_fetch_add(c[o], 1);
}

static void *run_worker(void *arg)
{
    long t = (long)(intptr_t)arg;
    int nonblock = (int)(t & 1);
    long serial = t << 24;
    /* The warm-up makes whatever the shim keeps per process (its helper
     * thread for non-blocking connects, the fake map, its pool) exist
     * before the first sample. */
    enum outcome o;
    do {
        if ((o = one(serial++, nonblock)) != OUT_OK) {
            atomic_fetch_add(&n_warm_failed, 1);
            usleep(10000);
        }
    } while (atomic_fetch_add(&n_warm_done, 1) + 1 < warm_count);
    pthread_barrier_wait(&warm);
    pthread_barrier_wait(&go);
    while (!stop_run) {
        o = one(serial++, nonblock);
        count(o);
        if (o != OUT_OK)
            usleep(10000);
    }
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&leave);
    return NULL;
}

static int wait_line(void)
{
    char line[64];
    return fgets(line, sizeof line, stdin) ? 0 : -1;
}

static void tick(double t)
{
    printf("tick %.2f ok %ld refused %ld other %ld echo %ld\n", t, atomic_load(&n_ok), atomic_load(&n_refused),
           atomic_load(&n_other), atomic_load(&n_echo));
    fflush(stdout);
}

static int start_threads(pthread_t *th, int threads, void *(*fn)(void *))
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, 256 * 1024) != 0)
        return -1;
    for (int t = 0; t < threads; t++)
        if (pthread_create(&th[t], &attr, fn, (void *)(intptr_t)t) != 0)
            return -1;
    pthread_attr_destroy(&attr);
    return 0;
}

static int do_run(double seconds, int threads)
{
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    unsigned parties = (unsigned)threads + 1;
    if (!th || pthread_barrier_init(&warm, NULL, parties) != 0 || pthread_barrier_init(&go, NULL, parties) != 0 ||
        pthread_barrier_init(&done, NULL, parties) != 0 || pthread_barrier_init(&leave, NULL, parties) != 0)
        return 2;
    if (start_threads(th, threads, run_worker) != 0) {
        printf("fail pthread_create\n");
        return 2;
    }
    pthread_barrier_wait(&warm);
    printf("quiet start warm_failed %ld\n", atomic_load(&n_warm_failed));
    fflush(stdout);
    if (wait_line() != 0)
        return 2;
    double t0 = stress_now();
    pthread_barrier_wait(&go);
    for (double t; (t = stress_now() - t0) < seconds;) {
        usleep(250000);
        tick(stress_now() - t0);
    }
    stop_run = 1;
    pthread_barrier_wait(&done);
    tick(stress_now() - t0);
    printf("quiet end\n");
    fflush(stdout);
    int rc = wait_line() != 0 ? 2 : 0;
    pthread_barrier_wait(&leave);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    free(th);
    return rc;
}

static int per_thread;

static void *count_worker(void *arg)
{
    long t = (long)(intptr_t)arg;
    pthread_barrier_wait(&go);
    for (long i = 0; i < per_thread; i++)
        count(one((t << 24) + i, 0));
    return NULL;
}

static int do_count(int threads)
{
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    if (!th || pthread_barrier_init(&go, NULL, (unsigned)threads + 1) != 0)
        return 2;
    if (start_threads(th, threads, count_worker) != 0) {
        printf("fail pthread_create\n");
        return 2;
    }
    double t0 = stress_now();
    pthread_barrier_wait(&go);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    double s = stress_now() - t0;
    long ok = atomic_load(&n_ok);
    long failed = atomic_load(&n_refused) + atomic_load(&n_other) + atomic_load(&n_echo);
    printf("stat connects %ld\nstat failed %ld\nstat seconds %.3f\nstat per_second %.0f\n", ok, failed, s,
           s > 0 ? (double)ok / s : 0.0);
    free(th);
    return failed == 0 && ok == (long)threads * per_thread ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "run") == 0) {
        double seconds = atof(argv[2]);
        int threads = atoi(argv[3]);
        dest_ip = argv[4];
        dest_port = argv[5];
        if (argc > 6)
            n_names = atoi(argv[6]);
        warm_count = argc > 7 ? atol(argv[7]) : 0;
        if (seconds <= 0 || threads < 1 || threads > 1024 || n_names < 0 || warm_count < 0)
            return 2;
        return do_run(seconds, threads);
    }
    if (argc == 6 && strcmp(argv[1], "count") == 0) {
        int threads = atoi(argv[2]);
        per_thread = atoi(argv[3]);
        dest_ip = argv[4];
        dest_port = argv[5];
        n_names = 0;
        echo_len = 1;
        if (threads < 1 || threads > 1024 || per_thread < 1)
            return 2;
        return do_count(threads);
    }
    fprintf(stderr, "usage: stress_load run SECONDS THREADS IP PORT [NAMES [WARM]] | count THREADS CONNECTS IP PORT\n");
    return 2;
}
