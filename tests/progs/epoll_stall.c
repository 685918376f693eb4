/*
 * epoll_stall — an epoll event loop fetching pages over many non-blocking TCP
 * connections, measuring how long the loop is stalled by any single call.
 *
 *   epoll_stall fetch HOST PORT N CONC PATH [MARKER] [--timeout MS]   (MS <= 250000, default 60000)
 *       N fetches of http://HOST:PORT/PATH<i> (i = 0..N-1), at most CONC at a
 *       time, each on its own connection: getaddrinfo(HOST) (through a shim a
 *       fake address: the name goes to Tor), socket(SOCK_NONBLOCK), connect
 *       (0 or EINPROGRESS), EPOLLOUT, SO_ERROR, write the GET, read to EOF.
 *       A 1 ms periodic timerfd in the same loop measures how late its ticks
 *       are handled.
 *   epoll_stall rtt COUNT
 *       The loopback round trip: COUNT one-byte ping-pongs over TCP on
 *       127.0.0.1 (TCP_NODELAY) with an echo thread; the goal line for the
 *       stall figures.
 *
 * Every call other than epoll_wait (getaddrinfo, socket, connect, getsockopt,
 * write, read, close) is timed; a connection's stall is its longest call.
 * Output: one JSON line (stalls_ms: every connection's stall, in start order;
 * stall_ms, timer_late_ms, fetch_ms: max/p50/p99).  fetch exits 0 iff all N fetches returned
 * "HTTP/1.x 200", a body of the announced Content-Length and, if given,
 * MARKER in the body; 1 otherwise; 2 on bad usage; 3 on a setup error.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define RESP_MAX (256 * 1024)
#define MAX_ERRORS 8

enum call { C_GAI, C_SOCKET, C_CONNECT, C_SOERROR, C_WRITE, C_READ, C_CLOSE, C_COUNT };
static const char *const call_name[C_COUNT] = {
    "getaddrinfo", "socket", "connect", "getsockopt", "write", "read", "close",
};

enum phase { P_IDLE, P_CONNECTING, P_WRITING, P_READING, P_DONE };

struct conn {
    enum phase phase;
    int fd;
    int index;
    char req[600];
    size_t req_len, req_sent;
    char *resp;
    size_t resp_len;
    double stall_ns;       /* longest single call made for this connection */
    enum call stall_call;
    double started_ns, finished_ns;
};

static double call_max_ns[C_COUNT];
static char errors[MAX_ERRORS][200];
static int n_errors;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Record that a call of kind k for connection c (may be NULL) took from t0 to now. */
static void timed(struct conn *c, enum call k, double t0)
{
    double d = now_ns() - t0;
    if (d > call_max_ns[k])
        call_max_ns[k] = d;
    if (c && d > c->stall_ns) {
        c->stall_ns = d;
        c->stall_call = k;
    }
}

static void note_error(int index, const char *what, int err)
{
    if (n_errors >= MAX_ERRORS)
        return;
    snprintf(errors[n_errors++], sizeof errors[0], "fetch %d: %s%s%s", index, what,
             err ? ": " : "", err ? strerror(err) : "");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array (q in 0..100). */
static double pct(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)((q / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* ---- fetch ---------------------------------------------------------------- */

struct fetch_args {
    const char *host, *port, *path, *marker;
    int n, conc;
    long timeout_ms;
};

/* Check a complete HTTP/1.x response: status 200, body as long as announced, marker. */
static const char *check_response(const struct conn *c, const char *marker)
{
    if (c->resp_len < 12 || memcmp(c->resp, "HTTP/1.", 7) != 0 || memcmp(c->resp + 8, " 200", 4) != 0)
        return "status is not HTTP/1.x 200";
    const char *end = memmem(c->resp, c->resp_len, "\r\n\r\n", 4);
    if (!end)
        return "no end of headers";
    size_t head = (size_t)(end - c->resp) + 4, body = c->resp_len - head;
    for (const char *p = c->resp; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
            char num[24];
            size_t l = (size_t)(eol - p) - 15;
            if (l >= sizeof num)
                return "bad Content-Length";
            memcpy(num, p + 15, l);
            num[l] = '\0';
            char *e;
            unsigned long long want = strtoull(num, &e, 10);
            if (e == num || want != body)
                return "body length differs from Content-Length";
        }
        p = eol + 2;
    }
    if (marker && *marker && !memmem(c->resp + head, body, marker, strlen(marker)))
        return "marker missing from the body";
    return NULL;
}

static int ep_mod(int ep, int op, struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    return epoll_ctl(ep, op, c->fd, &ev);
}

static void finish(int ep, struct conn *c, int ok_so_far, const char *marker, int *ok, int *failed)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        double t0 = now_ns();
        close(c->fd);
        timed(c, C_CLOSE, t0);
        c->fd = -1;
    }
    c->finished_ns = now_ns();
    if (ok_so_far) {
        const char *why = check_response(c, marker);
        if (why) {
            note_error(c->index, why, 0);
            ok_so_far = 0;
        }
    }
    if (ok_so_far)
        (*ok)++;
    else
        (*failed)++;
    free(c->resp);
    c->resp = NULL;
    c->phase = P_DONE;
}

