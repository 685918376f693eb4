/*
 * show_ifaces — the network interfaces a program can list through libc:
 * getifaddrs, if_nameindex and ioctl(SIOCGIFCONF), and whether
 * ioctl(SIOCGIFHWADDR) answers for a named interface.
 *
 *   show_ifaces [IFNAME]   prints "getifaddrs NAME ADDR" lines,
 *                          "if_nameindex NAME", "ifconf NAME ADDR",
 *                          and with IFNAME "hwaddr IFNAME XX:..." or
 *                          "hwaddr IFNAME error ERRNO"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    if (!sa)
        return "-";
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
    if (sa->sa_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
    snprintf(buf, len, "family%d", sa->sa_family);
    return buf;
}

int main(int argc, char **argv)
{
    char a[INET6_ADDRSTRLEN + 16];
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) {
        perror("getifaddrs");
        return 1;
    }
    for (struct ifaddrs *p = ifs; p; p = p->ifa_next)
        printf("getifaddrs %s %s\n", p->ifa_name, addr_text(p->ifa_addr, a, sizeof a));
    freeifaddrs(ifs);
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *p = ni; p && p->if_index; p++)
        printf("if_nameindex %s\n", p->if_name);
    if (ni)
        if_freenameindex(ni);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct ifreq req[32];
    struct ifconf ifc = {.ifc_len = sizeof req, .ifc_req = req};
    if (s >= 0 && ioctl(s, SIOCGIFCONF, &ifc) == 0) {
        for (size_t i = 0; i < (size_t)ifc.ifc_len / sizeof req[0]; i++)
            printf("ifconf %.*s %s\n", IFNAMSIZ, req[i].ifr_name, addr_text(&req[i].ifr_addr, a, sizeof a));
    }
    if (argc > 1 && s >= 0) {
        struct ifreq r;
        memset(&r, 0, sizeof r);
        snprintf(r.ifr_name, sizeof r.ifr_name, "%s", argv[1]);
        if (ioctl(s, SIOCGIFHWADDR, &r) == 0) {
            const unsigned char *m = (const unsigned char *)r.ifr_hwaddr.sa_data;
            printf("hwaddr %s %02x:%02x:%02x:%02x:%02x:%02x\n", argv[1], m[0], m[1], m[2], m[3], m[4], m[5]);
        } else {
            printf("hwaddr %s error %d\n", argv[1], errno);
        }
    }
    if (s >= 0)
        close(s);
    return 0;
}
