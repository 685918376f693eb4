/*
 * shim/identity.c — HideIdentity inside the program: what libc would tell
 * it about the machine, masked.
 *
 *   gethostname, uname().nodename        "localhost"
 *   getifaddrs, if_nameindex             the loopback interface only
 *   ioctl SIOCGIFCONF                    the loopback entry only
 *   ioctl SIOCGIF* on another interface  ENODEV, as for one that does not exist
 *   recv* of a NETLINK_ROUTE socket      link, address, route and neighbour
 *                                        messages of the loopback only
 *
 * Without HideIdentity every call is libc's, untouched (but for FIONREAD of
 * a socket that still owes its SOCKS reply: shim/opt.h).  Under the guard
 * the program also has a UTS namespace of its own (guard/uts.c), which
 * covers static programs and raw system calls for the host name; the
 * interface masks are the shim's only (static programs and /sys/class/net
 * are not masked: docs/IDENTITY.md).
 *
 * The shim's rule "the machine's own name is a loopback name" uses the real
 * name (raw uname(2), core/sys.h), so a program that learned it elsewhere
 * (/etc/hostname) still gets loopback for it and never sends it to Tor.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdatomic.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "core/sys.h"
#include "shim/opt.h"
#include "shim/real.h"
#include "shim/shim.h"
#include "shim/state.h"

#define MASKED_HOSTNAME "localhost"

typedef int (*gethostname_fn)(char *, size_t);
typedef int (*uname_fn)(struct utsname *);
typedef int (*getifaddrs_fn)(struct ifaddrs **);
typedef struct if_nameindex *(*if_nameindex_fn)(void);
typedef int (*ioctl_fn)(int, unsigned long, void *);

static bool hiding(void)
{
    if (torify_state_passthrough())
        return false;
    return torify_state_config()->cfg.hide_identity;
}

int torify_shim_real_hostname(char *buf, size_t len)
{
    struct utsname u;
    if (len == 0 || torify_sys(SYS_uname, (long)&u, 0, 0, 0, 0, 0) < 0)
        return -1;
    size_t n = strnlen(u.nodename, sizeof u.nodename);
    if (n >= len)
        n = len - 1;
    memcpy(buf, u.nodename, n);
    buf[n] = '\0';
    return 0;
}

int torify_shim_etc_hostname(char *buf, size_t len)
{
    if (len < 2 || !hiding())
        return -1;
    /* raw open/read/close: no interposed call, no stdio buffer. */
    long fd = torify_sys(SYS_open, (long)"/etc/hostname", O_RDONLY | O_CLOEXEC, 0, 0, 0, 0);
    if (fd < 0)
        return -1;
    long n = torify_sys(SYS_read, fd, (long)buf, (long)(len - 1), 0, 0, 0);
    torify_sys_close((int)fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, " \t\r\n")] = '\0';
    return buf[0] ? 0 : -1;
}

EXPORT int gethostname(char *name, size_t len)
{
    if (!hiding()) {
        gethostname_fn f = REAL(GETHOSTNAME, gethostname_fn);
        return f ? f(name, len) : -1;
    }
    if (sizeof MASKED_HOSTNAME > len) {
        errno = ENAMETOOLONG; /* what glibc says for a short buffer */
        return -1;
    }
    memcpy(name, MASKED_HOSTNAME, sizeof MASKED_HOSTNAME);
    return 0;
}

EXPORT int uname(struct utsname *u)
{
    uname_fn f = REAL(UNAME, uname_fn);
    if (!f)
        return -1;
    int r = f(u);
    if (r == 0 && hiding()) {
        memset(u->nodename, 0, sizeof u->nodename);
        memcpy(u->nodename, MASKED_HOSTNAME, sizeof MASKED_HOSTNAME);
#ifdef _GNU_SOURCE
        memset(u->domainname, 0, sizeof u->domainname);
        memcpy(u->domainname, "(none)", 7);
#endif
    }
    return r;
}

