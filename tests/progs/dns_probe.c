/*
 * dns_probe — one DNS query sent by hand, the way a program with its own
 * resolver sends it (Go's, dig's, a static binary's), by the system call
 * under test, and the reply as the program sees it.
 *
 *   dns_probe sendto|sendmsg|connect_send|write|tcp SERVER PORT NAME [TYPE]
 *   dns_probe sendmmsg PORT NAME SERVER...
 *   dns_probe redirect SERVER PORT NAME OTHER OTHERPORT
 *   dns_probe raw SERVER PORT HEX
 *
 * sendto/sendmsg: an unconnected UDP socket, the destination in the call;
 * connect_send/write: a UDP socket connected to SERVER:PORT; tcp: a TCP
 * connection with the two-byte length prefix (RFC 1035 4.2.2).  TYPE is A
 * (default), AAAA, PTR (NAME may then be an IP literal), MX, TXT, SRV, ANY or
 * a number.  SERVER is an IPv4 or IPv6 literal.
 * sendmmsg: one unconnected socket, one query per SERVER (IDs 1, 2, ...)
 * in a single sendmmsg call, then every reply.
 * redirect: a UDP socket connected to SERVER:PORT asks NAME, then sends a
 * datagram on the same socket to OTHER:OTHERPORT with sendto (which a
 * connected UDP socket allows): what must not leave.
 * raw: the message HEX (an EDNS0 query, two questions, garbage) by sendto,
 * unconnected, and the reply if one comes.
 *
 * Output, one line each, flushed:
 *   sent <call> bytes=<n>
 *   reply from=<ip> port=<p> id=ok|bad question=ok|bad qr=<0|1> tc=<0|1> rcode=<NAME> answers=<n> ar=<n>
 *   answer <TYPE> <value>                 (after its reply line)
 *   fail <call> errno=<NAME> | timeout <call> | malformed <call> len=<n>
 * "from" is what recvfrom reports (getpeername for TCP): dig and others drop
 * a reply from anywhere but the address they asked.  The wait for a reply is
 * bounded (DNS_PROBE_TIMEOUT_MS, default 3000).
 * Exit status 0 when every query got a well-formed reply with its ID, 1
 * otherwise, 2 on bad usage.
 */
#include "call_common.h"
#include "dns_msg.h"

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

static int timeout_ms(void)
{
    const char *s = getenv("DNS_PROBE_TIMEOUT_MS");
    int t = s ? atoi(s) : 0;
    return t > 0 ? t : 3000;
}

static void print_reply(const struct sockaddr *from, const unsigned char *m, size_t len,
                        const unsigned char *q, size_t qlen)
{
    char peer[INET6_ADDRSTRLEN + 8], rbuf[16];
    format_sa(from, peer, sizeof peer);
    char *sp = strchr(peer, ' ');
    if (sp)
        *sp++ = 0;
    struct dns_reply r;
    dns_parse(m, len, q, qlen, &r);
    if (!r.ok) {
        printf("malformed reply from=%s port=%s len=%zu\n", peer, sp ? sp : "?", len);
        fflush(stdout);
        return;
    }
    printf("reply from=%s port=%s id=%s question=%s qr=%d tc=%d rcode=%s answers=%u ar=%u\n", peer,
           sp ? sp : "?", r.id_ok ? "ok" : "bad", r.question_ok ? "ok" : "bad", r.qr, r.tc,
           dns_rcode_name(r.rcode, rbuf, sizeof rbuf), r.ancount, r.arcount);
    for (int i = 0; i < r.nanswers; i++)
        printf("answer %s\n", r.answers[i]);
    fflush(stdout);
}

/* Wait for and print one datagram; 0 when it was a good reply to q. */
static int recv_reply(int fd, const char *call, const unsigned char *q, size_t qlen)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n = poll(&p, 1, timeout_ms());
    if (n < 0)
        return report_fail("poll", errno);
    if (n == 0) {
        printf("timeout %s\n", call);
        fflush(stdout);
        return 1;
    }
    unsigned char m[DNS_MAX_MSG];
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t got = recvfrom(fd, m, sizeof m, 0, (struct sockaddr *)&from, &flen);
    if (got < 0)
        return report_fail("recvfrom", errno);
    print_reply((struct sockaddr *)&from, m, (size_t)got, q, qlen);
    struct dns_reply r;
    dns_parse(m, (size_t)got, q, qlen, &r);
    return r.ok && r.id_ok ? 0 : 1;
}

static void report_sent(const char *call, ssize_t n)
{
    printf("sent %s bytes=%zd\n", call, n);
    fflush(stdout);
}