/* getaddrinfo, socket, connect for fetch c; 0, or -1 (already counted as failed). */
static int start(int ep, struct conn *c, const struct fetch_args *a, int *ok, int *failed)
{
    c->started_ns = now_ns();
    c->resp = malloc(RESP_MAX);
    if (!c->resp) {
        note_error(c->index, "malloc", ENOMEM);
        finish(ep, c, 0, NULL, ok, failed);
        return -1;
    }
    int n = snprintf(c->req, sizeof c->req, "GET %s%d HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: epoll_stall\r\n"
                     "Connection: close\r\n\r\n", a->path, c->index, a->host, a->port);
    if (n < 0 || (size_t)n >= sizeof c->req) {
        note_error(c->index, "request too long", 0);
        finish(ep, c, 0, NULL, ok, failed);
        return -1;
    }
    c->req_len = (size_t)n;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    double t0 = now_ns();
    int g = getaddrinfo(a->host, a->port, &hints, &res);
    timed(c, C_GAI, t0);
    if (g != 0) {
        if (n_errors < MAX_ERRORS)
            snprintf(errors[n_errors++], sizeof errors[0], "fetch %d: getaddrinfo: %s", c->index, gai_strerror(g));
        finish(ep, c, 0, NULL, ok, failed);
        return -1;
    }
    t0 = now_ns();
    c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    timed(c, C_SOCKET, t0);
    if (c->fd < 0) {
        note_error(c->index, "socket", errno);
        freeaddrinfo(res);
        finish(ep, c, 0, NULL, ok, failed);
        return -1;
    }
    t0 = now_ns();
    int r = connect(c->fd, res->ai_addr, res->ai_addrlen);
    int err = errno;
    timed(c, C_CONNECT, t0);
    freeaddrinfo(res);
    if (r != 0 && err != EINPROGRESS) {
        note_error(c->index, "connect", err);
        finish(ep, c, 0, NULL, ok, failed);
        return -1;
    }
    /* Even a connect that returned 0 waits for EPOLLOUT: one code path. */
    c->phase = P_CONNECTING;
    if (ep_mod(ep, EPOLL_CTL_ADD, c, EPOLLOUT) != 0) {
        note_error(c->index, "epoll_ctl", errno);
        finish(ep, c, 0, NULL, ok, failed);
        return -1;
    }
    return 0;
}

/* Progress of connection c after an epoll event. */
static void step(int ep, struct conn *c, uint32_t events, const char *marker, int *ok, int *failed)
{
    if (c->phase == P_CONNECTING) {
        int soerr = 0;
        socklen_t l = sizeof soerr;
        double t0 = now_ns();
        int r = getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
        timed(c, C_SOERROR, t0);
        if (r != 0 || soerr != 0) {
            note_error(c->index, "connect (SO_ERROR)", r != 0 ? errno : soerr);
            finish(ep, c, 0, marker, ok, failed);
            return;
        }
        c->phase = P_WRITING;
    }
    if (c->phase == P_WRITING) {
        while (c->req_sent < c->req_len) {
            double t0 = now_ns();
            ssize_t w = write(c->fd, c->req + c->req_sent, c->req_len - c->req_sent);
            int err = errno;
            timed(c, C_WRITE, t0);
            if (w < 0 && (err == EAGAIN || err == EINTR))
                return; /* EPOLLOUT again */
            if (w <= 0) {
                note_error(c->index, "write", w < 0 ? err : EPIPE);
                finish(ep, c, 0, marker, ok, failed);
                return;
            }
            c->req_sent += (size_t)w;
        }
        c->phase = P_READING;
        if (ep_mod(ep, EPOLL_CTL_MOD, c, EPOLLIN) != 0) {
            note_error(c->index, "epoll_ctl", errno);
            finish(ep, c, 0, marker, ok, failed);
        }
        return;
    }
    if (c->phase == P_READING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        /* One read per event: a loop that drains greedily would hide nothing
         * here, but a single bounded call is what an event loop should do. */
        char scratch[16384];
        size_t room = RESP_MAX - c->resp_len;
        char *dst = room ? c->resp + c->resp_len : scratch;
        size_t want = room ? (room < sizeof scratch ? room : sizeof scratch) : sizeof scratch;
        double t0 = now_ns();
        ssize_t r = read(c->fd, dst, want);
        int err = errno;
        timed(c, C_READ, t0);
        if (r < 0 && (err == EAGAIN || err == EINTR))
            return;
        if (r < 0) {
            note_error(c->index, "read", err);
            finish(ep, c, 0, marker, ok, failed);
            return;
        }
        if (r == 0) {
            finish(ep, c, 1, marker, ok, failed);
            return;
        }
        if (room)
            c->resp_len += (size_t)r;
        else {
            note_error(c->index, "response larger than the buffer", 0);
            finish(ep, c, 0, marker, ok, failed);
        }
    }
}

