/*
 * shim/identity.c — HideIdentity inside the program: what libc would tell
 * it about the machine, masked.
 *
 *   gethostname, uname().nodename        "localhost"
 *   getifaddrs, if_nameindex             the loopback interface only
 *   ioctl SIOCGIFCONF                    the loopback entry only
 *   ioctl SIOCGIF* on another interface  ENODEV, as for one that does not exist
 *
 * Without HideIdentity every call is libc's, untouched.  Under the guard
 * the program also has a UTS namespace of its own (guard/uts.c), which
 * covers static programs and raw system calls for the host name; the
 * interface masks are the shim's only (netlink dumps, e.g. `ip addr`, and
 * /sys/class/net are not masked: docs/IDENTITY.md).
 *
 * The shim's rule "the machine's own name is a loopback name" uses the real
 * name (raw uname(2), core/sys.h), so a program that learned it elsewhere
 * (/etc/hostname) still gets loopback for it and never sends it to Tor.
 */
#include <errno.h>
#include <fcntl.h>
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
