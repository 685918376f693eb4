/*
 * early_start — network calls at the awkward moments of a process's life,
 * for system-wide mode, where the library is in every process from its
 * first instruction:
 *
 *   early_start HOST PORT THREADS
 *
 * 1. In a constructor (before main, while the loader is still running
 *    initialisers): look HOST up and connect to it, GET /ctor.
 * 2. In main: THREADS threads released at the same instant each look HOST
 *    up and connect (racing for the library's first-use initialisation),
 *    GET /thread<N>.
 * Prints "ctor ok" / "thread N ok" with the first line of each answer's
 * body, or "... fail <call> <errno>".  Exit 0 when all succeeded.  A
 * deadlock shows as the test's time limit.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host = "web.test";
static const char *port = "80";
static char ctor_result[256] = "ctor not run";
static int ctor_ok;

/* Fetch http://host:port/path; the first body line into out. */
static int fetch(const char *path, char *out, size_t len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(out, len, "fail getaddrinfo %d", rc);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(out, len, "fail %s %d", fd < 0 ? "socket" : "connect", errno);
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(res);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    if (send(fd, req, (size_t)n, 0) != n) {
        snprintf(out, len, "fail send %d", errno);
        close(fd);
        return -1;
    }
    char buf[2048];
    size_t have = 0;
    for (ssize_t r; have < sizeof buf - 1 && (r = recv(fd, buf + have, sizeof buf - 1 - have, 0)) > 0;)
        have += (size_t)r;
    close(fd);
    buf[have] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (!body) {
        snprintf(out, len, "fail http");
        return -1;
    }
    body += 4;
    body[strcspn(body, "\r\n")] = '\0';
    snprintf(out, len, "ok %s", body);
    return 0;
}

__attribute__((constructor)) static void early(void)
{
    const char *h = getenv("EARLY_HOST");
    if (h && *h)
        host = h;
    ctor_ok = fetch("/ctor", ctor_result, sizeof ctor_result) == 0;
}

static pthread_barrier_t start;

struct job {
    int n;
    char result[256];
    int ok;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    char path[32];
    snprintf(path, sizeof path, "/thread%d", j->n);
    pthread_barrier_wait(&start);
    j->ok = fetch(path, j->result, sizeof j->result) == 0;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: early_start HOST PORT THREADS (HOST also via EARLY_HOST for the constructor)\n");
        return 2;
    }
    host = argv[1];
    port = argv[2];
    int n = atoi(argv[3]);
    if (n < 1 || n > 64)
        return 2;
    printf("ctor %s\n", ctor_result);
    struct job jobs[64];
    pthread_t t[64];
    if (pthread_barrier_init(&start, NULL, (unsigned)n) != 0)
        return 2;
    for (int i = 0; i < n; i++) {
        jobs[i].n = i;
        jobs[i].ok = 0;
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0)
            return 2;
    }
    int all = ctor_ok;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d %s\n", i, jobs[i].result);
        all = all && jobs[i].ok;
    }
    return all ? 0 : 1;
}
