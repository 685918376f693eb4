/*
 * guard/filter.c — the seccomp BPF program of the guard.
 *
 * Order matters: the architecture is checked first (the syscall numbers
 * mean something else under another ABI), then the x32 bit, then the few
 * syscalls that can open a path around Tor.  Everything else is allowed:
 * the guard is about the network, not a sandbox.
 *
 *   other arch (i386 via int 0x80, ...)   kill the process
 *   x32 syscall (nr & __X32_SYSCALL_BIT)   ENOSYS
 *   socket(): AF_UNIX, AF_NETLINK          allowed
 *             AF_INET/AF_INET6             SOCK_STREAM with protocol 0 or
 *                                          IPPROTO_TCP allowed, other protocols
 *                                          EPROTONOSUPPORT (SCTP, MPTCP); other
 *                                          types (UDP, raw, ICMP) to the
 *                                          supervisor: UDP gets a socket of the
 *                                          sealed namespace, the rest EPERM
 *                                          with a line (socket.c)
 *             AF_PACKET                    to the supervisor: EPERM with a line
 *             any other family             EAFNOSUPPORT
 *   socketpair(): AF_UNIX only             else EAFNOSUPPORT
 *   connect()                              to the supervisor (user notification)
 *   listen()                               to the supervisor: non-loopback refused
 *                                          unless AllowInbound (listen.c)
 *   sendto/sendmsg/sendmmsg + MSG_FASTOPEN EPERM (TFO connects from send)
 *   io_uring_setup/enter/register          ENOSYS (programs fall back)
 *   seccomp(SET_MODE_FILTER) with          EBUSY: a filter of the program's own
 *     SECCOMP_FILTER_FLAG_NEW_LISTENER     with a listener would get connect()
 *                                          first (the newest filter wins among
 *                                          equal actions) and could CONTINUE it.
 *                                          Linux >= 5.0 answers EBUSY too (one
 *                                          listener per filter tree); the rule
 *                                          does not depend on that, and a nested
 *                                          torify reads EBUSY as "already guarded"
 *   pidfd_getfd(-1, TORIFY_FAKEMAP_ASK_FD,  to the supervisor: the fake-map request
 *     TORIFY_FAKEMAP_ASK_FLAGS or          or the sealed-namespace question
 *     TORIFY_UDPNS_ASK_FLAGS)              (core/fakemap_ask.h, fakemap_fd.c)
 *   without Landlock (GUARD_FILTER_NO_PTRACE):
 *     ptrace(PTRACE_ATTACH/PTRACE_SEIZE),  EPERM: no reaching into processes
 *     process_vm_writev, pidfd_getfd       outside the guard (landlock.c)
 *
 * Only the low 32 bits of int arguments are looked at: the kernel itself
 * truncates them to int, so the upper half cannot change the meaning.
 */
#include <errno.h>
#include <linux/audit.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/fakemap_ask.h"
#include "guard/internal.h"

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

/* <sys/ptrace.h> and <linux/ptrace.h> clash; the two request numbers are ABI. */
#define PTRACE_ATTACH_REQ 16
#define PTRACE_SEIZE_REQ 0x4206
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8u * (i)))
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

struct asm_buf {
    struct sock_filter *p;
    size_t n, cap;
    bool overflow;
};

static void emit(struct asm_buf *b, struct sock_filter ins)
{
    if (b->n >= b->cap) {
        b->overflow = true;
        return;
    }
    b->p[b->n++] = ins;
}

static void ld(struct asm_buf *b, uint32_t off) { emit(b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off)); }
static void ret(struct asm_buf *b, uint32_t v) { emit(b, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, v)); }

/* if (A == k) return v; */
static void ret_if_eq(struct asm_buf *b, uint32_t k, uint32_t v)
{
    emit(b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1));
    ret(b, v);
}

/* A block that runs only when A == nr: "jeq nr, 0, len(block)" then the
 * block, which must end in a return on every path. */