static void print_stats(const char *key, double *v, size_t n, int comma)
{
    qsort(v, n, sizeof *v, cmp_double);
    printf("\"%s\":{\"max\":%.3f,\"p50\":%.3f,\"p99\":%.3f}%s", key, n ? v[n - 1] / 1e6 : 0.0,
           pct(v, n, 50) / 1e6, pct(v, n, 99) / 1e6, comma ? "," : "");
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int run_fetch(const struct fetch_args *a)
{
    static struct conn conns[MAX_CONNS];
    static double lateness[1 << 18]; /* one per timer read: ~260 s of 1 ms ticks at least */
    size_t n_late = 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0)
        return perror("epoll_create1/timerfd_create"), 3;
    struct itimerspec its = { .it_interval = { 0, 1000000 }, .it_value = { 0, 1000000 } };
    double t_begin = now_ns();
    if (timerfd_settime(tfd, 0, &its, NULL) != 0)
        return perror("timerfd_settime"), 3;
    double tick0 = t_begin; /* tick k is due at tick0 + k ms (approximately: armed just now) */
    uint64_t ticks = 0;
    struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) != 0)
        return perror("epoll_ctl timerfd"), 3;

    for (int i = 0; i < a->n; i++) {
        conns[i].fd = -1;
        conns[i].index = i;
        conns[i].phase = P_IDLE;
    }
    int ok = 0, failed = 0, next = 0, active = 0;
    double deadline = t_begin + (double)a->timeout_ms * 1e6;
    int timed_out = 0;
    while (ok + failed < a->n) {
        while (active < a->conc && next < a->n) {
            if (start(ep, &conns[next], a, &ok, &failed) == 0)
                active++;
            next++;
        }
        if (ok + failed >= a->n)
            break;
        if (now_ns() > deadline) {
            timed_out = 1;
            break;
        }
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, 100);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return perror("epoll_wait"), 3;
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                uint64_t exp = 0;
                if (read(tfd, &exp, sizeof exp) == (ssize_t)sizeof exp && exp > 0) {
                    /* The oldest of these ticks was due at tick0 + (ticks+1) ms. */
                    double late = now_ns() - (tick0 + (double)(ticks + 1) * 1e6);
                    ticks += exp;
                    if (n_late < sizeof lateness / sizeof lateness[0])
                        lateness[n_late++] = late > 0 ? late : 0;
                }
                continue;
            }
            if (c->phase == P_DONE)
                continue;
            step(ep, c, evs[i].events, a->marker, &ok, &failed);
            if (c->phase == P_DONE)
                active--;
        }
    }
    double t_end = now_ns();
    if (timed_out) {
        for (int i = 0; i < a->n; i++) {
            if (conns[i].phase != P_DONE && conns[i].phase != P_IDLE) {
                note_error(i, "timed out", 0);
                finish(ep, &conns[i], 0, NULL, &ok, &failed);
            }
        }
        failed += a->n - next;
    }
    close(tfd);
    close(ep);

    double stalls[MAX_CONNS], fetches[MAX_CONNS];
    size_t ns = 0;
    int worst = -1;
    for (int i = 0; i < next; i++) {
        stalls[ns] = conns[i].stall_ns;
        fetches[ns++] = conns[i].finished_ns - conns[i].started_ns;
        if (worst < 0 || conns[i].stall_ns > conns[worst].stall_ns)
            worst = i;
    }
    printf("{\"n\":%d,\"concurrency\":%d,\"ok\":%d,\"failed\":%d,\"total_ms\":%.3f,", a->n, a->conc, ok, failed,
           (t_end - t_begin) / 1e6);
    printf("\"stalls_ms\":[");
    for (size_t i = 0; i < ns; i++)
        printf("%s%.3f", i ? "," : "", stalls[i] / 1e6);
    printf("],");
    print_stats("stall_ms", stalls, ns, 1);
    printf("\"worst_call\":\"%s\",", worst >= 0 ? call_name[conns[worst].stall_call] : "");
    printf("\"call_max_ms\":{");
    for (int k = 0; k < C_COUNT; k++)
        printf("\"%s\":%.3f%s", call_name[k], call_max_ns[k] / 1e6, k + 1 < C_COUNT ? "," : "");
    printf("},");
    print_stats("timer_late_ms", lateness, n_late, 1);
    printf("\"timer_ticks\":%llu,", (unsigned long long)ticks);
    print_stats("fetch_ms", fetches, ns, 1);
    printf("\"errors\":[");
    for (int i = 0; i < n_errors; i++) {
        if (i)
            putchar(',');
        json_string(errors[i]);
    }
    printf("]}\n");
    return ok == a->n ? 0 : 1;
}

