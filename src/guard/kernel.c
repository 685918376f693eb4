/*
 * guard/kernel.c — does this kernel have what the guard needs?
 *
 * Asked by trying, not by version number alone (distribution kernels
 * backport, containers forbid seccomp): a probe child installs a filter
 * with a listener and issues SECCOMP_IOCTL_NOTIF_ADDFD for a notification
 * that does not exist.  A kernel with ADDFD answers ENOENT (no such
 * notification); one without answers EINVAL or ENOTTY.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include "guard/guard.h"
#include "guard/internal.h"

enum probe_exit { PROBE_OK = 0, PROBE_NO_FILTER = 10, PROBE_NO_LISTENER, PROBE_NO_ADDFD, PROBE_NO_PIDFD };

static int probe_child(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return PROBE_NO_FILTER;
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fp = {.len = 1, .filter = &allow};
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
    if (fd < 0)
        return errno == EINVAL ? PROBE_NO_LISTENER : PROBE_NO_FILTER;
    struct seccomp_notif_addfd a = {.id = 1, .flags = 0, .srcfd = (uint32_t)fd, .newfd = 0, .newfd_flags = 0};
    if (ioctl((int)fd, SECCOMP_IOCTL_NOTIF_ADDFD, &a) == 0 || errno != ENOENT)
        return PROBE_NO_ADDFD;
    int pfd = guard_pidfd_open(getpid());
    if (pfd < 0)
        return PROBE_NO_PIDFD;
    int d = guard_pidfd_getfd(pfd, (int)fd);
    if (d < 0)
        return PROBE_NO_PIDFD;
    return PROBE_OK;
}

int torify_guard_check(char *why, size_t why_len)
{
    struct utsname u;
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
#if !defined(__x86_64__)
    snprintf(why, why_len, "the kernel guard supports x86_64 only");
    return -1;
#endif
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "cannot probe the kernel for the guard: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0)
        _exit(probe_child());
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            snprintf(why, why_len, "cannot probe the kernel for the guard: waitpid: %s", strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_OK)
        return 0;
    const char *what = "seccomp filters are not allowed here";
    if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_NO_LISTENER)
        what = "no seccomp user notification (needs Linux >= 5.0)";
    else if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_NO_ADDFD)
        what = "no SECCOMP_IOCTL_NOTIF_ADDFD (needs Linux >= 5.9)";
    else if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_NO_PIDFD)
        what = "no pidfd_getfd (needs Linux >= 5.6)";
    snprintf(why, why_len,
             "the kernel guard needs Linux >= 5.9 with seccomp user notification and ADDFD; "
             "this kernel (%s): %s. Use --no-guard to run with LD_PRELOAD only "
             "(static binaries, raw syscalls and io_uring are then not covered)",
             u.release, what);
    return -1;
}