static bool is_loopback(const char *name)
{
    return name && strcmp(name, "lo") == 0;
}

static size_t sa_len(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    switch (sa->sa_family) {
    case AF_INET: return sizeof(struct sockaddr_in);
    case AF_INET6: return sizeof(struct sockaddr_in6);
    default: return sizeof(struct sockaddr_storage); /* AF_PACKET's sockaddr_ll fits */
    }
}

/* glibc's freeifaddrs frees the list's first node as one block: the masked
 * list is built the same way, every node, name and address in one malloc. */
EXPORT int getifaddrs(struct ifaddrs **out)
{
    getifaddrs_fn f = REAL(GETIFADDRS, getifaddrs_fn);
    if (!f)
        return -1;
    struct ifaddrs *all = NULL;
    int r = f(&all);
    if (r != 0 || !hiding())
        return (*out = all, r);
    size_t size = 0, count = 0;
    for (struct ifaddrs *p = all; p; p = p->ifa_next) {
        if (!is_loopback(p->ifa_name))
            continue;
        count++;
        size += sizeof(struct ifaddrs) + strlen(p->ifa_name) + 1 + sa_len(p->ifa_addr) + sa_len(p->ifa_netmask) +
                sa_len(p->ifa_broadaddr) + 16;
    }
    struct ifaddrs *block = count ? calloc(1, size) : NULL;
    if (count && !block) {
        freeifaddrs(all);
        errno = ENOMEM;
        return -1;
    }
    struct ifaddrs *nodes = block, *prev = NULL;
    char *extra = (char *)(nodes + count);
    size_t i = 0;
    for (struct ifaddrs *p = all; p; p = p->ifa_next) {
        if (!is_loopback(p->ifa_name))
            continue;
        struct ifaddrs *n = &nodes[i++];
        n->ifa_flags = p->ifa_flags;
        n->ifa_data = NULL; /* link statistics: not copied */
        size_t nl = strlen(p->ifa_name) + 1;
        n->ifa_name = memcpy(extra, p->ifa_name, nl);
        extra += nl;
        struct sockaddr **dst[3] = {&n->ifa_addr, &n->ifa_netmask, &n->ifa_broadaddr};
        struct sockaddr *src[3] = {p->ifa_addr, p->ifa_netmask, p->ifa_broadaddr};
        for (int k = 0; k < 3; k++) {
            size_t l = sa_len(src[k]);
            if (!l)
                continue;
            extra += (16 - ((uintptr_t)extra & 15)) & 15; /* sockaddr alignment */
            *dst[k] = memcpy(extra, src[k], l);
            extra += l;
        }
        if (prev)
            prev->ifa_next = n;
        prev = n;
    }
    freeifaddrs(all);
    *out = block;
    return 0;
}

EXPORT struct if_nameindex *if_nameindex(void)
{
    if_nameindex_fn f = REAL(IF_NAMEINDEX, if_nameindex_fn);
    if (!f)
        return NULL;
    struct if_nameindex *all = f();
    if (!all || !hiding())
        return all;
    /* Compacted in place: if_freenameindex frees each name it still finds
     * before the terminator, then the array; the others are freed here. */
    size_t w = 0;
    for (size_t r = 0; all[r].if_index != 0 || all[r].if_name; r++) {
        if (is_loopback(all[r].if_name))
            all[w++] = all[r];
        else
            free(all[r].if_name);
    }
    all[w].if_index = 0;
    all[w].if_name = NULL;
    return all;
}

