/*
 * guard/netns.c — sealing a fresh network namespace for guarded programs'
 * datagram sockets.
 *
 * A new network namespace has one interface, a loopback that is down, and
 * no routes.  Sealing brings the loopback up and adds a `local` route for
 * every IPv4 and every IPv6 address (table local, dev lo), as
 *     ip route add local 0.0.0.0/0 dev lo table local
 *     ip -6 route add local ::/0 dev lo table local
 * would: a datagram to any address is delivered to this namespace itself,
 * so it reaches a socket bound here (torify's DNS responder on port 53) or
 * nothing.  There is no other interface and none can be added that leads
 * out (a veth's other end would have to be moved into a namespace we hold
 * no capability over), so nothing sent from a socket of this namespace can
 * reach the network: the guarantee is the kernel's routing, not a check of
 * each call.
 *
 * ICMP "port unreachable" for datagrams to closed ports is rate limited by
 * default; the limits are lifted here (per namespace) so the responder's
 * watch (guard/dns_serve.c) sees, and reports, every refused datagram.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "guard/internal.h"

static int lo_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int r = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        r = -errno;
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
            r = -errno;
    }
    close(s);
    return r;
}

/* One RTM_NEWROUTE: a local route for all of family's addresses via lo. */
static int add_local_default(int nl, int family, int ifindex, unsigned seq)
{
    struct {
        struct nlmsghdr h;
        struct rtmsg r;
        char attrs[64];
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_type = RTM_NEWROUTE;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    req.h.nlmsg_seq = seq;
    req.r.rtm_family = (unsigned char)family;
    req.r.rtm_dst_len = 0;
    req.r.rtm_table = RT_TABLE_LOCAL;
    req.r.rtm_protocol = RTPROT_KERNEL;
    req.r.rtm_scope = RT_SCOPE_HOST;
    req.r.rtm_type = RTN_LOCAL;
    size_t len = NLMSG_LENGTH(sizeof req.r);
    struct rtattr *a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(len));
    a->rta_type = RTA_OIF;
    a->rta_len = RTA_LENGTH(sizeof(int));
    memcpy(RTA_DATA(a), &ifindex, sizeof ifindex);
    len = NLMSG_ALIGN(len) + RTA_ALIGN(a->rta_len);
    req.h.nlmsg_len = (unsigned)len;

    struct sockaddr_nl to = {.nl_family = AF_NETLINK};
    if (sendto(nl, &req, len, 0, (struct sockaddr *)&to, sizeof to) != (ssize_t)len)
        return -errno;
    char buf[512];
    for (;;) {
        ssize_t n = recv(nl, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != seq)
                continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                return e->error; /* 0 is the ACK */
            }
        }
    }
}

static void write_sysctl(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t w = write(fd, value, strlen(value));
    (void)w;
    close(fd);
}

int guard_netns_seal(bool *have_ipv6)
{
    *have_ipv6 = false;
    int r = lo_up();
    if (r < 0)
        return r;
    int ifindex = (int)if_nametoindex("lo");
    if (ifindex <= 0)
        return -ENODEV;
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0)
        return -errno;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    r = add_local_default(nl, AF_INET, ifindex, 1);
    /* IPv6 may be disabled in new namespaces (ipv6.disable=1): the
     * responder then serves IPv4 only, and IPv6 datagram sockets reach
     * nothing at all. */
    if (r == 0)
        *have_ipv6 = add_local_default(nl, AF_INET6, ifindex, 2) == 0;
    close(nl);
    if (r < 0)
        return r;
    write_sysctl("/proc/sys/net/ipv4/icmp_ratelimit", "0");
    write_sysctl("/proc/sys/net/ipv4/icmp_msgs_per_sec", "1000000");
    write_sysctl("/proc/sys/net/ipv6/icmp/ratelimit", "0");
    return 0;
}
