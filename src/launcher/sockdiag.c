/*
 * launcher/sockdiag.c — is a TCP socket listening at an address?  Asked of
 * the kernel over NETLINK_SOCK_DIAG, no packet sent.
 *
 * Every start of torify asks whether Tor's port is listening (main.c's
 * warning).  /proc/net/tcp answers too, but the kernel makes that text by
 * walking its whole established-connection hash table, whatever the number
 * of sockets: milliseconds at every start on a machine with much memory
 * (docs/GUARD.md, "Where a guarded start's time goes").  A dump asking only
 * for the LISTEN state walks the listening table alone.  When netlink is
 * unavailable the caller reads /proc/net (check.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include "launcher/launcher.h"

/* Bounded: a dump of listeners larger than this many messages is not
 * plausible; the answer is then "cannot tell" and /proc is read. */
#define DIAG_MAX_BATCHES 4096

static int dump_request(int nl, int family)
{
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.r.sdiag_family = (uint8_t)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 1u << TCP_LISTEN;
    struct sockaddr_nl to = {.nl_family = AF_NETLINK};
    ssize_t n;
    do
        n = sendto(nl, &req, sizeof req, 0, (struct sockaddr *)&to, sizeof to);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof req ? 0 : -1;
}

/* Does this message describe a listener on port at addr or the wildcard? */
static bool matches(const struct inet_diag_msg *m, const uint8_t *addr, size_t alen, uint16_t port)
{
    static const uint8_t zero[16];
    if (m->idiag_state != TCP_LISTEN || ntohs(m->id.idiag_sport) != port)
        return false;
    const uint8_t *src = (const uint8_t *)m->id.idiag_src;
    return memcmp(src, addr, alen) == 0 || memcmp(src, zero, alen) == 0;
}

int sockdiag_tcp_listening(int family, const uint8_t *addr, size_t alen, uint16_t port, unsigned long *inode)
{
    if ((family != AF_INET || alen != 4) && (family != AF_INET6 || alen != 16))
        return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    if (dump_request(nl, family) != 0) {
        close(nl);
        return -1;
    }
    /* Aligned for nlmsghdr; a dump batch fits in a page or two. */
    union {
        struct nlmsghdr h;
        char buf[16384];
    } u;
    int found = -1; /* until the dump ends (NLMSG_DONE) we cannot tell */
    bool hit = false;
    for (int batch = 0; batch < DIAG_MAX_BATCHES && found < 0; batch++) {
        ssize_t n;
        do
            n = recv(nl, u.buf, sizeof u.buf, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            break;
        size_t left = (size_t)n;
        for (struct nlmsghdr *h = &u.h; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != 1)
                continue;
            if (h->nlmsg_type == NLMSG_DONE) {
                found = hit ? 1 : 0;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                batch = DIAG_MAX_BATCHES; /* ends the outer loop: cannot tell */
                break;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                continue;
            const struct inet_diag_msg *m = NLMSG_DATA(h);
            if (!hit && m->idiag_family == family && matches(m, addr, alen, port)) {
                hit = true;
                if (inode)
                    *inode = m->idiag_inode;
            }
        }
    }
    close(nl);
    return found;
}
