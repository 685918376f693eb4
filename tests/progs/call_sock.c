/*
 * call_sock — socket kinds and the inbound side.
 *
 *   call_sock raw|raw6|icmp|icmp6|packet   sockets Tor cannot carry (refused)
 *   call_sock unix|netlink                 local sockets (must keep working)
 *   call_sock ping IP                      raw ICMP echo request to IP
 *   call_sock listen IP PORT               bind + listen (inbound policy)
 *   call_sock syscall_socket_udp           syscall(SYS_socket, AF_INET, SOCK_DGRAM)
 */
#include "call_common.h"

#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <netinet/ip_icmp.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int make(const char *what, int family, int type, int proto)
{
    int fd = socket(family, type, proto);
    if (fd < 0)
        return report_fail(what, errno);
    report_ok(what, "created");
    close(fd);
    return 0;
}

static int do_unix(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return report_fail("socketpair", errno);
    if (write(sv[0], "x", 1) != 1)
        return report_fail("write", errno);
    char c = 0;
    if (read(sv[1], &c, 1) != 1 || c != 'x')
        return report_fail("read", errno);
    close(sv[0]);
    close(sv[1]);
    /* A datagram AF_UNIX socket too: only IP datagrams are Tor's problem. */
    return make("unix", AF_UNIX, SOCK_DGRAM, 0);
}

static int do_ping(const char *ip)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(ip, "0", &ss, &len) != 0 || ss.ss_family != AF_INET)
        return 2;
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd < 0)
        return report_fail("socket", errno);
    struct icmphdr h;
    memset(&h, 0, sizeof h);
    h.type = ICMP_ECHO;
    h.un.echo.id = htons(0x7471);
    /* Checksum over the 8-byte header (no payload). */
    unsigned sum = 0;
    const unsigned short *w = (const unsigned short *)&h;
    for (size_t i = 0; i < sizeof h / 2; i++)
        sum += w[i];
    sum = (sum >> 16) + (sum & 0xffff);
    sum += sum >> 16;
    h.checksum = (unsigned short)~sum;
    if (sendto(fd, &h, sizeof h, 0, (struct sockaddr *)&ss, len) < 0)
        return report_fail("sendto", errno);
    report_ok("ping", "sent");
    close(fd);
    return 0;
}

static int do_listen(const char *ip, const char *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(ip, port, &ss, &len) != 0)
        return 2;
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        return report_fail("setsockopt", errno);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        return report_fail("bind", errno);
    if (listen(fd, 4) != 0)
        return report_fail("listen", errno);
    report_ok("listen", port);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: call_sock KIND [...]\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "raw"))
        return make(c, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (!strcmp(c, "raw6"))
        return make(c, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    if (!strcmp(c, "icmp"))
        return make(c, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    if (!strcmp(c, "icmp6"))
        return make(c, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
    if (!strcmp(c, "packet"))
        return make(c, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (!strcmp(c, "netlink"))
        return make(c, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    if (!strcmp(c, "unix"))
        return do_unix();
    if (!strcmp(c, "syscall_socket_udp")) {
        long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
        if (fd < 0)
            return report_fail(c, errno);
        report_ok(c, "created");
        close((int)fd);
        return 0;
    }
    if (!strcmp(c, "ping") && argc > 2)
        return do_ping(argv[2]);
    if (!strcmp(c, "listen") && argc > 3)
        return do_listen(argv[2], argv[3]);
    fprintf(stderr, "call_sock: bad usage of %s\n", c);
    return 2;
}