static void block_if_nr(struct asm_buf *b, uint32_t nr, const struct sock_filter *blk, size_t len)
{
    if (len > 255) {
        b->overflow = true;
        return;
    }
    emit(b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, (uint8_t)len));
    for (size_t i = 0; i < len; i++)
        emit(b, blk[i]);
}

static size_t socket_block(struct sock_filter *p, size_t cap)
{
    struct asm_buf b = {p, 0, cap, false};
    ld(&b, ARG_LO(0));
    ret_if_eq(&b, AF_UNIX, SECCOMP_RET_ALLOW);
    ret_if_eq(&b, AF_NETLINK, SECCOMP_RET_ALLOW);
    ret_if_eq(&b, AF_PACKET, SECCOMP_RET_USER_NOTIF);
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0));
    ret(&b, RET_ERRNO(EAFNOSUPPORT));
    /* IP family: the type without SOCK_NONBLOCK/SOCK_CLOEXEC, as the kernel
     * masks it (SOCK_TYPE_MASK). */
    ld(&b, ARG_LO(1));
    emit(&b, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM, 1, 0));
    ret(&b, SECCOMP_RET_USER_NOTIF); /* datagram, raw: the supervisor (socket.c) */
    ld(&b, ARG_LO(2));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 1, 0));
    ret(&b, RET_ERRNO(EPROTONOSUPPORT));
    ret(&b, SECCOMP_RET_ALLOW);
    return b.overflow ? 0 : b.n;
}

static size_t socketpair_block(struct sock_filter *p, size_t cap)
{
    struct asm_buf b = {p, 0, cap, false};
    ld(&b, ARG_LO(0));
    ret_if_eq(&b, AF_UNIX, SECCOMP_RET_ALLOW);
    ret(&b, RET_ERRNO(EAFNOSUPPORT));
    return b.overflow ? 0 : b.n;
}

/* sendto/sendmsg/sendmmsg: refuse MSG_FASTOPEN in the flags argument (the
 * only flags the kernel honours; msg_flags inside msghdr are ignored). */
static size_t tfo_block(struct sock_filter *p, size_t cap, unsigned flags_arg)
{
    struct asm_buf b = {p, 0, cap, false};
    ld(&b, ARG_LO(flags_arg));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MSG_FASTOPEN, 0, 1));
    ret(&b, RET_ERRNO(EPERM));
    ret(&b, SECCOMP_RET_ALLOW);
    return b.overflow ? 0 : b.n;
}

static size_t seccomp_block(struct sock_filter *p, size_t cap)
{
    struct asm_buf b = {p, 0, cap, false};
    ld(&b, ARG_LO(0));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_SET_MODE_FILTER, 1, 0));
    ret(&b, SECCOMP_RET_ALLOW);
    ld(&b, ARG_LO(1));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1));
    ret(&b, RET_ERRNO(EBUSY));
    ret(&b, SECCOMP_RET_ALLOW);
    return b.overflow ? 0 : b.n;
}

static size_t ptrace_block(struct sock_filter *p, size_t cap)
{
    struct asm_buf b = {p, 0, cap, false};
    ld(&b, ARG_LO(0));
    ret_if_eq(&b, PTRACE_ATTACH_REQ, RET_ERRNO(EPERM));
    ret_if_eq(&b, PTRACE_SEIZE_REQ, RET_ERRNO(EPERM));
    ret(&b, SECCOMP_RET_ALLOW);
    return b.overflow ? 0 : b.n;
}

/* pidfd_getfd: exactly the fake-map request (core/fakemap_ask.h) goes to
 * the supervisor; any other call is the kernel's, or refused when Landlock
 * cannot scope it (GUARD_FILTER_NO_PTRACE).  The kernel reads the three
 * arguments as 32-bit (int, int, unsigned int): the low words are the whole
 * of what it would see. */
