/*
 * guard/kernel.c — does this kernel have what the guard needs?
 *
 * Asked by trying, not by version number alone (distribution kernels
 * backport, containers forbid seccomp): a probe child installs a filter
 * with a listener and issues SECCOMP_IOCTL_NOTIF_ADDFD for a notification
 * that does not exist.  A kernel with ADDFD answers ENOENT (no such
 * notification); one without answers EINVAL or ENOTTY.
 *
 * A launcher under no seccomp filter at all skips it
 * (torify_guard_check_to_run): nothing can be nested there, and the
 * program's own child asks the same of its real listener before it execs
 * (run.c).  Otherwise the probe runs at the start, so its child is made with
 * clone(CLONE_VM | CLONE_VFORK) on a small stack of ours rather than
 * fork(): no copy of the launcher's page tables, and the launcher sleeps
 * until the child has exited (as after vfork).  Sharing the memory, the
 * child makes raw system calls only (errno aside, which the launcher does
 * not read while it waits): no libc state is touched from two processes.
 */
#include <errno.h>
#include <sched.h>
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

/* The two questions both the probe's child and the program's (run.c) ask.
 * Raw system calls only: both children share the launcher's memory. */
bool guard_kernel_addfd_known(int listener)
{
    /* No notification exists on a listener whose only task is asking: a
     * kernel that knows the ioctl answers ENOENT. */
    struct seccomp_notif_addfd a = {.id = 1, .flags = 0, .srcfd = (uint32_t)listener, .newfd = 0, .newfd_flags = 0};
    return syscall(SYS_ioctl, listener, (unsigned long)SECCOMP_IOCTL_NOTIF_ADDFD, &a) != 0 && errno == ENOENT;
}

bool guard_kernel_pidfd_works(int fd)
{
    int pfd = guard_pidfd_open((pid_t)syscall(SYS_getpid));
    if (pfd < 0)
        return false;
    int d = guard_pidfd_getfd(pfd, fd);
    syscall(SYS_close, pfd);
    if (d < 0)
        return false;
    syscall(SYS_close, d);
    return true;
}

static int probe_child(void *unused)
{
    (void)unused;
    if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
        return PROBE_NO_FILTER;
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fp = {.len = 1, .filter = &allow};
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
    if (fd < 0)
        return errno == EINVAL ? PROBE_NO_LISTENER : errno == EBUSY ? PROBE_NESTED : PROBE_NO_FILTER;
    if (!guard_kernel_addfd_known((int)fd))
        return PROBE_NO_ADDFD;
    return guard_kernel_pidfd_works((int)fd) ? PROBE_OK : PROBE_NO_PIDFD;
}

void guard_kernel_explain(int code, char *why, size_t why_len)
{
    static const char tail[] = "--no-guard runs with LD_PRELOAD only (static programs, raw syscalls, io_uring bypass it)";
    if (code == PROBE_NESTED) {
        snprintf(why, why_len, "no kernel guard: another seccomp supervisor already watches this process; %s", tail);
        return;
    }
    struct utsname u;
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
    const char *what = code == PROBE_NO_LISTENER ? "no seccomp user notification"
                     : code == PROBE_NO_ADDFD    ? "no SECCOMP_IOCTL_NOTIF_ADDFD"
                     : code == PROBE_NO_PIDFD    ? "no pidfd_getfd"
                                                 : "seccomp filters not allowed";
    snprintf(why, why_len, "no kernel guard: needs Linux >= 5.9; this kernel (%.40s): %s; %s", u.release, what, tail);
}

int torify_guard_check_to_run(char *why, size_t why_len)
{
#if defined(__x86_64__)
    /* Under no seccomp filter at all, no listener can sit above this
     * process: the nested question has its answer without a probe, and the
     * kernel's features are asked by the program's own child of its real
     * listener before it execs (run.c).  One child fewer at every start. */
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0)
        return 0;
#endif
    return torify_guard_check(why, why_len);
}

int torify_guard_check(char *why, size_t why_len)
{
#if !defined(__x86_64__)
    snprintf(why, why_len, "the kernel guard supports x86_64 only");
    return -1;
#endif
    /* The child's stack (it grows down from the end); the launcher does
     * not run while the child does, so its own frame may hold it. */
    _Alignas(16) char probe_stack[16384];
    pid_t pid = clone(probe_child, probe_stack + sizeof probe_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    if (pid < 0) {
        snprintf(why, why_len, "cannot probe the kernel for the guard: clone: %s", strerror(errno));
        return -1;
    }
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
    guard_kernel_explain(WIFEXITED(st) ? WEXITSTATUS(st) : -1, why, why_len);
    return -1;
}
