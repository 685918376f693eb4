/*
 * guard/addfd.c — installing the supervisor's socket in the program.
 *
 * SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD puts our socket at
 * exactly the fd number the program passed to connect(), replacing (and
 * closing) the program's unconnected socket, like dup2 done by the kernel in
 * the program's fd table.  SECCOMP_ADDFD_FLAG_SEND is not used there: it
 * would make connect() return the fd number instead of 0; it is what
 * guard_addfd_send uses for calls that return a new fd (socket(), the fake
 * map's request).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include "guard/internal.h"

int guard_addfd_setfd(const struct guard_sup *s, uint64_t id, int srcfd, int dstfd, bool cloexec)
{
    struct seccomp_notif_addfd a = {
        .id = id,
        .flags = SECCOMP_ADDFD_FLAG_SETFD,
        .srcfd = (uint32_t)srcfd,
        .newfd = (uint32_t)dstfd,
        .newfd_flags = cloexec ? O_CLOEXEC : 0,
    };
    int r = ioctl(s->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    if (r < 0)
        return -errno;
    return r == dstfd ? 0 : -EBADF;
}

int guard_addfd_send(const struct guard_sup *s, uint64_t id, int srcfd, bool cloexec)
{
    /* SECCOMP_ADDFD_FLAG_SEND: installing the fd and answering the call
     * with its number are one step, so the number lands in the caller only
     * if the call is still waiting (ENOENT otherwise: nothing to answer). */
    struct seccomp_notif_addfd a = {
        .id = id,
        .flags = SECCOMP_ADDFD_FLAG_SEND,
        .srcfd = (uint32_t)srcfd,
        .newfd = 0,
        .newfd_flags = cloexec ? O_CLOEXEC : 0,
    };
    int r = ioctl(s->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    return r >= 0 ? r : -errno;
}
