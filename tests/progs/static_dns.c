/*
 * static_dns — a statically linked program sending its own DNS query over
 * UDP to a nameserver (what a static or Go binary's resolver does).
 *   static_dns NAMESERVER-IP NAME
 */
#include "leak_common.h"

/* A standard query for an A record; returns its length or 0. */
static size_t build_query(const char *name, unsigned char *q, size_t cap)
{
    static const unsigned char head[12] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    if (cap < sizeof head + strlen(name) + 2 + 4)
        return 0;
    memcpy(q, head, sizeof head);
    size_t pos = sizeof head;
    const char *p = name;
    while (*p) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63)
            return 0;
        q[pos++] = (unsigned char)l;
        memcpy(q + pos, p, l);
        pos += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[pos++] = 0;
    q[pos++] = 0, q[pos++] = 1; /* QTYPE A */
    q[pos++] = 0, q[pos++] = 1; /* QCLASS IN */
    return pos;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    unsigned char q[300];
    size_t qlen;
    if (argc != 3 || leak_addr(argv[1], "53", &ss, &len) != 0 || !(qlen = build_query(argv[2], q, sizeof q))) {
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
