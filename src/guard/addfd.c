/*
 * guard/addfd.c — installing the supervisor's socket in the program.
 *
 * SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD puts our socket at
 * exactly the fd number the program passed to connect(), replacing (and
 * closing) the program's unconnected socket, like dup2 done by the kernel in
 * the program's fd table.  SECCOMP_ADDFD_FLAG_SEND is not used: it would
 * make connect() return the fd number instead of 0.
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
