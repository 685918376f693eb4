/*
 * leak_bench — not a leak vector: the timing loops of scripts/bench-guard,
 * which runs them bare, under `torify --no-guard` and under `torify`.
 *   leak_bench getpid N              N raw getpid syscalls (inline, so no
 *                                    library can sit in between)
 *   leak_bench connect N IP PORT     N x socket + libc connect + close
 *   leak_bench asmconnect N IP PORT  the same with an inline connect syscall
 *                                    (only the kernel guard can see it)
 * Prints "ns_per_call X" (wall clock, CLOCK_MONOTONIC); exit 1 when a
 * connect failed.
 */
#include <stdint.h>
#include <sys/syscall.h>
#include "leak_common.h"

static long raw3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: leak_bench getpid N | connect|asmconnect N IP PORT\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    if (n <= 0)
        return 2;
    int64_t t0, t1;
    if (!strcmp(argv[1], "getpid")) {
        t0 = now_ns();
        for (long i = 0; i < n; i++)
            raw3(SYS_getpid, 0, 0, 0);
        t1 = now_ns();
    } else if ((!strcmp(argv[1], "connect") || !strcmp(argv[1], "asmconnect")) && argc == 5) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (leak_addr(argv[3], argv[4], &ss, &len) != 0)
            return 2;
        int use_asm = !strcmp(argv[1], "asmconnect");
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            int fd = socket(ss.ss_family, SOCK_STREAM, 0);
            if (fd < 0)
                return leak_fail("bench", errno);
            long r = use_asm ? raw3(SYS_connect, fd, (long)&ss, len)
                             : connect(fd, (struct sockaddr *)&ss, len);
            if (r != 0)
                return leak_fail("bench", use_asm ? (int)-r : errno);
            close(fd);
        }
        t1 = now_ns();
    } else {
        return 2;
    }
    printf("ns_per_call %.1f\n", (double)(t1 - t0) / (double)n);
    return 0;
}
