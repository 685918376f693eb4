/* shim/socket.c — socket(): only what Tor can carry, plus local families;
 * under the guard's sealed namespace also UDP (it can reach nothing but
 * torify's DNS responder). */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>

#include "core/fakemap_ask.h"
#include "core/log.h"
#include "core/policy.h"
#include "shim/state.h"
#include "core/sys.h"
#include "shim/real.h"
#include "shim/shim.h"

/* NULL for families without a name here. */
const char *torify_family_name(int family)
{
    switch (family) {
    case AF_UNIX: return "AF_UNIX";
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_NETLINK: return "AF_NETLINK";
    case AF_PACKET: return "AF_PACKET";
    default: return NULL;
    }
}

const char *torify_socktype_name(int type)
{
    switch (type & 0xf) {
    case SOCK_STREAM: return "SOCK_STREAM";
    case SOCK_DGRAM: return "SOCK_DGRAM";
    case SOCK_RAW: return "SOCK_RAW";
    case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
    default: return "other type";
    }
}

int torify_sock_type(int fd)
{
    int v = 0;
    socklen_t l = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0 ? v : -1;
}

int torify_sock_domain(int fd)
{
    int v = 0;
    socklen_t l = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 ? v : -1;
}

bool torify_shim_udp_sealed(void)
{
    int v = atomic_load_explicit(&torify_shim.udp_sealed, memory_order_relaxed);
    if (v == TORIFY_PASS_UNKNOWN) {
        /* A raw system call: only the guard's supervisor can answer 0 (the
         * kernel says EBADF to pidfd -1), so no environment variable or
         * preload trick can make an unguarded process believe it. */
        long r = torify_sys(TORIFY_FAKEMAP_ASK_NR, -1, (long)TORIFY_FAKEMAP_ASK_FD, (long)TORIFY_UDPNS_ASK_FLAGS,
                            0, 0, 0);
        v = r == 0 ? TORIFY_PASS_YES : TORIFY_PASS_NO;
        atomic_store_explicit(&torify_shim.udp_sealed, v, memory_order_relaxed);
    }
    return v == TORIFY_PASS_YES;
}

static __attribute__((noinline)) int socket_checked(int domain, int type, int protocol)
{
    torify_err e = torify_policy_socket(domain, type, protocol);
    /* Under the guard with its sealed namespace, a UDP socket is the
     * kernel's business: the supervisor makes it where it reaches only
     * torify's DNS responder (src/guard/socket.c). */
    if (e == TORIFY_E_REFUSE_UDP && (protocol == 0 || protocol == IPPROTO_UDP) && torify_shim_udp_sealed())
        e = TORIFY_OK;
    if (e != TORIFY_OK && !torify_state_passthrough()) {
        (void)torify_state_config(); /* sets up logging */
        const char *fam = torify_family_name(domain);
        char num[16];
        if (!fam) {
            snprintf(num, sizeof num, "family %d", domain);
            fam = num;
        }
        /* socket() sends nothing: a UDP one is mostly a probe (curl's IPv6
         * check) and the program goes on; -d still shows it. */
        errno = torify_refuse_at(torify_policy_refusal_level(e, true), e, "socket(%s, %s, %d)", fam,
                                 torify_socktype_name(type), protocol);
        return -1;
    }
    torify_socket_fn f = REAL(SOCKET, torify_socket_fn);
    int fd = f ? f(domain, type, protocol) : -1;
    if (fd >= 0)
        torify_shim_identity_socket(fd, domain, protocol);
    return fd;
}

EXPORT int socket(int domain, int type, int protocol)
{
    /* Hot path: local sockets pass at the cost of the system call itself. */
#if TORIFY_HAVE_RAW_SYSCALL
    if (__builtin_expect(domain == AF_UNIX, 1))
        return (int)torify_sys_ret(torify_sys3_int(SYS_socket, domain, type, protocol));
#endif
    return socket_checked(domain, type, protocol);
}
