/*
 * test_guard_filter — the guard's seccomp filter, installed for real in a
 * forked child per test: each syscall the filter must refuse reports the
 * right errno, and what programs need keeps working.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "core/fakemap_ask.h"
#include "guard/internal.h"

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/* Result of fn run in a child under the filter: 0 when the call
 * succeeded, the errno when it failed, 200+signal when killed. */
static int in_child(long (*fn)(void), bool with_filter, bool keep_listener)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would catch a fatal signal and go on running
         * tests in the child: the default action is what is tested. */
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        int l = with_filter ? guard_filter_install() : 100;
        if (l < 0)
            _exit(199);
        if (with_filter && !keep_listener)
            close(l); /* no supervisor: notified syscalls fail closed */
        errno = 0;
        long r = fn();
        _exit(r < 0 ? (errno & 0xff) : 0);
    }
    int st;
    assert_true(waitpid(pid, &st, 0) == pid);
    if (WIFSIGNALED(st))
        return 200 + WTERMSIG(st);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 199);
    return WEXITSTATUS(st);
}

static int under_filter(long (*fn)(void), bool keep_listener)
{
    return in_child(fn, true, keep_listener);
}

static long udp4(void) { return socket(AF_INET, SOCK_DGRAM, 0); }
static long udp4_flags(void) { return socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP); }
static long udp6(void) { return socket(AF_INET6, SOCK_DGRAM, 0); }
static long udp4_high_bits(void) { return syscall(SYS_socket, AF_INET | (1L << 32), SOCK_DGRAM, 0); }
static long ping4(void) { return socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP); }
static long raw4(void) { return socket(AF_INET, SOCK_RAW, IPPROTO_RAW); }
static long icmp6(void) { return socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); }
static long packet(void) { return socket(AF_PACKET, SOCK_RAW, 0); }
static long vsock(void) { return socket(40 /* AF_VSOCK */, SOCK_STREAM, 0); }
static long mptcp(void) { return socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP); }
static long sctp_stream(void) { return socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP); }
static long seqpacket4(void) { return socket(AF_INET, SOCK_SEQPACKET, 0); }
static long tcp4(void) { return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP); }
static long tcp6(void) { return socket(AF_INET6, SOCK_STREAM, 0); }
static long unix_dgram(void) { return socket(AF_UNIX, SOCK_DGRAM, 0); }
static long netlink(void) { return socket(AF_NETLINK, SOCK_RAW, 0); }
static long pair_unix(void)
{
    int sv[2];
    return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}
static long pair_inet(void)
{
    int sv[2];
    return socketpair(AF_INET, SOCK_STREAM, 0, sv);
}

static struct sockaddr_in far_away(void)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(80)};
    in.sin_addr.s_addr = htonl(0x0a636301); /* 10.99.99.1: never reached, the call is refused first */
    return in;
}

static long tfo_sendto(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = far_away();
    return sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&in, sizeof in);
}
static long tfo_sendmsg(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = far_away();
    struct iovec iov = {(void *)"x", 1};
    struct msghdr m = {.msg_name = &in, .msg_namelen = sizeof in, .msg_iov = &iov, .msg_iovlen = 1};
    return sendmsg(fd, &m, MSG_FASTOPEN);
}
static long tfo_sendmmsg(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = far_away();
    struct iovec iov = {(void *)"x", 1};
    struct mmsghdr mm = {.msg_hdr = {.msg_name = &in, .msg_namelen = sizeof in, .msg_iov = &iov, .msg_iovlen = 1}};
    return sendmmsg(fd, &mm, 1, MSG_FASTOPEN);
}
static long plain_send_on_pair(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0)
        return -1;
    return sendto(sv[0], "x", 1, MSG_DONTWAIT, NULL, 0) == 1 ? 0 : -1;
}
static long uring_setup(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    return syscall(__NR_io_uring_setup, 4, &p);
}
static long uring_enter(void) { return syscall(__NR_io_uring_enter, 0, 1, 0, 0, NULL, 0); }
static long x32_getpid(void) { return syscall(0x40000000L | SYS_getpid); }
static long connect_unsupervised(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = far_away();
    return connect(fd, (struct sockaddr *)&in, sizeof in);
}
static long getpid_works(void) { return getpid() > 0 ? 0 : -1; }
static long i386_int80(void)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L /* i386 getpid */) : "memory");
    return ret < 0 ? -1 : 0;
}

/* Datagram, raw and packet sockets are the supervisor's to make (a UDP one
 * in the sealed namespace) or refuse with a line (guard/socket.c): with no
 * supervisor left the kernel fails them closed (ENOSYS), never makes one. */
