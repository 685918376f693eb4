/*
 * guard/fdpass.c — a message with file descriptors over a unix socket
 * (SCM_RIGHTS), the one way the guard's processes hand each other fds: the
 * listener from the child to the supervisor (run.c), the keeper's sockets
 * and status (keeper.c), the real-answer channels (dns_real.c).
 *
 * Received fds are close-on-exec (MSG_CMSG_CLOEXEC); more than asked for
 * are closed, never leaked; EINTR is retried.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "guard/internal.h"

int guard_fd_send(int sock, const void *buf, size_t len, const int *fds, int nfd)
{
    if (nfd < 0 || nfd > GUARD_FDPASS_MAX)
        return -1;
    struct iovec iov = {(void *)buf, len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * GUARD_FDPASS_MAX)];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfd > 0) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

ssize_t guard_fd_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfd)
{
    *nfd = 0;
    struct iovec iov = {buf, len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * GUARD_FDPASS_MAX)];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfd < max)
                fds[(*nfd)++] = fd;
            else
                close(fd);
        }
    }
    return n;
}
