/*
 * dns_stress — many hand-made DNS queries over UDP, for the load test and
 * the benchmark.
 *
 *   dns_stress stress THREADS QUERIES SERVER PORT NAME
 *   dns_stress bench QUERIES SERVER PORT NAME [reuse]
 *
 * stress: THREADS threads each send QUERIES A queries for t<i>.NAME (i: the
 * thread), one at a time, each on a new UDP socket closed after its reply
 * (sendto + recvfrom), as a resolver does per lookup.  A query is answered
 * when a reply with its ID and an A record comes back within 3 s; every
 * answer of one thread must be the same address (one name, one address).
 * Prints one line:
 *   stress threads=T queries=Q answered=N unanswered=N wrong=N inconsistent=N fds_before=N fds_after=N
 * fds_* count /proc/self/fd before the threads start and after they are
 * joined: a socket the program closed must not stay open behind its back.
 * Exit 0 when every query was answered consistently and fds_after equals
 * fds_before.
 *
 * bench: QUERIES queries in a row after 100 unmeasured ones, each as dig
 * does it (new socket, sendto, recvfrom, close), or with "reuse" all on one
 * socket (sendto, recvfrom: what an answer costs without making a socket),
 * each timed on the monotonic clock:
 *   bench queries=N answered=N p50_us=X p99_us=X per_s=X
 */
#include "call_common.h"
#include "dns_msg.h"

#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct job {
    int index, queries;
    const struct sockaddr_storage *ss;
    socklen_t len;
    const char *name;
    int answered, unanswered, wrong, inconsistent;
};

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* One lookup, on fd or (fd < 0) on a new socket: 1 answered (addr filled),
 * 0 no reply in time, -1 a reply that is not the answer (or a failed call). */
static int one_query_on(int reuse, const struct sockaddr_storage *ss, socklen_t len, uint16_t id,
                        const char *name, char *addr, size_t addrlen)
{
    unsigned char q[512], m[DNS_MAX_MSG];
    size_t qlen = dns_build(id, name, DNS_T_A, q, sizeof q);
    if (!qlen)
        return -1;
    int fd = reuse >= 0 ? reuse : socket(ss->ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (sendto(fd, q, qlen, 0, (const struct sockaddr *)ss, len) == (ssize_t)qlen) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, 3000);
        if (n == 0) {
            rc = 0;
        } else if (n > 0) {
            ssize_t got = recv(fd, m, sizeof m, 0);
            struct dns_reply r;
            dns_parse(m, got > 0 ? (size_t)got : 0, q, qlen, &r);
            const char *a = r.ok && r.id_ok && r.question_ok ? dns_first_address(&r) : NULL;
            if (a) {
                snprintf(addr, addrlen, "%s", a);
                rc = 1;
            }
        }
    }
    if (reuse < 0)
        close(fd);
    return rc;
}

static int one_query(const struct sockaddr_storage *ss, socklen_t len, uint16_t id, const char *name,
                     char *addr, size_t addrlen)
{
    return one_query_on(-1, ss, len, id, name, addr, addrlen);
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    char name[DNS_NAME_MAX], first[INET6_ADDRSTRLEN] = "", addr[INET6_ADDRSTRLEN];
    snprintf(name, sizeof name, "t%d.%s", j->index, j->name);
    for (int i = 0; i < j->queries; i++) {
        uint16_t id = (uint16_t)(j->index * 7919 + i * 31 + 1);
        int r = one_query(j->ss, j->len, id, name, addr, sizeof addr);
        if (r == 1) {
            j->answered++;
            if (!first[0])
                snprintf(first, sizeof first, "%s", addr);
            else if (strcmp(first, addr))
                j->inconsistent++;
        } else if (r == 0) {
            j->unanswered++;
        } else {
            j->wrong++;
        }
    }
    return NULL;
}

static int stress(int threads, int queries, const struct sockaddr_storage *ss, socklen_t len, const char *name)
{
    struct job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!jobs || !tid)
        return report_fail("calloc", ENOMEM);
    int before = count_fds();
    int started = 0;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){ .index = i, .queries = queries, .ss = ss, .len = len, .name = name };
        if (pthread_create(&tid[i], NULL, run_job, &jobs[i]) != 0)
            break;
        started++;
    }
    struct job sum = {0};
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        sum.answered += jobs[i].answered;
        sum.unanswered += jobs[i].unanswered;
        sum.wrong += jobs[i].wrong;
        sum.inconsistent += jobs[i].inconsistent;
    }
    int after = count_fds();
    printf("stress threads=%d queries=%d answered=%d unanswered=%d wrong=%d inconsistent=%d fds_before=%d "
           "fds_after=%d\n", started, queries, sum.answered, sum.unanswered, sum.wrong, sum.inconsistent,
           before, after);
    fflush(stdout);
    free(jobs);
    free(tid);
    return started == threads && sum.answered == threads * queries && !sum.inconsistent && before == after ? 0 : 1;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench(int queries, const struct sockaddr_storage *ss, socklen_t len, const char *name, int reuse)
{
    char addr[INET6_ADDRSTRLEN];
    int fd = -1;
    if (reuse && (fd = socket(ss->ss_family, SOCK_DGRAM, 0)) < 0)
        return report_fail("socket", errno);
    for (int i = 0; i < 100; i++)
        one_query_on(fd, ss, len, (uint16_t)i, name, addr, sizeof addr);
    double *us = calloc((size_t)queries, sizeof *us);
    if (!us)
        return report_fail("calloc", ENOMEM);
    int answered = 0;
    double t0 = now_us();
    for (int i = 0; i < queries; i++) {
        double t = now_us();
        answered += one_query_on(fd, ss, len, (uint16_t)(i + 100), name, addr, sizeof addr) == 1;
        us[i] = now_us() - t;
    }
    double total = now_us() - t0;
    qsort(us, (size_t)queries, sizeof *us, cmp_double);
    printf("bench queries=%d answered=%d p50_us=%.1f p99_us=%.1f per_s=%.0f\n", queries, answered,
           us[queries / 2], us[(size_t)((queries - 1) * 0.99)], queries / (total / 1e6));
    fflush(stdout);
    free(us);
    if (fd >= 0)
        close(fd);
    return answered == queries ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc == 7 && !strcmp(argv[1], "stress") && parse_numeric(argv[4], argv[5], &ss, &len) == 0) {
        int t = atoi(argv[2]), q = atoi(argv[3]);
        if (t > 0 && t <= 1024 && q > 0)
            return stress(t, q, &ss, len, argv[6]);
    }
    if ((argc == 6 || (argc == 7 && !strcmp(argv[6], "reuse"))) && !strcmp(argv[1], "bench") &&
        parse_numeric(argv[3], argv[4], &ss, &len) == 0) {
        int q = atoi(argv[2]);
        if (q > 0)
            return bench(q, &ss, len, argv[5], argc == 7);
    }
    fprintf(stderr, "usage: dns_stress stress THREADS QUERIES SERVER PORT NAME\n"
                    "       dns_stress bench QUERIES SERVER PORT NAME [reuse]\n");
    return 2;
}
