/*
 * leak_udp — datagrams Tor cannot carry, sent by paths LD_PRELOAD may miss.
 *   leak_udp MODE IP PORT
 * Modes:
 *   sendto          socket(SOCK_DGRAM) + sendto
 *   syscall_sendto  the same through syscall(SYS_socket / SYS_sendto)
 *   sendmsg         sendmsg with msg_name
 *   sendmmsg        two datagrams in one sendmmsg
 *   connect_send    connect() a UDP socket, then send()
 *   res_query       libc's resolver (res_query) with IP as its nameserver
 *                   (IP must be IPv4; PORT is ignored: 53)
 */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/syscall.h>
#include "leak_common.h"

static struct sockaddr_storage dest;
static socklen_t dest_len;
static char payload[] = "leak-probe";

static int do_sendto(int use_syscall)
{
    const char *v = use_syscall ? "syscall_sendto" : "sendto";
    int fd = use_syscall ? (int)syscall(SYS_socket, dest.ss_family, SOCK_DGRAM, 0)
                         : socket(dest.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return leak_fail(v, errno);
    long n = use_syscall ? syscall(SYS_sendto, fd, payload, sizeof payload, 0, &dest, dest_len)
                         : sendto(fd, payload, sizeof payload, 0, (struct sockaddr *)&dest, dest_len);
    int e = errno;
    close(fd);
    return n < 0 ? leak_fail(v, e) : leak_ok(v, "sent");
}

static int do_sendmsg(void)
{
    int fd = socket(dest.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return leak_fail("sendmsg", errno);
    struct iovec iov = {payload, sizeof payload};
    struct msghdr m = {.msg_name = &dest, .msg_namelen = dest_len, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = sendmsg(fd, &m, 0);
    int e = errno;
    close(fd);
    return n < 0 ? leak_fail("sendmsg", e) : leak_ok("sendmsg", "sent");
}

static int do_sendmmsg(void)
{
    int fd = socket(dest.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return leak_fail("sendmmsg", errno);
    struct iovec iov = {payload, sizeof payload};
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 2; i++) {
        mm[i].msg_hdr.msg_name = &dest;
        mm[i].msg_hdr.msg_namelen = dest_len;
        mm[i].msg_hdr.msg_iov = &iov;
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fd, mm, 2, 0);
    int e = errno;
    close(fd);
    return n < 0 ? leak_fail("sendmmsg", e) : leak_ok("sendmmsg", "sent");
}

static int do_connect_send(void)
{
    int fd = socket(dest.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return leak_fail("connect_send", errno);
    if (connect(fd, (struct sockaddr *)&dest, dest_len) != 0 || send(fd, payload, sizeof payload, 0) < 0) {
        int e = errno;
        close(fd);
        return leak_fail("connect_send", e);
    }
    close(fd);
    return leak_ok("connect_send", "sent");
}

static int do_res_query(void)
{
    if (dest.ss_family != AF_INET)
        return leak_fail("res_query", EINVAL);
    if (res_init() != 0)
        return leak_fail("res_query", errno);
    /* Our nameserver only, one quick try: the answer never comes. */
    _res.nscount = 1;
    _res.nsaddr_list[0] = *(struct sockaddr_in *)&dest;
    _res.nsaddr_list[0].sin_port = htons(53);
    _res.retrans = 1;
    _res.retry = 1;
    unsigned char ans[512];
    errno = 0;
    int n = res_query("leak-probe.example", ns_c_in, ns_t_a, ans, sizeof ans);
    if (n < 0)
        return leak_fail("res_query", errno ? errno : ETIMEDOUT);
    return leak_ok("res_query", "answered");
}

int main(int argc, char **argv)
{
    if (argc != 4 || leak_addr(argv[2], argv[3], &dest, &dest_len) != 0) {
        fprintf(stderr, "usage: leak_udp MODE IP PORT\n");
        return 2;
    }
    const char *m = argv[1];
    if (!strcmp(m, "sendto"))
        return do_sendto(0);
    if (!strcmp(m, "syscall_sendto"))
        return do_sendto(1);
    if (!strcmp(m, "sendmsg"))
        return do_sendmsg();
    if (!strcmp(m, "sendmmsg"))
        return do_sendmmsg();
    if (!strcmp(m, "connect_send"))
        return do_connect_send();
    if (!strcmp(m, "res_query"))
        return do_res_query();
    fprintf(stderr, "leak_udp: unknown mode %s\n", m);
    return 2;
}
