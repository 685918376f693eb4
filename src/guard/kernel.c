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
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include "guard/guard.h"
#include "guard/internal.h"

enum probe_exit { PROBE_OK = 0, PROBE_NO_FILTER = 10, PROBE_NO_LISTENER, PROBE_NO_ADDFD, PROBE_NO_PIDFD, PROBE_NESTED };

static int probe_child(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return PROBE_NO_FILTER;
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fp = {.len = 1, .filter = &allow};
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
    if (fd < 0)
        return errno == EINVAL ? PROBE_NO_LISTENER : errno == EBUSY ? PROBE_NESTED : PROBE_NO_FILTER;
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
    /* A listener exists above us (EBUSY) and our launcher said it is one
     * of ours: the whole tree, this process included, is supervised
     * already.  Another supervisor (a container manager's) is no guard of
     * ours: without the marker that case is refused like a missing kernel. */
    const char *mark = getenv(TORIFY_GUARD_ENV);
    if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_NESTED && mark && strcmp(mark, "1") == 0)
        return 1;
    static const char tail[] = "--no-guard runs with LD_PRELOAD only (static programs, raw syscalls, io_uring bypass it)";
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == PROBE_NESTED) {
        snprintf(why, why_len, "no kernel guard: another seccomp supervisor already watches this process; %s", tail);
        return -1;
    }
    const char *what = code == PROBE_NO_LISTENER ? "no seccomp user notification"
                     : code == PROBE_NO_ADDFD    ? "no SECCOMP_IOCTL_NOTIF_ADDFD"
                     : code == PROBE_NO_PIDFD    ? "no pidfd_getfd"
                                                 : "seccomp filters not allowed";
    snprintf(why, why_len, "no kernel guard: needs Linux >= 5.9; this kernel (%.40s): %s; %s", u.release, what, tail);
    return -1;
}
