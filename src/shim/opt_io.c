/* shim/opt_io.c — read/write and friends: a socket whose SOCKS reply is
 * still owed (shim/opt.h) reads it first; every other fd passes at once.
 *
 * The pass-through costs one load and compare of the count of flagged fds
 * (torify_opt_flagged; the fd's byte only when some socket is flagged),
 * then a tail jump to libc: read and write go to
 * glibc's public aliases __read and __write, bound at load time, so
 * neither a dlsym on first use nor a table load is on their path (read
 * and write are also called from signal handlers, and by core through
 * core/sys.h only).  recv, recvfrom and recvmsg are shim/identity.c's,
 * sendto/sendmsg/sendmmsg shim/send.c's: they make the same check.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim/opt.h"
#include "shim/real.h"

#if defined(__GLIBC__)
/* noplt: a jump through the GOT entry, which the loader fills at load
 * time (as for __close, shim/real.h), instead of through a PLT stub: one
 * jump less on every pass-through read, write and send. */
extern ssize_t __read(int fd, void *buf, size_t n) __attribute__((noplt));
extern ssize_t __write(int fd, const void *buf, size_t n) __attribute__((noplt));
extern ssize_t __send(int fd, const void *buf, size_t n, int flags) __attribute__((noplt));
#define LIBC_READ __read
#define LIBC_WRITE __write
#define LIBC_SEND __send
#else
static ssize_t libc_read(int fd, void *buf, size_t n)
{
    ssize_t (*f)(int, void *, size_t) = torify_real(TORIFY_REAL_READ);
    return f ? f(fd, buf, n) : -1;
}
static ssize_t libc_write(int fd, const void *buf, size_t n)
{
    ssize_t (*f)(int, const void *, size_t) = torify_real(TORIFY_REAL_WRITE);
    return f ? f(fd, buf, n) : -1;
}
static ssize_t libc_send(int fd, const void *buf, size_t n, int flags)
{
    ssize_t (*f)(int, const void *, size_t, int) = torify_real(TORIFY_REAL_SEND);
    return f ? f(fd, buf, n, flags) : -1;
}
#define LIBC_READ libc_read
#define LIBC_WRITE libc_write
#define LIBC_SEND libc_send
#endif

#define OWED(fd) __builtin_expect(torify_opt_flagged(fd), 0)

/* ---- read side ------------------------------------------------------------- */

__attribute__((noinline)) static ssize_t read_slow(int fd, void *buf, size_t n)
{
    if (torify_opt_before_read(fd, false) != 0)
        return -1;
    return LIBC_READ(fd, buf, n);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    if (OWED(fd))
        return read_slow(fd, buf, n);
    return LIBC_READ(fd, buf, n);
}

/* _FORTIFY_SOURCE builds call these (glibc's own call __read directly,
 * past any read of ours). */
extern void __chk_fail(void) __attribute__((noreturn));
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *from,
                       socklen_t *fromlen);

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        __chk_fail();
    return read(fd, buf, n);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen)
        __chk_fail();
    return recv(fd, buf, n, flags);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *from,
                              socklen_t *fromlen)
{
    if (n > buflen)
        __chk_fail();
    return recvfrom(fd, buf, n, flags, from, fromlen);
}

typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef int (*recvmmsg_fn)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
typedef ssize_t (*splice_fn)(int, loff_t *, int, loff_t *, size_t, unsigned int);
typedef ssize_t (*sendfile_fn)(int, int, off_t *, size_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    readv_fn f = REAL(READV, readv_fn);
    if (!f)
        return -1;
    if (OWED(fd) && torify_opt_before_read(fd, false) != 0)
        return -1;
    return f(fd, iov, n);
}

EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo)
{
    recvmmsg_fn f = REAL(RECVMMSG, recvmmsg_fn);
    if (!f)
        return -1;
    if (OWED(fd) && torify_opt_before_read(fd, (flags & MSG_DONTWAIT) != 0) != 0)
        return -1;
    return f(fd, vec, vlen, flags, tmo);
}

/* ---- write side -------------------------------------------------------------- */

/* While the reply is owed a write is a send with MSG_NOSIGNAL: if Tor
 * ended the stream, that is the request's failure, reported as the errno
 * a blocking connect would have given, not a SIGPIPE. */
__attribute__((noinline)) static ssize_t write_slow(int fd, const void *buf, size_t n, int flags, bool is_send)
{
    if (torify_opt_before_write(fd) != 0)
        return -1;
    if (!torify_opt_flagged(fd)) /* the reply was there: a plain socket now */
        return is_send ? LIBC_SEND(fd, buf, n, flags) : LIBC_WRITE(fd, buf, n);
    ssize_t r = LIBC_SEND(fd, buf, n, flags | MSG_NOSIGNAL);
    if (r < 0)
        torify_opt_after_write_error(fd);
    return r;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    if (OWED(fd))
        return write_slow(fd, buf, n, 0, false);
    return LIBC_WRITE(fd, buf, n);
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    if (OWED(fd))
        return write_slow(fd, buf, n, flags, true);
    return LIBC_SEND(fd, buf, n, flags);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    writev_fn f = REAL(WRITEV, writev_fn);
    if (!f)
        return -1;
    if (!OWED(fd))
        return f(fd, iov, n);
    if (torify_opt_before_write(fd) != 0)
        return -1;
    if (!torify_opt_flagged(fd))
        return f(fd, iov, n);
    sendmsg_fn sm = REAL(SENDMSG, sendmsg_fn);
    if (!sm)
        return -1;
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n < 0 ? 0 : (size_t)n };
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    ssize_t r = sm(fd, &m, MSG_NOSIGNAL);
    if (r < 0)
        torify_opt_after_write_error(fd);
    return r;
}

/* ---- splice, sendfile ---------------------------------------------------------- */

EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned int flags)
{
    splice_fn f = REAL(SPLICE, splice_fn);
    if (!f)
        return -1;
    if (OWED(in) && torify_opt_before_read(in, (flags & SPLICE_F_NONBLOCK) != 0) != 0)
        return -1;
    if (OWED(out) && torify_opt_before_write(out) != 0)
        return -1;
    ssize_t r = f(in, off_in, out, off_out, len, flags);
    if (r < 0 && OWED(out))
        torify_opt_after_write_error(out);
    return r;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    sendfile_fn f = REAL(SENDFILE, sendfile_fn);
    if (!f)
        return -1;
    if (OWED(out) && torify_opt_before_write(out) != 0)
        return -1;
    ssize_t r = f(out, in, off, n);
    if (r < 0 && OWED(out))
        torify_opt_after_write_error(out);
    return r;
}

/* The same function on 64-bit glibc (off_t is 64 bits there). */
ssize_t sendfile64(int out, int in, off_t *off, size_t n) __attribute__((alias("sendfile"), visibility("default")));