static void test_udp_sockets_go_to_the_supervisor_and_fail_closed_without_one(void **st)
{
    (void)st;
    assert_int_equal(under_filter(udp4, false), ENOSYS);
    assert_int_equal(under_filter(udp4_flags, false), ENOSYS);
    assert_int_equal(under_filter(udp6, false), ENOSYS);
}

static void test_upper_argument_bits_cannot_hide_the_family(void **st)
{
    (void)st;
    /* The kernel truncates int arguments: AF_INET | 1<<32 is AF_INET. */
    assert_int_equal(under_filter(udp4_high_bits, false), ENOSYS);
}

static void test_raw_icmp_and_packet_sockets_go_to_the_supervisor(void **st)
{
    (void)st;
    assert_int_equal(under_filter(ping4, false), ENOSYS);
    assert_int_equal(under_filter(raw4, false), ENOSYS);
    assert_int_equal(under_filter(icmp6, false), ENOSYS);
    assert_int_equal(under_filter(packet, false), ENOSYS);
    assert_int_equal(under_filter(seqpacket4, false), ENOSYS);
}

static void test_other_families_and_ip_protocols_are_refused(void **st)
{
    (void)st;
    assert_int_equal(under_filter(vsock, false), EAFNOSUPPORT);
    assert_int_equal(under_filter(pair_inet, false), EAFNOSUPPORT);
    assert_int_equal(under_filter(mptcp, false), EPROTONOSUPPORT);
    assert_int_equal(under_filter(sctp_stream, false), EPROTONOSUPPORT);
}

static void test_tcp_unix_and_netlink_sockets_still_work(void **st)
{
    (void)st;
    assert_int_equal(under_filter(tcp4, false), 0);
    assert_int_equal(under_filter(tcp6, false), 0);
    assert_int_equal(under_filter(unix_dgram, false), 0);
    assert_int_equal(under_filter(netlink, false), 0);
    assert_int_equal(under_filter(pair_unix, false), 0);
    assert_int_equal(under_filter(plain_send_on_pair, false), 0);
    assert_int_equal(under_filter(getpid_works, false), 0);
}

static void test_tcp_fast_open_sends_are_refused(void **st)
{
    (void)st;
    assert_int_equal(under_filter(tfo_sendto, false), EPERM);
    assert_int_equal(under_filter(tfo_sendmsg, false), EPERM);
    assert_int_equal(under_filter(tfo_sendmmsg, false), EPERM);
}

static void test_io_uring_is_unavailable_so_programs_fall_back(void **st)
{
    (void)st;
    assert_int_equal(under_filter(uring_setup, false), ENOSYS);
    assert_int_equal(under_filter(uring_enter, false), ENOSYS);
}

static void test_x32_syscalls_are_refused(void **st)
{
    (void)st;
    assert_int_equal(under_filter(x32_getpid, false), ENOSYS);
}

/* ---- the program itself, run by a small classic-BPF interpreter: what it
 * answers for inputs the kernel here cannot produce (other architectures) */

static uint32_t bpf_run(const struct sock_filter *p, size_t n, const struct seccomp_data *d)
{
    uint32_t a = 0;
    for (size_t pc = 0; pc < n; pc++) {
        const struct sock_filter *i = &p[pc];
        switch (i->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            assert_true(i->k + 4 <= sizeof *d && i->k % 4 == 0);
            memcpy(&a, (const char *)d + i->k, 4);
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            a &= i->k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == i->k ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            pc += (a & i->k) ? i->jt : i->jf;
            break;
        case BPF_RET | BPF_K:
            return i->k;
        default:
            fail_msg("unexpected BPF instruction 0x%x at %zu", i->code, pc);
        }
        assert_true(pc < n);
    }
    fail_msg("BPF program fell off its end");
    return 0;
}

static uint32_t verdict(unsigned flags, uint32_t arch, int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    struct sock_filter prog[GUARD_FILTER_MAX];
    size_t n = guard_filter_build(prog, GUARD_FILTER_MAX, flags);
    assert_true(n > 0);
    struct seccomp_data d;
    memset(&d, 0, sizeof d);
    d.arch = arch;
    d.nr = nr;
    d.args[0] = a0, d.args[1] = a1, d.args[2] = a2, d.args[3] = a3;
    return bpf_run(prog, n, &d);
}

#define ERRNO_OF(e) (SECCOMP_RET_ERRNO | (uint32_t)(e))
#define AUDIT_I386 0x40000003u   /* AUDIT_ARCH_I386 */
#define AUDIT_X86_64 0xc000003eu /* AUDIT_ARCH_X86_64 */
#define AUDIT_AARCH64 0xc00000b7u

