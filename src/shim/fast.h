/*
 * shim/fast.h — direct system calls for the pass-through hot paths.
 *
 * socket(AF_UNIX) sits in every program's hot path and must cost about what
 * libc's own wrapper costs (budget: 1.2x in instructions for socket+close).
 * libc's socket() is nothing but the system call, so doing that call here
 * is the same operation without the extra jump.  Only used for calls that
 * are not cancellation points (socket is not; close goes through libc).
 */
#ifndef TORIFY_SHIM_FAST_H
#define TORIFY_SHIM_FAST_H

#include <errno.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define TORIFY_HAVE_FAST_SYSCALL 1
/* int arguments: the kernel truncates them to int itself, so the
 * registers' upper halves need no sign extension. */
static inline long torify_fast_syscall3(long n, int a, int b, int c)
{
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
#define TORIFY_HAVE_FAST_SYSCALL 1
static inline long torify_fast_syscall3(long n, int a, int b, int c)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#else
#define TORIFY_HAVE_FAST_SYSCALL 0
#endif

#if TORIFY_HAVE_FAST_SYSCALL
/* The libc convention: -1 and errno for results in [-4095, -1]. */
static __attribute__((noinline, cold)) int torify_fast_fail(long r)
{
    errno = (int)-r;
    return -1;
}

static inline int torify_fast_ret(long r)
{
    if (__builtin_expect((unsigned long)r > -4096UL, 0))
        return torify_fast_fail(r);
    return (int)r;
}
#endif

#endif