static size_t pidfd_getfd_block(struct sock_filter *p, size_t cap, unsigned flags)
{
    struct asm_buf b = {p, 0, cap, false};
    uint32_t other = (flags & GUARD_FILTER_NO_PTRACE) ? RET_ERRNO(EPERM) : SECCOMP_RET_ALLOW;
    ld(&b, ARG_LO(0));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TORIFY_FAKEMAP_ASK_PIDFD, 0, 6));
    ld(&b, ARG_LO(1));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TORIFY_FAKEMAP_ASK_FD, 0, 4));
    ld(&b, ARG_LO(2));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TORIFY_FAKEMAP_ASK_FLAGS, 1, 0));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TORIFY_UDPNS_ASK_FLAGS, 0, 1));
    ret(&b, SECCOMP_RET_USER_NOTIF);
    ret(&b, other);
    return b.overflow ? 0 : b.n;
}

size_t guard_filter_build(struct sock_filter *prog, size_t cap, unsigned flags)
{
    struct asm_buf b = {prog, 0, cap, false};
    struct sock_filter blk[32];
    size_t n;

    ld(&b, (uint32_t)offsetof(struct seccomp_data, arch));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    ret(&b, SECCOMP_RET_KILL_PROCESS);

    ld(&b, (uint32_t)offsetof(struct seccomp_data, nr));
    emit(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, __X32_SYSCALL_BIT, 0, 1));
    ret(&b, RET_ERRNO(ENOSYS));

    ret_if_eq(&b, __NR_connect, SECCOMP_RET_USER_NOTIF);
    ret_if_eq(&b, __NR_listen, SECCOMP_RET_USER_NOTIF);
    ret_if_eq(&b, __NR_io_uring_setup, RET_ERRNO(ENOSYS));
    ret_if_eq(&b, __NR_io_uring_enter, RET_ERRNO(ENOSYS));
    ret_if_eq(&b, __NR_io_uring_register, RET_ERRNO(ENOSYS));

    if (!(n = socket_block(blk, 32)))
        return 0;
    block_if_nr(&b, __NR_socket, blk, n);
    if (!(n = socketpair_block(blk, 32)))
        return 0;
    block_if_nr(&b, __NR_socketpair, blk, n);
    if (!(n = tfo_block(blk, 32, 3)))
        return 0;
    block_if_nr(&b, __NR_sendto, blk, n);
    if (!(n = tfo_block(blk, 32, 2)))
        return 0;
    block_if_nr(&b, __NR_sendmsg, blk, n);
    if (!(n = tfo_block(blk, 32, 3)))
        return 0;
    block_if_nr(&b, __NR_sendmmsg, blk, n);
    if (!(n = seccomp_block(blk, 32)))
        return 0;
    block_if_nr(&b, __NR_seccomp, blk, n);
    if (flags & GUARD_FILTER_NO_PTRACE) {
        if (!(n = ptrace_block(blk, 32)))
            return 0;
        block_if_nr(&b, __NR_ptrace, blk, n);
        ret_if_eq(&b, __NR_process_vm_writev, RET_ERRNO(EPERM));
    }
    if (!(n = pidfd_getfd_block(blk, 32, flags)))
        return 0;
    block_if_nr(&b, __NR_pidfd_getfd, blk, n);

    ret(&b, SECCOMP_RET_ALLOW);
    return b.overflow ? 0 : b.n;
}

int guard_filter_install(void)
{
    /* Without no_new_privs an unprivileged process may not install a
     * filter; with it, a set-uid program cannot gain privileges the filter
     * did not foresee. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    unsigned flags = guard_landlock_confine() == 0 ? 0 : GUARD_FILTER_NO_PTRACE;

    struct sock_filter prog[GUARD_FILTER_MAX];
    size_t n = guard_filter_build(prog, GUARD_FILTER_MAX, flags);
    if (n == 0)
        return -EOVERFLOW;
    struct sock_fprog fp = {.len = (unsigned short)n, .filter = prog};

    /* WAIT_KILLABLE_RECV (5.19): once the supervisor has taken a connect,
     * ordinary signals no longer interrupt it, so a program with a busy
     * signal timer (Go's preemption) cannot restart a slow Tor handshake
     * forever.  Older kernels reject the flag: install without it. */
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                      SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &fp);
    if (fd < 0 && errno == EINVAL)
        fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
    if (fd < 0)
        return -errno;
    return (int)fd;
}