static void test_program_kills_other_architectures_before_anything(void **st)
{
    (void)st;
    /* i386 socketcall (102) and i386 socket (359): killed, whatever the args. */
    assert_int_equal(verdict(0, AUDIT_I386, 102, 1, 0, 0, 0), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(verdict(0, AUDIT_I386, 359, AF_INET, SOCK_DGRAM, 0, 0), SECCOMP_RET_KILL_PROCESS);
    /* Even i386 getpid: a number means something else under another ABI. */
    assert_int_equal(verdict(0, AUDIT_I386, 20, 0, 0, 0, 0), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(verdict(0, AUDIT_AARCH64, 203, 0, 0, 0, 0), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_getpid, 0, 0, 0, 0), SECCOMP_RET_ALLOW);
    /* And for real where the kernel runs i386 code at all (without IA-32
     * emulation, int 0x80 faults by itself before any filter runs). */
    if (in_child(i386_int80, false, false) == 0)
        assert_int_equal(under_filter(i386_int80, false), 200 + SIGSYS);
}

static void test_program_decisions_for_x86_64(void **st)
{
    (void)st;
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_connect, 3, 0x1000, 16, 0), SECCOMP_RET_USER_NOTIF);
    assert_int_equal(verdict(0, AUDIT_X86_64, 0x40000000 | SYS_connect, 3, 0x1000, 16, 0), ERRNO_OF(ENOSYS));
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0),
                     SECCOMP_RET_USER_NOTIF);
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_socket, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP, 0),
                     SECCOMP_RET_ALLOW);
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_socket, (1ULL << 32) | AF_INET, SOCK_RAW, 1, 0),
                     SECCOMP_RET_USER_NOTIF);
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_socket, AF_INET6, SOCK_STREAM, 132 /* SCTP */, 0),
                     ERRNO_OF(EPROTONOSUPPORT));
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_sendto, 3, 0, 1, MSG_FASTOPEN | MSG_NOSIGNAL), ERRNO_OF(EPERM));
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_sendto, 3, 0, 1, MSG_NOSIGNAL), SECCOMP_RET_ALLOW);
    /* ptrace stays allowed with Landlock; refused without it. */
    assert_int_equal(verdict(0, AUDIT_X86_64, SYS_ptrace, 16, 1, 0, 0), SECCOMP_RET_ALLOW);
    assert_int_equal(verdict(GUARD_FILTER_NO_PTRACE, AUDIT_X86_64, SYS_ptrace, 16, 1, 0, 0), ERRNO_OF(EPERM));
    assert_int_equal(verdict(GUARD_FILTER_NO_PTRACE, AUDIT_X86_64, SYS_ptrace, 0x4206, 1, 0, 0), ERRNO_OF(EPERM));
    assert_int_equal(verdict(GUARD_FILTER_NO_PTRACE, AUDIT_X86_64, SYS_ptrace, 0 /* TRACEME */, 0, 0, 0),
                     SECCOMP_RET_ALLOW);
    assert_int_equal(verdict(GUARD_FILTER_NO_PTRACE, AUDIT_X86_64, SYS_process_vm_writev, 1, 0, 0, 0), ERRNO_OF(EPERM));
    assert_int_equal(verdict(GUARD_FILTER_NO_PTRACE, AUDIT_X86_64, SYS_process_vm_readv, 1, 0, 0, 0), SECCOMP_RET_ALLOW);
}


static void test_connect_without_supervisor_fails_closed(void **st)
{
    (void)st;
    /* No listener left: the kernel answers ENOSYS, nothing is sent. */
    assert_int_equal(under_filter(connect_unsupervised, false), ENOSYS);
}

static long nested_listener(void)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fp = {.len = 1, .filter = &allow};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
}
static long nested_plain_filter(void)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fp = {.len = 1, .filter = &allow};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp);
}
static long take_fd_from_parent(void)
{
    long pfd = syscall(SYS_pidfd_open, getppid(), 0);
    if (pfd < 0)
        return -1;
    return syscall(SYS_pidfd_getfd, (int)pfd, 0, 0);
}

static void test_program_cannot_get_a_listener_of_its_own(void **st)
{
    (void)st;
    assert_int_equal(under_filter(nested_listener, false), EBUSY);
    /* Filters without a listener only add restrictions: still allowed. */
    assert_int_equal(under_filter(nested_plain_filter, false), 0);
}

static void test_guarded_child_cannot_take_fds_from_the_supervisor(void **st)
{
    (void)st;
    /* Unguarded, root may take its parent's fds; guarded, never
     * (Landlock scope, or the filter's refusal where Landlock is absent). */
    if (geteuid() == 0)
        assert_int_equal(in_child(take_fd_from_parent, false, false), 0);
    assert_int_equal(under_filter(take_fd_from_parent, false), EPERM);
}

