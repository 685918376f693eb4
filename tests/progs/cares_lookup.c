/*
 * cares_lookup — a c-ares user (what node's dns.resolve* and many C daemons
 * are): c-ares reads /etc/resolv.conf and sends its own DNS queries over
 * UDP, never through libc's resolver.
 *
 *   cares_lookup gethostbyname NAME 4|6     ares_gethostbyname, AF_INET / AF_INET6
 *   cares_lookup query NAME A|AAAA           ares_query + ares_parse_a/aaaa_reply
 *   cares_lookup reverse IP                  ares_gethostbyaddr (a PTR query)
 *
 * Prints "ok <call> <address or name>..." or "fail <call> status=<ares text>".
 * One try of 2 s per server (ARES_OPT_TRIES/TIMEOUTMS), so a refused or
 * unanswered query ends the program in bounded time.  Exit 0 / 1 / 2 (usage).
 */
#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

struct result {
    const char *call;
    int done, ok;
};

static void print_host(struct result *r, int status, const struct hostent *h)
{
    r->done = 1;
    if (status != ARES_SUCCESS || !h) {
        printf("fail %s status=%s\n", r->call, ares_strerror(status));
        return;
    }
    printf("ok %s", r->call);
    if (h->h_addr_list[0] == NULL)
        printf(" %s", h->h_name); /* gethostbyaddr: the name */
    for (char **a = h->h_addr_list; *a; a++) {
        char ip[INET6_ADDRSTRLEN];
        if (inet_ntop(h->h_addrtype, *a, ip, sizeof ip))
            printf(" %s", ip);
    }
    printf("\n");
    r->ok = 1;
}

static void host_cb(void *arg, int status, int timeouts, struct hostent *h)
{
    print_host(arg, status, h);
}

static void reverse_cb(void *arg, int status, int timeouts, struct hostent *h)
{
    struct result *r = arg;
    r->done = 1;
    if (status != ARES_SUCCESS || !h) {
        printf("fail %s status=%s\n", r->call, ares_strerror(status));
        return;
    }
    printf("ok %s %s\n", r->call, h->h_name);
    r->ok = 1;
}

static int query_is_aaaa;

static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct result *r = arg;
    struct hostent *h = NULL;
    if (status == ARES_SUCCESS)
        status = query_is_aaaa ? ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL)
                               : ares_parse_a_reply(abuf, alen, &h, NULL, NULL);
    print_host(r, status, h);
    if (h)
        ares_free_hostent(h);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cares_lookup gethostbyname NAME 4|6 | query NAME A|AAAA | reverse IP\n");
        return 2;
    }
    const char *call = argv[1], *arg = argv[2];
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
        return 1;
    struct ares_options opts = { .timeout = 2000, .tries = 1 };
    ares_channel ch;
    int st = ares_init_options(&ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (st != ARES_SUCCESS) {
        printf("fail ares_init status=%s\n", ares_strerror(st));
        return 1;
    }
    struct result r = { .call = call };
    unsigned char addr[16];
    if (!strcmp(call, "gethostbyname") && argc == 4) {
        ares_gethostbyname(ch, arg, !strcmp(argv[3], "6") ? AF_INET6 : AF_INET, host_cb, &r);
    } else if (!strcmp(call, "query") && argc == 4) {
        query_is_aaaa = !strcasecmp(argv[3], "AAAA");
        ares_query(ch, arg, 1 /* C_IN */, query_is_aaaa ? 28 : 1, query_cb, &r);
    } else if (!strcmp(call, "reverse") && inet_pton(AF_INET, arg, addr) == 1) {
        ares_gethostbyaddr(ch, addr, 4, AF_INET, reverse_cb, &r);
    } else if (!strcmp(call, "reverse") && inet_pton(AF_INET6, arg, addr) == 1) {
        ares_gethostbyaddr(ch, addr, 16, AF_INET6, reverse_cb, &r);
    } else {
        fprintf(stderr, "cares_lookup: bad arguments\n");
        ares_destroy(ch);
        return 2;
    }
    /* c-ares' own event loop: wait on its sockets until the callback ran
     * (its timeout option bounds each try). */
    while (!r.done) {
        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        int nfds = ares_fds(ch, &rd, &wr);
        if (nfds == 0)
            break;
        struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
        select(nfds, &rd, &wr, NULL, tvp);
        ares_process(ch, &rd, &wr);
    }
    if (!r.done)
        printf("fail %s status=no callback\n", call);
    fflush(stdout);
    ares_destroy(ch);
    ares_library_cleanup();
    return r.ok ? 0 : 1;
}
