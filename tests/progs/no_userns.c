/*
 * no_userns — run a program on a "machine" where new user and network
 * namespaces cannot be made (unprivileged user namespaces turned off, a
 * container that forbids unshare), without changing the real machine.
 *
 *   no_userns PROGRAM [ARG...]
 *
 * Installs a seccomp filter (inherited by every descendant, and a filter
 * cannot be removed) that fails with EPERM: unshare, clone and setns whose
 * flags include CLONE_NEWUSER or CLONE_NEWNET (setns with type 0 too: it
 * joins any kind); clone3, whose flags sit in memory a filter cannot read,
 * fails with ENOSYS, so libc and Go fall back to clone, which it can read.
 * Then execs PROGRAM.  What the kernel would say on such a machine is EPERM
 * for unshare(CLONE_NEWUSER), so a program sees the same error either way.
 * Prints "fail <call> errno=<NAME>" and exits 1 when it cannot set up.
 */
#include "call_common.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNET)
#define ARG0_LO offsetof(struct seccomp_data, args[0])

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: no_userns PROGRAM [ARG...]\n");
        return 2;
    }
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* other ABIs: the guard's own filter refuses them */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setns, 3, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* unshare(flags), clone(flags, ...): the flags are the first argument. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 3, 4),
        /* setns(fd, nstype): type 0 joins whatever fd is. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return report_fail("prctl", errno);
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return report_fail("seccomp", errno);
    execvp(argv[1], argv + 1);
    return report_fail("execvp", errno);
}
