/*
 * leak_connect — TCP connects that LD_PRELOAD may not see.
 *   leak_connect MODE IP PORT [ALLOWED-IP ALLOWED-PORT]
 * Modes:
 *   libc      plain connect() (IPv4 or an IPv6 literal)
 *   syscall   syscall(SYS_socket / SYS_connect), no libc wrapper
 *   asm       inline `syscall` instructions, not even syscall(3)
 *   nonblock  SOCK_NONBLOCK socket, EINPROGRESS, poll, SO_ERROR
 *   v4mapped  an AF_INET6 socket to ::ffff:IP (IPv4 only)
 *   threads   8 threads connecting at once
 *   fdgames   socket moved to another fd number, original closed, a new
 *             socket reopened on the old number, connect on the moved one
 *   race      a second thread flips the sockaddr between ALLOWED (default
 *             127.0.0.1:9050, Tor) and IP:PORT while connect() runs, 200 times
 *   mptcp     socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)
 *   tfo       setsockopt(TCP_FASTOPEN_CONNECT) then connect + write
 */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include "leak_common.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif

static struct sockaddr_storage dest;
static socklen_t dest_len;

static long raw3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static int do_plain(const char *v, int family, int proto)
{
    int fd = leak_bound(socket(family, SOCK_STREAM, proto));
    if (fd < 0)
        return leak_fail(v, errno);
    if (connect(fd, (struct sockaddr *)&dest, dest_len) != 0) {
        int e = errno;
        close(fd);
        return leak_fail(v, e);
    }
    return leak_finish_tcp(v, fd);
}

static int do_syscall(void)
{
    long fd = leak_bound((int)syscall(SYS_socket, dest.ss_family, SOCK_STREAM, 0));
    if (fd < 0)
        return leak_fail("syscall", errno);
    if (syscall(SYS_connect, fd, &dest, dest_len) != 0) {
        int e = errno;
        close((int)fd);
        return leak_fail("syscall", e);
    }
    return leak_finish_tcp("syscall", (int)fd);
}

static int do_asm(void)
{
    long fd = leak_bound((int)raw3(SYS_socket, dest.ss_family, SOCK_STREAM, 0));
    if (fd < 0)
        return leak_fail("asm", (int)-fd);
    long r = raw3(SYS_connect, fd, (long)&dest, dest_len);
    if (r != 0) {
        close((int)fd);
        return leak_fail("asm", (int)-r);
    }
    return leak_finish_tcp("asm", (int)fd);
}

static int do_nonblock(void)
{
    int fd = socket(dest.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return leak_fail("nonblock", errno);
    if (connect(fd, (struct sockaddr *)&dest, dest_len) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            return leak_fail("nonblock", e);
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (leak_wait(fd, POLLOUT, 10000) <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            close(fd);
            return leak_fail("nonblock", soerr ? soerr : ETIMEDOUT);
        }
    }
    return leak_finish_tcp("nonblock", fd);
}

static int do_v4mapped(void)
{
    if (dest.ss_family != AF_INET)
        return leak_fail("v4mapped", EINVAL);
    struct sockaddr_in in = *(struct sockaddr_in *)&dest;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&dest;
    memset(&dest, 0, sizeof dest);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = in.sin_port;
    in6->sin6_addr.s6_addr[10] = 0xff;
    in6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
    dest_len = sizeof *in6;
    return do_plain("v4mapped", AF_INET6, 0);
}

#define NTHREADS 8
static atomic_int thread_ok;

static void *thread_main(void *arg)
{
    (void)arg;
    int fd = leak_bound(socket(dest.ss_family, SOCK_STREAM, 0));
    if (fd < 0)
        return NULL;
    char body[256];
    if (connect(fd, (struct sockaddr *)&dest, dest_len) == 0 && leak_http(fd, body, sizeof body) == 0 &&
        strstr(body, "hello") != NULL)
        atomic_fetch_add(&thread_ok, 1);
    close(fd);
    return NULL;
}

static int do_threads(void)
{
    pthread_t t[NTHREADS];
    int started = 0;
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, thread_main, NULL) == 0)
            started++;
        else
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    char d[64];
    snprintf(d, sizeof d, "%d/%d", atomic_load(&thread_ok), NTHREADS);
    if (atomic_load(&thread_ok) != NTHREADS) {
        printf("fail threads %s\n", d);
        return 1;
    }
    return leak_ok("threads", d);
}