static bool is_interface_query(unsigned long req)
{
    switch (req) {
    case SIOCGIFNAME: case SIOCGIFFLAGS: case SIOCGIFADDR: case SIOCGIFDSTADDR: case SIOCGIFBRDADDR:
    case SIOCGIFNETMASK: case SIOCGIFMETRIC: case SIOCGIFMTU: case SIOCGIFHWADDR: case SIOCGIFINDEX:
    case SIOCGIFTXQLEN: case SIOCGIFMAP:
        return true;
    default:
        return false;
    }
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    ioctl_fn f = REAL(IOCTL, ioctl_fn);
    if (!f)
        return -1;
    /* FIONREAD of a socket that owes its SOCKS reply (optimistic data,
     * shim/opt.h): what arrived of the reply is read first and is not
     * counted; while the reply is incomplete nothing is readable. */
    if (req == FIONREAD && torify_opt_flagged(fd)) {
        int err = 0;
        if (torify_opt_settle(fd, false, &err) != OPT_DONE) {
            if (arg)
                *(int *)arg = 0;
            return 0;
        }
    }
    /* Terminal and file ioctls (the common ones) never load anything. */
    if (req != SIOCGIFCONF && !is_interface_query(req))
        return f(fd, req, arg);
    if (!hiding())
        return f(fd, req, arg);
    if (req == SIOCGIFNAME) {
        int r = f(fd, req, arg);
        if (r == 0 && !is_loopback(((struct ifreq *)arg)->ifr_name)) {
            errno = ENODEV;
            return -1;
        }
        return r;
    }
    if (req != SIOCGIFCONF) {
        struct ifreq *ifr = arg;
        char name[IFNAMSIZ + 1];
        if (ifr) {
            memcpy(name, ifr->ifr_name, IFNAMSIZ);
            name[IFNAMSIZ] = '\0';
            if (!is_loopback(name)) {
                errno = ENODEV;
                return -1;
            }
        }
        return f(fd, req, arg);
    }
    int r = f(fd, req, arg);
    struct ifconf *ifc = arg;
    if (r != 0 || !ifc || !ifc->ifc_req)
        return r; /* a size query (NULL buffer) says more than shown: harmless */
    size_t n = (size_t)ifc->ifc_len / sizeof(struct ifreq), w = 0;
    for (size_t i = 0; i < n; i++) {
        char name[IFNAMSIZ + 1];
        memcpy(name, ifc->ifc_req[i].ifr_name, IFNAMSIZ);
        name[IFNAMSIZ] = '\0';
        if (is_loopback(name))
            ifc->ifc_req[w++] = ifc->ifc_req[i];
    }
    ifc->ifc_len = (int)(w * sizeof(struct ifreq));
    return r;
}

/* ---- netlink dumps (ip addr, ip link, ip route, ip neigh) ------------- */

static bool nl_marked(int fd)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_NL_FD_MAX)
        return false;
    uint64_t w = atomic_load_explicit(&torify_shim.nl_route_bits[(unsigned)fd / 64], memory_order_relaxed);
    return (w >> ((unsigned)fd % 64)) & 1u;
}

static void nl_set(int fd, bool on)
{
    uint64_t bit = 1ull << ((unsigned)fd % 64);
    _Atomic uint64_t *w = &torify_shim.nl_route_bits[(unsigned)fd / 64];
    if (on)
        atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
    else if (atomic_load_explicit(w, memory_order_relaxed) & bit)
        atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed);
}

void torify_shim_identity_socket(int fd, int domain, int protocol)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_NL_FD_MAX)
        return;
    nl_set(fd, domain == AF_NETLINK && protocol == NETLINK_ROUTE && hiding());
}

static int loopback_index(void)
{
    unsigned i = if_nametoindex("lo");
    return i ? (int)i : 1;
}

