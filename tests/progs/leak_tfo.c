/*
 * leak_tfo — TCP Fast Open: the SYN (with data) leaves from sendto/sendmsg,
 * no connect() is ever called.
 *   leak_tfo sendto|sendmsg|asm IP PORT
 * asm: sendto by the syscall instruction itself (x86-64), which no
 * preloaded library sees.  On success the reply's first line is printed.
 */
#include <netinet/tcp.h>
#include "leak_common.h"
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc != 4 || leak_addr(argv[2], argv[3], &ss, &len) != 0 ||
        (strcmp(argv[1], "sendto") && strcmp(argv[1], "sendmsg") && strcmp(argv[1], "asm"))) {
        fprintf(stderr, "usage: leak_tfo sendto|sendmsg|asm IP PORT\n");
        return 2;
    }
    const char *v = !strcmp(argv[1], "sendto") ? "tfo_sendto" : !strcmp(argv[1], "sendmsg") ? "tfo_sendmsg" : "tfo_asm";
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return leak_fail(v, errno);
    static char req[] = "GET / HTTP/1.0\r\n\r\n";
    ssize_t n;
    if (!strcmp(argv[1], "sendto")) {
        n = sendto(fd, req, sizeof req - 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len);
    } else if (!strcmp(argv[1], "asm")) {
#if defined(__x86_64__)
        register long r10 __asm__("r10") = MSG_FASTOPEN;
        register long r8 __asm__("r8") = (long)&ss;
        register long r9 __asm__("r9") = (long)len;
        long ret;
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"((long)SYS_sendto), "D"((long)fd), "S"((long)req), "d"((long)(sizeof req - 1)),
                           "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        n = ret < 0 ? (errno = (int)-ret, -1) : ret;
#else
        errno = ENOSYS;
        n = -1;
#endif
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
    /* Sent: the request went somewhere; print the reply's body line (the
     * scripted server's "hello from HOST:PORT"). */
    char buf[2048];
    size_t used = 0;
    while (used < sizeof buf - 1 && leak_wait(fd, POLLIN, 5000) > 0) {
        ssize_t r = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        used += (size_t)r;
    }
    buf[used] = '\0';
    close(fd);
    const char *body = strstr(buf, "\r\n\r\n");
    char line[256];
    snprintf(line, sizeof line, "sent %.*s", body ? (int)strcspn(body + 4, "\r\n") : 0, body ? body + 4 : "");
    return leak_ok(v, line);
}