#define ASK_NR SYS_pidfd_getfd
static void test_the_fake_map_request_and_only_it_goes_to_the_supervisor(void **st)
{
    (void)st;
    /* Exactly pidfd_getfd(-1, magic, magic) (core/fakemap_ask.h) is
     * notified, with or without Landlock; upper halves do not matter (the
     * kernel reads ints). */
    for (unsigned f = 0; f <= GUARD_FILTER_NO_PTRACE; f++) {
        uint32_t other = f ? ERRNO_OF(EPERM) : SECCOMP_RET_ALLOW;
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 0xffffffffu, TORIFY_FAKEMAP_ASK_FD,
                                 TORIFY_FAKEMAP_ASK_FLAGS, 0),
                         SECCOMP_RET_USER_NOTIF);
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, ~0ULL, (7ULL << 32) | TORIFY_FAKEMAP_ASK_FD,
                                 TORIFY_FAKEMAP_ASK_FLAGS, 0),
                         SECCOMP_RET_USER_NOTIF);
        /* The sealed-namespace question has the same shape. */
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 0xffffffffu, TORIFY_FAKEMAP_ASK_FD,
                                 TORIFY_UDPNS_ASK_FLAGS, 0),
                         SECCOMP_RET_USER_NOTIF);
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 3, TORIFY_FAKEMAP_ASK_FD, TORIFY_UDPNS_ASK_FLAGS, 0),
                         other);
        /* Any argument off: the kernel's (or refused without Landlock). */
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 3, TORIFY_FAKEMAP_ASK_FD, TORIFY_FAKEMAP_ASK_FLAGS, 0),
                         other);
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 0xffffffffu, 0, TORIFY_FAKEMAP_ASK_FLAGS, 0), other);
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 0xffffffffu, TORIFY_FAKEMAP_ASK_FD, 0, 0), other);
        assert_int_equal(verdict(f, AUDIT_X86_64, ASK_NR, 4, 0, 0, 0), other);
        /* The same arguments to another call are nothing special. */
        assert_int_equal(verdict(f, AUDIT_X86_64, SYS_ioctl, 0xffffffffu, TORIFY_FAKEMAP_ASK_FD,
                                 TORIFY_FAKEMAP_ASK_FLAGS, 0),
                         SECCOMP_RET_ALLOW);
    }
}

static long ask_fakemap(void)
{
    return syscall(SYS_pidfd_getfd, -1, TORIFY_FAKEMAP_ASK_FD, TORIFY_FAKEMAP_ASK_FLAGS);
}

static void test_fake_map_request_fails_without_guard_or_supervisor(void **st)
{
    (void)st;
    /* Outside the guard the kernel refuses the call; under a filter whose
     * supervisor is gone it fails closed. */
    assert_int_equal(in_child(ask_fakemap, false, false), EINVAL);
    assert_int_equal(under_filter(ask_fakemap, false), ENOSYS);
}

static void test_filter_build_reports_a_too_small_buffer(void **st)
{
    (void)st;
    struct sock_filter prog[GUARD_FILTER_MAX];
    size_t n = guard_filter_build(prog, GUARD_FILTER_MAX, 0);
    assert_true(n > 10 && n < GUARD_FILTER_MAX);
    assert_int_equal(guard_filter_build(prog, n - 1, 0), 0);
    /* The first instruction loads the architecture: checked before anything. */
    assert_int_equal(prog[0].k, offsetof(struct seccomp_data, arch));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_sockets_go_to_the_supervisor_and_fail_closed_without_one),
        cmocka_unit_test(test_upper_argument_bits_cannot_hide_the_family),
        cmocka_unit_test(test_raw_icmp_and_packet_sockets_go_to_the_supervisor),
        cmocka_unit_test(test_other_families_and_ip_protocols_are_refused),
        cmocka_unit_test(test_tcp_unix_and_netlink_sockets_still_work),
        cmocka_unit_test(test_tcp_fast_open_sends_are_refused),
        cmocka_unit_test(test_io_uring_is_unavailable_so_programs_fall_back),
        cmocka_unit_test(test_x32_syscalls_are_refused),
        cmocka_unit_test(test_program_kills_other_architectures_before_anything),
        cmocka_unit_test(test_program_decisions_for_x86_64),
        cmocka_unit_test(test_connect_without_supervisor_fails_closed),
        cmocka_unit_test(test_program_cannot_get_a_listener_of_its_own),
        cmocka_unit_test(test_guarded_child_cannot_take_fds_from_the_supervisor),
        cmocka_unit_test(test_the_fake_map_request_and_only_it_goes_to_the_supervisor),
        cmocka_unit_test(test_fake_map_request_fails_without_guard_or_supervisor),
        cmocka_unit_test(test_filter_build_reports_a_too_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
