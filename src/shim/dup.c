/* shim/dup.c — dup, dup2, dup3, fcntl(F_DUPFD, F_DUPFD_CLOEXEC): a copy of
 * a socket whose SOCKS reply is still owed (optimistic data, shim/opt.h)
 * shares that reply.
 *
 * The reply is read through whichever number the program reads first; the
 * other number must know it is owed, or it would return the reply's bytes
 * as data.  So the copy gets a record pointing to the same connection
 * object (torify_opt_copy).  dup2/dup3 over a number that owed a reply
 * closes that socket: its record goes, as close() would drop it.  Every
 * other fd: libc's call, then one compare of the count of flagged fds.
 *
 * These run in vfork() children (a spawning program's dup2 onto 0, 1, 2
 * before exec), which share the parent's memory and must not run dlsym
 * (loader lock, malloc): dup, dup2 and dup3 are the kernel's system calls
 * made directly (glibc's are nothing more), fcntl is glibc's public alias
 * __fcntl (its special cases kept: F_SETLKW a cancellation point,
 * F_GETOWN through F_GETOWN_EX).  In a vfork child (getpid() is not the pid
 * the fork handler keeps, as in shim/close.c) the parent's table is not
 * touched: the reply is read now instead, for the copy is made for the
 * program the child will exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "core/sys.h"
#include "shim/opt.h"
#include "shim/real.h"

#if defined(__GLIBC__)
extern int __fcntl(int fd, int cmd, ...);
#define LIBC_FCNTL __fcntl
#else
#error "shim/dup.c: fcntl needs libc's own entry point (glibc's __fcntl)"
#endif

/* (pid 0: no fork handler yet, so no vfork child of ours either: connect
 * registers it before any socket is flagged.) */
static bool in_vfork_child(void)
{
    pid_t pid = atomic_load_explicit(&torify_shim.pid, memory_order_relaxed);
    return pid != 0 && getpid() != pid;
}

/* After from was copied to to (to >= 0, the call succeeded). */
__attribute__((noinline)) static void copied(int from, int to)
{
    int saved = errno;
    if (in_vfork_child()) {
        int err;
        if (torify_opt_flagged(from))
            (void)torify_opt_settle(from, true, &err);
    } else if (torify_opt_flagged(from)) {
        torify_opt_copy(from, to);
    } else if (from != to && torify_opt_flagged(to)) {
        torify_fd_clear(to); /* the socket that was there is closed */
    }
    errno = saved;
}

#define AFTER(from, r)                                                                                             \
    do {                                                                                                           \
        if (__builtin_expect(torify_opt_some_flagged(), 0) && (r) >= 0)                                           \
            copied((from), (r));                                                                                   \
    } while (0)

EXPORT int dup(int fd)
{
    int r = (int)torify_sys(SYS_dup, fd, 0, 0, 0, 0, 0);
    AFTER(fd, r);
    return r;
}

EXPORT int dup3(int fd, int to, int flags)
{
    int r = (int)torify_sys(SYS_dup3, fd, to, flags, 0, 0, 0);
    AFTER(fd, r);
    return r;
}

EXPORT int dup2(int fd, int to)
{
#if defined(SYS_dup2)
    int r = (int)torify_sys(SYS_dup2, fd, to, 0, 0, 0, 0);
#else
    /* No dup2 system call (aarch64): dup3 refuses fd == to, dup2 checks it. */
    int r = fd == to ? LIBC_FCNTL(fd, F_GETFD) < 0 ? -1 : to : (int)torify_sys(SYS_dup3, fd, to, 0, 0, 0, 0);
#endif
    AFTER(fd, r);
    return r;
}

/* fcntl's third argument is an int, a pointer or absent, by command:
 * passed on as a pointer-sized word, as glibc's own fcntl reads it. */
EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int r = LIBC_FCNTL(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        AFTER(fd, r);
    return r;
}

/* glibc >= 2.28 headers call fcntl64 where off_t is 64 bits: the same
 * function on 64-bit targets. */
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl"), visibility("default")));
