/*
 * leak_raw — raw, ICMP and packet sockets.
 *   leak_raw MODE IP
 * Modes:
 *   ping        SOCK_DGRAM/IPPROTO_ICMP (unprivileged ping) echo request
 *   icmp_raw    SOCK_RAW/IPPROTO_ICMP echo request
 *   raw_udp     SOCK_RAW/IPPROTO_UDP: a hand-made UDP datagram
 *   packet      AF_PACKET/SOCK_DGRAM: an IPv4 packet sent on every
 *               non-loopback interface (broadcast link address)
 */
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include "leak_common.h"

static struct sockaddr_storage dest;
static socklen_t dest_len;

static int send_icmp(const char *v, int type)
{
    int fd = socket(AF_INET, type, IPPROTO_ICMP);
    if (fd < 0)
        return leak_fail(v, errno);
    struct icmphdr h;
    memset(&h, 0, sizeof h);
    h.type = ICMP_ECHO;
    h.un.echo.id = htons(0x1eac);
    h.un.echo.sequence = htons(1);
    /* Checksum of the 8-byte header (the kernel fills it for ping sockets). */
    uint32_t sum = 0;
    const uint16_t *w = (const uint16_t *)&h;
    for (size_t i = 0; i < sizeof h / 2; i++)
        sum += w[i];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    h.checksum = (uint16_t)~sum;
    ssize_t n = sendto(fd, &h, sizeof h, 0, (struct sockaddr *)&dest, dest_len);
    int e = errno;
    close(fd);
    return n < 0 ? leak_fail(v, e) : leak_ok(v, "sent");
}

static int raw_udp(void)
{
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    if (fd < 0)
        return leak_fail("raw_udp", errno);
    unsigned char pkt[sizeof(struct udphdr) + 10];
    memset(pkt, 0, sizeof pkt);
    struct udphdr *u = (struct udphdr *)pkt;
    u->source = htons(4444);
    u->dest = htons(53);
    u->len = htons(sizeof pkt);
    memcpy(pkt + sizeof *u, "leak-probe", 10);
    ssize_t n = sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&dest, dest_len);
    int e = errno;
    close(fd);
    return n < 0 ? leak_fail("raw_udp", e) : leak_ok("raw_udp", "sent");
}

static int packet(void)
{
    int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    if (fd < 0)
        return leak_fail("packet", errno);
    struct ip h;
    memset(&h, 0, sizeof h);
    h.ip_v = 4;
    h.ip_hl = 5;
    h.ip_len = htons(sizeof h);
    h.ip_ttl = 64;
    h.ip_p = 253; /* experimental protocol number */
    h.ip_dst = ((struct sockaddr_in *)&dest)->sin_addr;
    struct if_nameindex *ifs = if_nameindex();
    int sent = 0, e = ENODEV;
    for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
        if (!strcmp(i->if_name, "lo"))
            continue;
        struct sockaddr_ll ll;
        memset(&ll, 0, sizeof ll);
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = htons(ETH_P_IP);
        ll.sll_ifindex = (int)i->if_index;
        ll.sll_halen = 6;
        memset(ll.sll_addr, 0xff, 6);
        if (sendto(fd, &h, sizeof h, 0, (struct sockaddr *)&ll, sizeof ll) >= 0)
            sent++;
        else
            e = errno;
    }
    if (ifs)
        if_freenameindex(ifs);
    close(fd);
    return sent ? leak_ok("packet", "sent") : leak_fail("packet", e);
}

int main(int argc, char **argv)
{
    if (argc != 3 || leak_addr(argv[2], "0", &dest, &dest_len) != 0 || dest.ss_family != AF_INET) {
        fprintf(stderr, "usage: leak_raw ping|icmp_raw|raw_udp|packet IPv4\n");
        return 2;
    }
    const char *m = argv[1];
    if (!strcmp(m, "ping"))
        return send_icmp("ping", SOCK_DGRAM);
    if (!strcmp(m, "icmp_raw"))
        return send_icmp("icmp_raw", SOCK_RAW);
    if (!strcmp(m, "raw_udp"))
        return raw_udp();
    if (!strcmp(m, "packet"))
        return packet();
    fprintf(stderr, "leak_raw: unknown mode %s\n", m);
    return 2;
}