/* Is this message about an interface other than the loopback? */
static bool nl_foreign(const struct nlmsghdr *h, int lo)
{
    size_t plen = h->nlmsg_len >= NLMSG_HDRLEN ? h->nlmsg_len - NLMSG_HDRLEN : 0;
    const void *d = NLMSG_DATA(h);
    switch (h->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
        return plen >= sizeof(struct ifinfomsg) && ((const struct ifinfomsg *)d)->ifi_index != lo;
    case RTM_NEWADDR:
    case RTM_DELADDR:
        return plen >= sizeof(struct ifaddrmsg) && (int)((const struct ifaddrmsg *)d)->ifa_index != lo;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
        return plen >= sizeof(struct ndmsg) && ((const struct ndmsg *)d)->ndm_ifindex != lo;
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
        if (plen < sizeof(struct rtmsg))
            return false;
        size_t alen = plen - NLMSG_ALIGN(sizeof(struct rtmsg));
        const struct rtattr *a = (const struct rtattr *)((const char *)d + NLMSG_ALIGN(sizeof(struct rtmsg)));
        for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
            if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) {
                int oif;
                memcpy(&oif, RTA_DATA(a), sizeof oif);
                return oif != lo;
            }
            if (a->rta_type == RTA_GATEWAY)
                return true;
        }
        return false;
    }
    default:
        return false;
    }
}

/* Drop the messages about other interfaces from buf[0..len): the new length. */
static size_t nl_filter(void *buf, size_t len)
{
    int lo = loopback_index();
    char *base = buf, *w = buf;
    size_t rest = len;
    struct nlmsghdr *h = buf;
    while (NLMSG_OK(h, rest)) {
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (step > rest)
            step = rest;
        if (!nl_foreign(h, lo)) {
            if (w != (char *)h)
                memmove(w, h, step);
            w += step;
        }
        rest -= step;
        h = (struct nlmsghdr *)((char *)h + step);
    }
    /* A trailing partial message (never in a well-formed dump) is kept. */
    if (rest) {
        if (w != (char *)h)
            memmove(w, h, rest);
        w += rest;
    }
    return (size_t)(w - base);
}

static bool still_netlink(int fd)
{
    int d = 0;
    socklen_t l = sizeof d;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &d, &l) == 0 && d == AF_NETLINK)
        return true;
    nl_set(fd, false); /* the number was reused: forget it */
    return false;
}

typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);

/* A dump whose every message was about other interfaces reads on (a
 * caller would take 0 for the end); a peek is passed as is (its length
 * only sizes the caller's buffer, which then holds less). */
EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    recvmsg_fn f = REAL(RECVMSG, recvmsg_fn);
    if (!f)
        return -1;
    if (torify_opt_flagged(fd) && torify_opt_before_read(fd, (flags & MSG_DONTWAIT) != 0) != 0)
        return -1; /* a SOCKS reply still owed (shim/opt.h) */
    if (!nl_marked(fd) || (flags & MSG_PEEK) || !m || m->msg_iovlen != 1 || !still_netlink(fd))
        return f(fd, m, flags);
    for (;;) {
        ssize_t n = f(fd, m, flags);
        if (n <= 0 || (m->msg_flags & MSG_TRUNC))
            return n;
        size_t have = (size_t)n < m->msg_iov[0].iov_len ? (size_t)n : m->msg_iov[0].iov_len;
        size_t k = nl_filter(m->msg_iov[0].iov_base, have);
        if (k > 0)
            return (ssize_t)k;
    }
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fl)
{
    recvfrom_fn f = REAL(RECVFROM, recvfrom_fn);
    if (!f)
        return -1;
    if (torify_opt_flagged(fd) && torify_opt_before_read(fd, (flags & MSG_DONTWAIT) != 0) != 0)
        return -1;
    if (!nl_marked(fd) || (flags & (MSG_PEEK | MSG_TRUNC)) || !still_netlink(fd))
        return f(fd, buf, len, flags, from, fl);
    for (;;) {
        ssize_t n = f(fd, buf, len, flags, from, fl);
        if (n <= 0 || (size_t)n > len)
            return n;
        size_t k = nl_filter(buf, (size_t)n);
        if (k > 0)
            return (ssize_t)k;
    }
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    recv_fn f = REAL(RECV, recv_fn);
    if (!f)
        return -1;
    if (torify_opt_flagged(fd) && torify_opt_before_read(fd, (flags & MSG_DONTWAIT) != 0) != 0)
        return -1;
    if (!nl_marked(fd))
        return f(fd, buf, len, flags);
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}
