/*
 * guard/landlock.c — keep the guarded tree from reaching into processes
 * outside it.
 *
 * A guarded program that could ptrace, write /proc/PID/mem of, or
 * pidfd_getfd from an unguarded process of the same user (the launcher
 * included, which holds the listener) could make that process do its
 * networking.  A Landlock domain forbids every such ptrace-class access
 * to processes outside the domain (the kernel's ptrace_may_access hook),
 * while the tree may still debug itself (strace/gdb of its own children).
 *
 * The ruleset handles one filesystem right, making block device nodes,
 * which ordinary programs never use (it needs CAP_MKNOD anyway): an empty
 * ruleset is not allowed.  Landlock exists since Linux 5.13; without it
 * the filter refuses ptrace attach, process_vm_writev and pidfd_getfd
 * instead (see filter.c), and /proc/PID/mem stays open to programs of the
 * same user under Yama scope 0 (docs/GUARD.md).
 */
#include <errno.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "guard/internal.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

bool guard_landlock_available(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi >= 1;
}

int guard_landlock_confine(void)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_MAKE_BLOCK};
    long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0)
        return -errno;
    /* Needs no_new_privs, which the caller has set. */
    long r = syscall(SYS_landlock_restrict_self, (int)fd, 0);
    int e = errno;
    close((int)fd);
    return r == 0 ? 0 : -e;
}
