/*
 * leak_tfo — TCP Fast Open: the SYN (with data) leaves from sendto/sendmsg,
 * no connect() is ever called.
 *   leak_tfo sendto|sendmsg IP PORT
 */
#include <netinet/tcp.h>
#include "leak_common.h"

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc != 4 || leak_addr(argv[2], argv[3], &ss, &len) != 0 ||
        (strcmp(argv[1], "sendto") && strcmp(argv[1], "sendmsg"))) {
        fprintf(stderr, "usage: leak_tfo sendto|sendmsg IP PORT\n");
        return 2;
    }
    const char *v = strcmp(argv[1], "sendto") ? "tfo_sendmsg" : "tfo_sendto";
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return leak_fail(v, errno);
    static char req[] = "GET / HTTP/1.0\r\n\r\n";
    ssize_t n;
    if (!strcmp(argv[1], "sendto")) {
        n = sendto(fd, req, sizeof req - 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len);
    } else {
        struct iovec iov = {req, sizeof req - 1};
        struct msghdr m = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
        n = sendmsg(fd, &m, MSG_FASTOPEN);
    }
    if (n < 0) {
        int e = errno;
        close(fd);
        return leak_fail(v, e);
    }
    close(fd);
    return leak_ok(v, "sent");
}
