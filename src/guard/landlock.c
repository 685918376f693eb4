/*
 * guard/landlock.c — keep the guarded tree from reaching into processes
 * outside it, and change nothing else.
 *
 * A guarded program that could ptrace, write /proc/PID/mem of, or
 * pidfd_getfd from an unguarded process of the same user (the launcher
 * included, which holds the listener) could make that process do its
 * networking.  Every Landlock domain forbids such ptrace-class access to
 * processes outside it (the kernel's ptrace_may_access hook), while the
 * tree may still debug itself (strace/gdb of its own children).  That
 * scoping is all the guard wants from Landlock; the ruleset exists only
 * because the kernel refuses an empty one, so it must restrict something
 * no guarded program can notice:
 *
 *   ABI >= 4  the ruleset handles TCP connect() and grants it nowhere.
 *             Every connect() of the tree is taken by the seccomp filter
 *             to the supervisor, which never lets the program's own call
 *             run (it connects outside the domain and swaps the socket in,
 *             see supervisor.c), so this right is never used from inside:
 *             files, renames and links behave exactly as without torify.
 *   ABI 2, 3  the ruleset handles making block devices (programs never do;
 *             it needs CAP_MKNOD anyway) and REFER, with REFER granted
 *             beneath "/".  A ruleset that did not handle REFER would make
 *             the kernel refuse every rename and link into another
 *             directory with EXDEV (apt, dpkg, Maildir).  Left: a tree that
 *             builds a root of its own (pivot_root in a new mount
 *             namespace) gets EXDEV for renames there.
 *   ABI 1     every domain refuses cross-directory renames: no Landlock;
 *             the filter refuses ptrace attach, process_vm_writev and
 *             pidfd_getfd instead (see filter.c), and /proc/PID/mem stays
 *             open to programs of the same user under Yama scope 0
 *             (docs/GUARD.md).
 *
 * The constants come from the kernel's UAPI (linux/landlock.h); Debian 12's
 * headers predate the network rights, so they are spelt out here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "guard/internal.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

enum {
    LL_CREATE_RULESET_VERSION = 1u << 0,
    LL_RULE_PATH_BENEATH = 1,
};
#define LL_ACCESS_FS_MAKE_BLOCK (UINT64_C(1) << 11)
#define LL_ACCESS_FS_REFER (UINT64_C(1) << 13)
#define LL_ACCESS_NET_CONNECT_TCP (UINT64_C(1) << 1)

/* The kernel takes any size from the first field (handled_access_fs) on:
 * the ABI 1 size for the file-system ruleset, this one for the network. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int guard_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

bool guard_landlock_available(void)
{
    return guard_landlock_abi() >= 2;
}

/* A ruleset fd for this ABI, or -errno. */
static long make_ruleset(int abi)
{
    if (abi >= 4) {
        struct ll_ruleset_attr attr = {.handled_access_net = LL_ACCESS_NET_CONNECT_TCP};
        long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
        return fd < 0 ? -errno : fd;
    }
    if (abi < 2)
        return -EOPNOTSUPP;
    struct ll_ruleset_attr attr = {.handled_access_fs = LL_ACCESS_FS_MAKE_BLOCK | LL_ACCESS_FS_REFER};
    long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr.handled_access_fs, 0);
    if (fd < 0)
        return -errno;
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        int e = errno;
        close((int)fd);
        return -e;
    }
    struct ll_path_beneath_attr rule = {.allowed_access = LL_ACCESS_FS_REFER, .parent_fd = root};
    long r = syscall(SYS_landlock_add_rule, (int)fd, LL_RULE_PATH_BENEATH, &rule, 0);
    int e = errno;
    close(root);
    if (r != 0) {
        close((int)fd);
        return -e;
    }
    return fd;
}

int guard_landlock_confine_abi(int abi)
{
    long fd = make_ruleset(abi);
    if (fd < 0)
        return (int)fd;
    /* Needs no_new_privs, which the caller has set. */
    long r = syscall(SYS_landlock_restrict_self, (int)fd, 0);
    int e = errno;
    close((int)fd);
    return r == 0 ? 0 : -e;
}

int guard_landlock_confine(void)
{
    return guard_landlock_confine_abi(guard_landlock_abi());
}
