/*
 * core/sys.h — the system calls torify makes straight to the kernel.
 *
 * Two reasons, one place:
 *
 *  - Core is linked into libtorify.so, which interposes close() and
 *    syscall() (src/shim/exports.map).  A call from core to either would
 *    come back into the shim: close() through its fd-table check, syscall()
 *    through its routing and, on first use, dlsym (loader lock, malloc) —
 *    while core may hold the fake map's lock or be called from a signal
 *    handler.  Core therefore makes those calls here, with the kernel's
 *    system-call instruction: no libc symbol is involved, so neither the
 *    shim nor any other preloaded library can interpose them.  Everything
 *    else core calls (open, mmap...) is never
 *    interposed; tests/integration/test_tree.py checks it.
 *  - socket(AF_UNIX) is in every program's hot path and must cost about
 *    what libc's own wrapper costs (shim/socket.c).
 *
 * Only calls that are not cancellation points in libc's sense are made here
 * (close is one in libc; core's closes are of its own short-lived fds).
 * Architectures without an instruction sequence below fall back to libc's
 * syscall(), which the shim passes through to libc for these numbers
 * (shim/syscall.c routes only the network calls).
 */
#ifndef TORIFY_CORE_SYS_H
#define TORIFY_CORE_SYS_H

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define TORIFY_HAVE_RAW_SYSCALL 1
/* int arguments: the kernel truncates them to int itself, so the
 * registers' upper halves need no sign extension. */
static inline long torify_sys3_int(long n, int a, int b, int c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static inline long torify_sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
#define TORIFY_HAVE_RAW_SYSCALL 1
static inline long torify_sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
}

static inline long torify_sys3_int(long n, int a, int b, int c)
{
    return torify_sys6(n, a, b, c, 0, 0, 0);
}
#else
#define TORIFY_HAVE_RAW_SYSCALL 0
#endif

/* The libc convention: -1 and errno for results in [-4095, -1]. */
static __attribute__((noinline, cold)) long torify_sys_fail(long r)
{
    errno = (int)-r;
    return -1;
}

static inline long torify_sys_ret(long r)
{
    if (__builtin_expect((unsigned long)r > -4096UL, 0))
        return torify_sys_fail(r);
    return r;
}

static inline long torify_sys(long n, long a, long b, long c, long d, long e, long f)
{
#if TORIFY_HAVE_RAW_SYSCALL
    return torify_sys_ret(torify_sys6(n, a, b, c, d, e, f));
#else
    return syscall(n, a, b, c, d, e, f);
#endif
}

/* close(2) of one of core's own fds.  0 or -1/errno. */
static inline int torify_sys_close(int fd)
{
    return (int)torify_sys(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* shutdown(2) of a socket torify itself ends (a failed or abandoned SOCKS
 * handshake): shutdown() is interposed too (shim/shutdown.c), and the
 * first call of an interposed function may run dlsym.  0 or -1/errno. */
static inline int torify_sys_shutdown(int fd, int how)
{
    return (int)torify_sys(SYS_shutdown, fd, how, 0, 0, 0, 0);
}

/* read(2)/write(2) of core's own files (the configuration, the log):
 * read and write are interposed too (shim/opt_io.c), for sockets whose
 * SOCKS reply is still on its way.  -1/errno or the count. */
static inline ssize_t torify_sys_read(int fd, void *buf, size_t n)
{
    return (ssize_t)torify_sys(SYS_read, fd, (long)buf, (long)n, 0, 0, 0);
}

static inline ssize_t torify_sys_write(int fd, const void *buf, size_t n)
{
    return (ssize_t)torify_sys(SYS_write, fd, (long)buf, (long)n, 0, 0, 0);
}

/* fcntl(2) with an int argument on core's own fds (the fake map's memfd:
 * seals, F_DUPFD): fcntl is interposed too (shim/dup.c, for copies of a
 * socket whose SOCKS reply is owed).  -1/errno or the result. */
static inline int torify_sys_fcntl_int(int fd, int cmd, int arg)
{
    return (int)torify_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}

/* futex(2) on a word shared between processes.  -1/errno or the result. */
static inline long torify_sys_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return torify_sys(SYS_futex, (long)word, op, (long)val, (long)ts, 0, 0);
}

#endif
