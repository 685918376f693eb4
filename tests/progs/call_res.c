/*
 * call_res — the resolver's own DNS calls (res_*), which send DNS packets
 * themselves and so must be refused under torify.
 *
 *   call_res res_query|res_search|res_send|res_nquery|res_nsearch|res_nsend NAME
 *   call_res res_querydomain|res_nquerydomain NAME DOMAIN
 *   call_res res_nquery_srv NAME      (an SRV record, as apt asks for _http._tcp.HOST)
 *
 * Asks for an A record unless the call says otherwise.  Prints "ok <call> len=<n>" or
 * "fail <call> h_errno=<n> errno=<NAME>".
 */
#include "call_common.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

static int fail_res(const char *call, int herr, int e)
{
    printf("fail %s h_errno=%d errno=%s\n", call, herr, errno_name(e));
    fflush(stdout);
    return 1;
}

/* herr is read after the call: function arguments have no evaluation order,
 * so h_errno must not be an argument next to the call itself. */
static int result(const char *call, int n, const int *herr)
{
    if (n < 0)
        return fail_res(call, *herr, errno);
    char d[32];
    snprintf(d, sizeof d, "len=%d", n);
    report_ok(call, d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: call_res CALL NAME [DOMAIN]\n");
        return 2;
    }
    const char *c = argv[1], *name = argv[2];
    const char *domain = argc > 3 ? argv[3] : "test";
    unsigned char ans[NS_PACKETSZ * 4];
    unsigned char q[NS_PACKETSZ];

    /* The classic interface first: uses the global _res state. */
    if (!strcmp(c, "res_query"))
        return result(c, res_query(name, ns_c_in, ns_t_a, ans, sizeof ans), &h_errno);
    if (!strcmp(c, "res_search"))
        return result(c, res_search(name, ns_c_in, ns_t_a, ans, sizeof ans), &h_errno);
    if (!strcmp(c, "res_querydomain"))
        return result(c, res_querydomain(name, domain, ns_c_in, ns_t_a, ans, sizeof ans), &h_errno);
    if (!strcmp(c, "res_send")) {
        /* Build the packet locally (no I/O), then hand it to res_send. */
        int qlen = res_mkquery(ns_o_query, name, ns_c_in, ns_t_a, NULL, 0, NULL, q, sizeof q);
        if (qlen < 0)
            return fail_res("res_mkquery", h_errno, errno);
        return result(c, res_send(q, qlen, ans, sizeof ans), &h_errno);
    }

    /* The thread-safe res_n* interface with an explicit state. */
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0)
        return fail_res("res_ninit", 0, errno);
    int rc = 2;
    if (!strcmp(c, "res_nquery"))
        rc = result(c, res_nquery(&st, name, ns_c_in, ns_t_a, ans, sizeof ans), &st.res_h_errno);
    else if (!strcmp(c, "res_nquery_srv"))
        rc = result(c, res_nquery(&st, name, ns_c_in, ns_t_srv, ans, sizeof ans), &st.res_h_errno);
    else if (!strcmp(c, "res_nsearch"))
        rc = result(c, res_nsearch(&st, name, ns_c_in, ns_t_a, ans, sizeof ans), &st.res_h_errno);
    else if (!strcmp(c, "res_nquerydomain"))
        rc = result(c, res_nquerydomain(&st, name, domain, ns_c_in, ns_t_a, ans, sizeof ans), &st.res_h_errno);
    else if (!strcmp(c, "res_nsend")) {
        int qlen = res_nmkquery(&st, ns_o_query, name, ns_c_in, ns_t_a, NULL, 0, NULL, q, sizeof q);
        if (qlen < 0)
            rc = fail_res("res_nmkquery", st.res_h_errno, errno);
        else
            rc = result(c, res_nsend(&st, q, qlen, ans, sizeof ans), &st.res_h_errno);
    } else
        fprintf(stderr, "call_res: unknown call %s\n", c);
    res_nclose(&st);
    return rc;
}
