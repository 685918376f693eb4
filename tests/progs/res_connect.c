/*
 * res_connect — a program that does its own DNS with libc's resolver
 * (res_query and friends), reads the answer with ns_initparse as such
 * programs do, and then connects to the address it got.
 *
 *   res_connect CALL NAME TYPE [PORT]
 *     CALL  res_query | res_search | res_nquery | res_send
 *     TYPE  a | aaaa | ptr | srv | mx | txt
 *
 * Prints "rcode=<n> an=<n>", then one "answer <type> <text>" line per
 * record (addresses as text, PTR names dotted).  With PORT and an A/AAAA
 * answer: connects to the first address on PORT, sends an HTTP/1.0 GET
 * with Host NAME and prints "http <status line>".  On a failed query:
 * "fail CALL h_errno=<n>".  Exit 0 when there was an answer (and the
 * connect worked, when asked), 1 otherwise, 2 on bad usage.
 */
#include "call_common.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <unistd.h>

static int type_of(const char *t)
{
    if (!strcmp(t, "a")) return ns_t_a;
    if (!strcmp(t, "aaaa")) return ns_t_aaaa;
    if (!strcmp(t, "ptr")) return ns_t_ptr;
    if (!strcmp(t, "srv")) return ns_t_srv;
    if (!strcmp(t, "mx")) return ns_t_mx;
    if (!strcmp(t, "txt")) return ns_t_txt;
    return -1;
}

static int http_get(int family, const unsigned char *addr, const char *name, const char *port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)atoi(port));
        memcpy(&in->sin_addr, addr, 4);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)atoi(port));
        memcpy(&in6->sin6_addr, addr, 16);
        len = sizeof *in6;
    }
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return report_fail("socket", errno);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        return report_fail("connect", e);
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", name);
    if (write(fd, req, (size_t)n) != n) {
        int e = errno;
        close(fd);
        return report_fail("write", e);
    }
    char buf[256];
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return report_fail("read", r < 0 ? errno : EPIPE);
    buf[r] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    printf("http %s\n", buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || type_of(argv[3]) < 0) {
        fprintf(stderr, "usage: res_connect CALL NAME a|aaaa|ptr|srv|mx|txt [PORT]\n");
        return 2;
    }
    const char *call = argv[1], *name = argv[2], *port = argc > 4 ? argv[4] : NULL;
    int type = type_of(argv[3]);
    unsigned char ans[NS_PACKETSZ * 4], q[NS_PACKETSZ];
    int n = -1;
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (!strcmp(call, "res_query")) {
        n = res_query(name, ns_c_in, type, ans, sizeof ans);
    } else if (!strcmp(call, "res_search")) {
        n = res_search(name, ns_c_in, type, ans, sizeof ans);
    } else if (!strcmp(call, "res_nquery")) {
        if (res_ninit(&st) != 0)
            return report_fail("res_ninit", errno);
        n = res_nquery(&st, name, ns_c_in, type, ans, sizeof ans);
        if (n < 0)
            h_errno = st.res_h_errno;
        res_nclose(&st);
    } else if (!strcmp(call, "res_send")) {
        int ql = res_mkquery(ns_o_query, name, ns_c_in, type, NULL, 0, NULL, q, sizeof q);
        if (ql < 0)
            return report_fail("res_mkquery", errno);
        n = res_send(q, ql, ans, sizeof ans);
    } else {
        fprintf(stderr, "res_connect: unknown call %s\n", call);
        return 2;
    }
    if (n < 0) {
        printf("fail %s h_errno=%d\n", call, h_errno);
        return 1;
    }
    ns_msg msg;
    if (ns_initparse(ans, n, &msg) != 0)
        return report_fail("ns_initparse", errno ? errno : EBADMSG);
    int an = ns_msg_count(msg, ns_s_an);
    printf("rcode=%d an=%d\n", ns_msg_getflag(msg, ns_f_rcode), an);
    int family = 0;
    unsigned char addr[16];
    for (int i = 0; i < an; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0)
            return report_fail("ns_parserr", errno ? errno : EBADMSG);
        char text[NS_MAXDNAME];
        int t = ns_rr_type(rr);
        if ((t == ns_t_a && ns_rr_rdlen(rr) == 4) || (t == ns_t_aaaa && ns_rr_rdlen(rr) == 16)) {
            int f = t == ns_t_a ? AF_INET : AF_INET6;
            inet_ntop(f, ns_rr_rdata(rr), text, sizeof text);
            if (!family) {
                family = f;
                memcpy(addr, ns_rr_rdata(rr), ns_rr_rdlen(rr));
            }
            printf("answer %s %s\n", t == ns_t_a ? "A" : "AAAA", text);
        } else if (t == ns_t_ptr) {
            if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr), text, sizeof text) < 0)
                return report_fail("dn_expand", EBADMSG);
            printf("answer PTR %s\n", text);
        } else {
            printf("answer type%d\n", t);
        }
    }
    fflush(stdout);
    if (an == 0)
        return 1;
    if (port && family)
        return http_get(family, addr, name, port);
    return 0;
}
