/*
 * uring_connect — network I/O submitted through io_uring: the kernel does
 * the connect/sendmsg, no connect()/sendmsg() syscall is ever made.
 *   uring_connect connect|sendmsg IP PORT
 *   connect: TCP socket(), IORING_OP_CONNECT, then an HTTP exchange
 *   sendmsg: UDP socket made by IORING_OP_SOCKET (kernel >= 5.19, falling
 *            back to socket()), datagram sent by IORING_OP_SENDMSG
 */
#include <liburing.h>
#include "leak_common.h"

static int run_one(struct io_uring *ring, int *res)
{
    int r = io_uring_submit(ring);
    if (r < 0)
        return r;
    struct io_uring_cqe *cqe;
    r = io_uring_wait_cqe(ring, &cqe);
    if (r < 0)
        return r;
    *res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc != 4 || leak_addr(argv[2], argv[3], &ss, &len) != 0 ||
        (strcmp(argv[1], "connect") && strcmp(argv[1], "sendmsg"))) {
        fprintf(stderr, "usage: uring_connect connect|sendmsg IP PORT\n");
        return 2;
    }
    const int is_connect = !strcmp(argv[1], "connect");
    const char *v = is_connect ? "uring_connect" : "uring_sendmsg";
    struct io_uring ring;
    int r = io_uring_queue_init(4, &ring, 0);
    if (r < 0)
        return leak_fail(v, -r);
    int res, fd;
    struct io_uring_sqe *sqe;
    if (is_connect) {
        fd = leak_bound(socket(ss.ss_family, SOCK_STREAM, 0));
        if (fd < 0)
            return leak_fail(v, errno);
        sqe = io_uring_get_sqe(&ring);
        io_uring_prep_connect(sqe, fd, (struct sockaddr *)&ss, len);
        if ((r = run_one(&ring, &res)) < 0)
            return leak_fail(v, -r);
        io_uring_queue_exit(&ring);
        if (res < 0) {
            close(fd);
            return leak_fail(v, -res);
        }
        return leak_finish_tcp(v, fd);
    }
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_socket(sqe, ss.ss_family, SOCK_DGRAM, 0, 0);
    if ((r = run_one(&ring, &res)) < 0)
        return leak_fail(v, -r);
    fd = res >= 0 ? res : socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return leak_fail(v, res < 0 ? -res : errno);
    static char payload[] = "leak-probe";
    struct iovec iov = {payload, sizeof payload};
    struct msghdr m = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_sendmsg(sqe, fd, &m, 0);
    if ((r = run_one(&ring, &res)) < 0)
        return leak_fail(v, -r);
    io_uring_queue_exit(&ring);
    close(fd);
    return res < 0 ? leak_fail(v, -res) : leak_ok(v, "sent");
}