/* ---- rtt ------------------------------------------------------------------ */

static void *echo_thread(void *arg)
{
    int fd = *(int *)arg;
    char b;
    while (read(fd, &b, 1) == 1)
        if (write(fd, &b, 1) != 1)
            break;
    return NULL;
}

static int run_rtt(long count)
{
    int lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sin;
    if (lsn < 0 || bind(lsn, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lsn, 1) != 0 ||
        getsockname(lsn, (struct sockaddr *)&sin, &sl) != 0)
        return perror("rtt: listen"), 3;
    int cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cli < 0 || connect(cli, (struct sockaddr *)&sin, sizeof sin) != 0)
        return perror("rtt: connect"), 3;
    int srv = accept(lsn, NULL, NULL);
    if (srv < 0)
        return perror("rtt: accept"), 3;
    int one = 1;
    setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t th;
    if (pthread_create(&th, NULL, echo_thread, &srv) != 0)
        return fputs("rtt: pthread_create failed\n", stderr), 3;
    double *v = malloc(sizeof *v * (size_t)count);
    if (!v)
        return fputs("rtt: out of memory\n", stderr), 3;
    int rc = 0;
    for (long i = 0; i < count; i++) {
        char b = 'x';
        double t0 = now_ns();
        if (write(cli, &b, 1) != 1 || read(cli, &b, 1) != 1) {
            perror("rtt: ping-pong");
            rc = 3;
            count = i;
            break;
        }
        v[i] = now_ns() - t0;
    }
    shutdown(cli, SHUT_RDWR);
    pthread_join(th, NULL);
    close(cli);
    close(srv);
    close(lsn);
    if (rc == 0) {
        qsort(v, (size_t)count, sizeof *v, cmp_double);
        printf("{\"count\":%ld,\"rtt_ms\":{\"min\":%.4f,\"p50\":%.4f,\"p99\":%.4f,\"max\":%.4f}}\n", count,
               v[0] / 1e6, pct(v, (size_t)count, 50) / 1e6, pct(v, (size_t)count, 99) / 1e6, v[count - 1] / 1e6);
    }
    free(v);
    return rc;
}

static int usage(void)
{
    fputs("usage: epoll_stall fetch HOST PORT N CONC PATH [MARKER] [--timeout MS]\n"
          "       epoll_stall rtt COUNT\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "rtt") == 0) {
        long count = strtol(argv[2], NULL, 10);
        return count > 0 && count <= 10000000 ? run_rtt(count) : usage();
    }
    if (argc < 7 || strcmp(argv[1], "fetch") != 0)
        return usage();
    struct fetch_args a = { .host = argv[2], .port = argv[3], .n = atoi(argv[4]), .conc = atoi(argv[5]),
                            .path = argv[6], .timeout_ms = 60000 };
    for (int i = 7; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            a.timeout_ms = strtol(argv[++i], NULL, 10);
        else if (!a.marker)
            a.marker = argv[i];
        else
            return usage();
    }
    if (a.n < 1 || a.n > MAX_CONNS || a.conc < 1 || a.timeout_ms <= 0 || a.timeout_ms > 250000)
        return usage();
    return run_fetch(&a);
}