static int do_fdgames(void)
{
    int a = leak_bound(socket(dest.ss_family, SOCK_STREAM, 0));
    if (a < 0)
        return leak_fail("fdgames", errno);
    int moved = dup2(a, 100 + a);
    if (moved < 0)
        return leak_fail("fdgames", errno);
    close(a);
    /* A fresh socket takes the old number; connect goes through the copy. */
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(moved, (struct sockaddr *)&dest, dest_len) != 0) {
        int e = errno;
        close(moved);
        return leak_fail("fdgames", e);
    }
    int back = dup(moved);
    close(moved);
    if (b >= 0)
        close(b);
    return leak_finish_tcp("fdgames", back);
}

static struct sockaddr_storage race_buf, race_allowed;
static atomic_int race_stop;

static void *race_main(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&race_stop, memory_order_relaxed)) {
        memcpy(&race_buf, &race_allowed, sizeof race_buf);
        memcpy(&race_buf, &dest, sizeof race_buf);
    }
    return NULL;
}

static int do_race(const char *aip, const char *aport)
{
    socklen_t alen;
    if (leak_addr(aip, aport, &race_allowed, &alen) != 0 || race_allowed.ss_family != dest.ss_family)
        return leak_fail("race", EINVAL);
    memcpy(&race_buf, &dest, sizeof race_buf);
    pthread_t t;
    if (pthread_create(&t, NULL, race_main, NULL) != 0)
        return leak_fail("race", EAGAIN);
    int ok = 0, failed = 0;
    /* 200 tries or 3 s, whichever ends first: unguarded, each try may be a
     * connect into the trap that waits for its timeout. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 3)
            break;
        int fd = leak_bound(socket(dest.ss_family, SOCK_STREAM, 0));
        if (fd < 0) {
            failed++;
            continue;
        }
        if (connect(fd, (struct sockaddr *)&race_buf, dest_len) == 0)
            ok++;
        else
            failed++;
        close(fd);
    }
    atomic_store(&race_stop, 1);
    pthread_join(t, NULL);
    char d[64];
    snprintf(d, sizeof d, "connected=%d failed=%d", ok, failed);
    return leak_ok("race", d);
}

static int do_tfo(void)
{
    int fd = leak_bound(socket(dest.ss_family, SOCK_STREAM, 0));
    if (fd < 0)
        return leak_fail("tfo", errno);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) != 0) {
        int e = errno;
        close(fd);
        return leak_fail("tfo", e);
    }
    if (connect(fd, (struct sockaddr *)&dest, dest_len) != 0) {
        int e = errno;
        close(fd);
        return leak_fail("tfo", e);
    }
    return leak_finish_tcp("tfo", fd);
}

int main(int argc, char **argv)
{
    if ((argc != 4 && argc != 6) || leak_addr(argv[2], argv[3], &dest, &dest_len) != 0) {
        fprintf(stderr, "usage: leak_connect MODE IP PORT [ALLOWED-IP ALLOWED-PORT]\n");
        return 2;
    }
    const char *m = argv[1];
    if (!strcmp(m, "libc"))
        return do_plain("libc", dest.ss_family, 0);
    if (!strcmp(m, "syscall"))
        return do_syscall();
    if (!strcmp(m, "asm"))
        return do_asm();
    if (!strcmp(m, "nonblock"))
        return do_nonblock();
    if (!strcmp(m, "v4mapped"))
        return do_v4mapped();
    if (!strcmp(m, "threads"))
        return do_threads();
    if (!strcmp(m, "fdgames"))
        return do_fdgames();
    if (!strcmp(m, "race"))
        return do_race(argc == 6 ? argv[4] : "127.0.0.1", argc == 6 ? argv[5] : "9050");
    if (!strcmp(m, "mptcp"))
        return do_plain("mptcp", dest.ss_family, IPPROTO_MPTCP);
    if (!strcmp(m, "tfo"))
        return do_tfo();
    fprintf(stderr, "leak_connect: unknown mode %s\n", m);
    return 2;
}
