/*
 * call_udp — UDP datagrams, which Tor cannot carry.
 *
 *   call_udp socket
 *   call_udp sendto|sendmsg|sendmmsg|connect_send IP PORT [FD]
 *
 * Without FD the program makes its own UDP socket (the shim may refuse that
 * already: "fail socket errno=...").  With FD it uses an inherited UDP socket
 * (a socket-activated or non-torified parent's), so the send path itself is
 * exercised even when socket() is refused.
 */
#include "call_common.h"

#include <sys/uio.h>

static int udp_socket(int family, const char *fdarg)
{
    if (fdarg)
        return atoi(fdarg);
    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0)
        report_fail("socket", errno);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: call_udp socket | CALL IP PORT [FD]\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "socket")) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0)
            return report_fail("socket", errno);
        report_ok("socket", "udp");
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc < 4 || parse_numeric(argv[2], argv[3], &ss, &len) != 0) {
        fprintf(stderr, "call_udp: need IP PORT\n");
        return 2;
    }
    int fd = udp_socket(ss.ss_family, argc > 4 ? argv[4] : NULL);
    if (fd < 0)
        return 1;
    char payload[] = "torify-leak-probe";
    struct iovec iov = { .iov_base = payload, .iov_len = sizeof payload - 1 };
    ssize_t n = -1;
    if (!strcmp(c, "sendto")) {
        n = sendto(fd, payload, sizeof payload - 1, 0, (struct sockaddr *)&ss, len);
    } else if (!strcmp(c, "sendmsg")) {
        struct msghdr mh = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
        n = sendmsg(fd, &mh, 0);
    } else if (!strcmp(c, "sendmmsg")) {
        struct mmsghdr mm[2];
        memset(mm, 0, sizeof mm);
        for (int i = 0; i < 2; i++) {
            mm[i].msg_hdr.msg_name = &ss;
            mm[i].msg_hdr.msg_namelen = len;
            mm[i].msg_hdr.msg_iov = &iov;
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        n = sendmmsg(fd, mm, 2, 0);
    } else if (!strcmp(c, "connect_send")) {
        if (connect(fd, (struct sockaddr *)&ss, len) != 0)
            return report_fail("connect", errno);
        n = send(fd, payload, sizeof payload - 1, 0);
    } else {
        fprintf(stderr, "call_udp: unknown call %s\n", c);
        return 2;
    }
    if (n < 0)
        return report_fail(c, errno);
    char d[32];
    snprintf(d, sizeof d, "sent=%zd", n);
    report_ok(c, d);
    return 0;
}
