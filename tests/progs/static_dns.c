/*
 * static_dns — a statically linked program sending its own DNS query over
 * UDP to a nameserver (what a static or Go binary's resolver does).
 *   static_dns NAMESERVER-IP NAME
 */
#include "leak_common.h"
#include "dns_msg.h"

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    unsigned char q[300];
    size_t qlen;
    if (argc != 3 || leak_addr(argv[1], "53", &ss, &len) != 0 || !(qlen = dns_build(0x1234, argv[2], 1 /* A */, q, sizeof q))) {
        fprintf(stderr, "usage: static_dns NAMESERVER-IP NAME\n");
        return 2;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return leak_fail("static_dns", errno);
    if (sendto(fd, q, qlen, 0, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        return leak_fail("static_dns", e);
    }
    close(fd);
    return leak_ok("static_dns", "query sent");
}