/* Read exactly len bytes (TCP), bounded by the timeout each time. */
static int read_full(int fd, unsigned char *buf, size_t len)
{
    size_t have = 0;
    while (have < len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, timeout_ms());
        if (n <= 0)
            return n == 0 ? -2 : -1;
        ssize_t r = read(fd, buf + have, len - have);
        if (r <= 0)
            return r == 0 ? -3 : -1;
        have += (size_t)r;
    }
    return 0;
}

static int query_tcp(const struct sockaddr_storage *ss, socklen_t len, const unsigned char *q, size_t qlen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    if (connect(fd, (const struct sockaddr *)ss, len) != 0)
        return report_fail("connect", errno);
    unsigned char out[2 + DNS_MAX_MSG];
    out[0] = (unsigned char)(qlen >> 8);
    out[1] = (unsigned char)qlen;
    memcpy(out + 2, q, qlen);
    ssize_t n = write(fd, out, qlen + 2);
    if (n != (ssize_t)(qlen + 2))
        return report_fail("write", n < 0 ? errno : EIO);
    report_sent("tcp", n);
    unsigned char hdr[2], m[65536];
    int r = read_full(fd, hdr, 2);
    size_t mlen = (size_t)(hdr[0] << 8 | hdr[1]);
    if (r == 0)
        r = read_full(fd, m, mlen);
    if (r == -2 || r == -3) {
        printf(r == -2 ? "timeout tcp\n" : "fail tcp errno=ECONNRESET closed\n");
        fflush(stdout);
        return 1;
    }
    if (r < 0)
        return report_fail("read", errno);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    memset(&peer, 0, sizeof peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
        return report_fail("getpeername", errno);
    print_reply((struct sockaddr *)&peer, m, mlen, q, qlen);
    struct dns_reply rep;
    dns_parse(m, mlen, q, qlen, &rep);
    close(fd);
    return rep.ok && rep.id_ok ? 0 : 1;
}

static int query_udp(const char *call, const struct sockaddr_storage *ss, socklen_t len,
                     const unsigned char *q, size_t qlen)
{
    int fd = socket(ss->ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    ssize_t n;
    struct iovec iov = { .iov_base = (void *)q, .iov_len = qlen };
    if (!strcmp(call, "sendto")) {
        n = sendto(fd, q, qlen, 0, (const struct sockaddr *)ss, len);
    } else if (!strcmp(call, "sendmsg")) {
        struct msghdr mh = { .msg_name = (void *)ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
        n = sendmsg(fd, &mh, 0);
    } else {
        if (connect(fd, (const struct sockaddr *)ss, len) != 0)
            return report_fail("connect", errno);
        n = !strcmp(call, "write") ? write(fd, q, qlen) : send(fd, q, qlen, 0);
    }
    if (n < 0)
        return report_fail(call, errno);
    report_sent(call, n);
    int rc = recv_reply(fd, call, q, qlen);
    close(fd);
    return rc;
}

static int query_mmsg(const char *port, const char *name, int type, char **servers, int count)
{
    enum { MAXQ = 16 };
    if (count < 1 || count > MAXQ) {
        fprintf(stderr, "dns_probe: 1..%d servers\n", MAXQ);
        return 2;
    }
    struct sockaddr_storage ss[MAXQ];
    socklen_t len[MAXQ];
    unsigned char q[MAXQ][512];
    size_t qlen[MAXQ];
    struct iovec iov[MAXQ];
    struct mmsghdr mm[MAXQ];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < count; i++) {
        if (parse_numeric(servers[i], port, &ss[i], &len[i]) != 0 || ss[i].ss_family != ss[0].ss_family) {
            fprintf(stderr, "dns_probe: bad server %s (all of one family)\n", servers[i]);
            return 2;
        }
        qlen[i] = dns_build((uint16_t)(i + 1), name, type, q[i], sizeof q[i]);
        if (!qlen[i])
            return 2;
        iov[i] = (struct iovec){ .iov_base = q[i], .iov_len = qlen[i] };
        mm[i].msg_hdr = (struct msghdr){ .msg_name = &ss[i], .msg_namelen = len[i], .msg_iov = &iov[i],
                                         .msg_iovlen = 1 };
    }
    int fd = socket(ss[0].ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    int sent = sendmmsg(fd, mm, (unsigned)count, 0);
    if (sent < 0)
        return report_fail("sendmmsg", errno);
    printf("sent sendmmsg messages=%d\n", sent);
    fflush(stdout);
    int good = 0;
    for (int k = 0; k < sent; k++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, timeout_ms());
        if (n <= 0) {
            printf("timeout sendmmsg\n");
            break;
        }
        unsigned char m[DNS_MAX_MSG];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t got = recvfrom(fd, m, sizeof m, 0, (struct sockaddr *)&from, &flen);
        if (got < 12)
            return report_fail("recvfrom", got < 0 ? errno : EPROTO);
        /* Match the reply to its query by ID (replies may come in any order). */
        int idx = (m[0] << 8 | m[1]) - 1;
        if (idx < 0 || idx >= count)
            idx = 0;
        printf("id %d ", idx + 1);
        print_reply((struct sockaddr *)&from, m, (size_t)got, q[idx], qlen[idx]);
        struct dns_reply r;
        dns_parse(m, (size_t)got, q[idx], qlen[idx], &r);
        good += r.ok && r.id_ok;
    }
    printf("answered %d of %d\n", good, count);
    fflush(stdout);
    close(fd);
    return good == count ? 0 : 1;
}

static int redirect(const struct sockaddr_storage *ss, socklen_t len, const unsigned char *q, size_t qlen,
                    const char *other, const char *oport)
{
    struct sockaddr_storage os;
    socklen_t olen;
    if (parse_numeric(other, oport, &os, &olen) != 0) {
        fprintf(stderr, "dns_probe: bad OTHER\n");
        return 2;
    }
    int fd = socket(ss->ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    if (connect(fd, (const struct sockaddr *)ss, len) != 0)
        return report_fail("connect", errno);
    ssize_t n = send(fd, q, qlen, 0);
    if (n < 0)
        return report_fail("send", errno);
    report_sent("send", n);
    int rc = recv_reply(fd, "send", q, qlen);
    static const char payload[] = "torify-leak-probe";
    n = sendto(fd, payload, sizeof payload - 1, 0, (struct sockaddr *)&os, olen);
    if (n < 0)
        report_fail("sendto_other", errno);
    else
        report_sent("sendto_other", n);
    close(fd);
    return rc;
}

/* "0a1b..." into buf; its length, or 0 when not hex. */
static size_t from_hex(const char *hex, unsigned char *buf, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        return 0;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return 0;
        buf[i] = (unsigned char)v;
    }
    return n / 2;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: dns_probe sendto|sendmsg|connect_send|write|tcp SERVER PORT NAME [TYPE]\n"
                        "       dns_probe sendmmsg PORT NAME SERVER...\n"
                        "       dns_probe redirect SERVER PORT NAME OTHER OTHERPORT\n");
        return 2;
    }
    const char *call = argv[1];
    if (!strcmp(call, "sendmmsg"))
        return query_mmsg(argv[2], argv[3], DNS_T_A, argv + 4, argc - 4);
    if (!strcmp(call, "raw")) {
        struct sockaddr_storage rs;
        socklen_t rlen;
        unsigned char m[DNS_MAX_MSG];
        size_t mlen = from_hex(argv[4], m, sizeof m);
        if (!mlen || parse_numeric(argv[2], argv[3], &rs, &rlen) != 0) {
            fprintf(stderr, "dns_probe: raw SERVER PORT HEX\n");
            return 2;
        }
        return query_udp("sendto", &rs, rlen, m, mlen);
    }
    int type = DNS_T_A;
    if (strcmp(call, "redirect") && argc > 5 && (type = dns_type_of(argv[5])) < 0) {
        fprintf(stderr, "dns_probe: unknown type %s\n", argv[5]);
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(argv[2], argv[3], &ss, &len) != 0) {
        fprintf(stderr, "dns_probe: SERVER must be an IP literal, PORT a number\n");
        return 2;
    }
    unsigned char q[512];
    size_t qlen = dns_build(0x4a17, argv[4], type, q, sizeof q);
    if (!qlen) {
        fprintf(stderr, "dns_probe: bad name %s\n", argv[4]);
        return 2;
    }
    if (!strcmp(call, "tcp"))
        return query_tcp(&ss, len, q, qlen);
    if (!strcmp(call, "redirect")) {
        if (argc < 7) {
            fprintf(stderr, "dns_probe: redirect needs OTHER OTHERPORT\n");
            return 2;
        }
        return redirect(&ss, len, q, qlen, argv[5], argv[6]);
    }
    if (strcmp(call, "sendto") && strcmp(call, "sendmsg") && strcmp(call, "connect_send") && strcmp(call, "write")) {
        fprintf(stderr, "dns_probe: unknown call %s\n", call);
        return 2;
    }
    return query_udp(call, &ss, len, q, qlen);
}
