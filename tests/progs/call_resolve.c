/*
 * call_resolve — one libc name lookup per run, as a real program would do it.
 *
 *   call_resolve getaddrinfo NAME [SERVICE [unspec|inet|inet6 [numeric]]]
 *   call_resolve gethostbyname NAME
 *   call_resolve gethostbyname2 NAME inet|inet6
 *   call_resolve gethostbyname_r NAME
 *   call_resolve gethostbyname2_r NAME inet|inet6
 *   call_resolve gethostbyaddr IP
 *   call_resolve gethostbyaddr_r IP
 *   call_resolve getnameinfo IP [namereqd]
 *   call_resolve getaddrinfo_a NAME  the asynchronous lookup (GAI_WAIT)
 *   call_resolve reverse NAME     look NAME up (AF_INET), then map the address
 *                                 back with getnameinfo and gethostbyaddr, and
 *                                 look NAME up again: "same yes" if equal
 *   call_resolve fork NAME NAME2  parent looks NAME up; a forked child maps
 *                                 that address back and looks NAME2 up; the
 *                                 parent then maps the child's address back
 *
 * Prints "ok <call> <address...>" / "name <hostname>" lines, or
 * "fail <call> gai=<EAI_*>" / "fail <call> h_errno=<n>".
 */
#include "call_common.h"

#include <netdb.h>
#include <sys/wait.h>
#include <unistd.h>

static int family_of(const char *s)
{
    if (!s || !strcmp(s, "unspec"))
        return AF_UNSPEC;
    if (!strcmp(s, "inet"))
        return AF_INET;
    if (!strcmp(s, "inet6"))
        return AF_INET6;
    return -1;
}

static const char *gai_name(int rc)
{
    switch (rc) {
    case EAI_NONAME: return "EAI_NONAME";
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_FAIL: return "EAI_FAIL";
    case EAI_FAMILY: return "EAI_FAMILY";
    case EAI_SERVICE: return "EAI_SERVICE";
    case EAI_MEMORY: return "EAI_MEMORY";
    case EAI_SYSTEM: return "EAI_SYSTEM";
    case EAI_NODATA: return "EAI_NODATA";
    case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
    default: return "EAI_OTHER";
    }
}

static int do_getaddrinfo(int argc, char **argv)
{
    const char *service = argc > 3 ? argv[3] : NULL;
    int fam = family_of(argc > 4 ? argv[4] : NULL);
    if (fam < 0)
        return 2;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = fam;
    hints.ai_socktype = SOCK_STREAM;
    if (argc > 5 && !strcmp(argv[5], "numeric"))
        hints.ai_flags |= AI_NUMERICHOST;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(argv[2], service, &hints, &res);
    if (rc != 0) {
        printf("fail getaddrinfo gai=%s\n", gai_name(rc));
        return 1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char buf[80];
        report_ok("getaddrinfo", format_sa(ai->ai_addr, buf, sizeof buf));
        if (ai->ai_canonname)
            printf("name %s\n", ai->ai_canonname);
    }
    freeaddrinfo(res);
    return 0;
}

static int print_hostent(const char *call, const struct hostent *he)
{
    printf("name %s\n", he->h_name ? he->h_name : "");
    for (char **a = he->h_addr_list; a && *a; a++) {
        char ip[INET6_ADDRSTRLEN];
        if (!inet_ntop(he->h_addrtype, *a, ip, sizeof ip))
            return report_fail(call, errno);
        report_ok(call, ip);
    }
    fflush(stdout);
    return 0;
}

static int hostent_fail(const char *call, int herr)
{
    printf("fail %s h_errno=%d\n", call, herr);
    return 1;
}

static int do_gethostbyname(int argc, char **argv, int reentrant, int two)
{
    const char *call = reentrant ? (two ? "gethostbyname2_r" : "gethostbyname_r")
                                 : (two ? "gethostbyname2" : "gethostbyname");
    int fam = AF_INET;
    if (two) {
        fam = family_of(argc > 3 ? argv[3] : "inet");
        if (fam != AF_INET && fam != AF_INET6)
            return 2;
    }
    if (!reentrant) {
        struct hostent *he = two ? gethostbyname2(argv[2], fam) : gethostbyname(argv[2]);
        return he ? print_hostent(call, he) : hostent_fail(call, h_errno);
    }
    struct hostent he, *out = NULL;
    char buf[4096];
    int herr = 0;
    int rc = two ? gethostbyname2_r(argv[2], fam, &he, buf, sizeof buf, &out, &herr)
                 : gethostbyname_r(argv[2], &he, buf, sizeof buf, &out, &herr);
    if (rc != 0 || !out)
        return hostent_fail(call, herr);
    return print_hostent(call, out);
}

static int do_gethostbyaddr(const char *ip, int reentrant)
{
    const char *call = reentrant ? "gethostbyaddr_r" : "gethostbyaddr";
    unsigned char addr[16];
    int fam = AF_INET;
    socklen_t alen = 4;
    if (inet_pton(AF_INET, ip, addr) != 1) {
        if (inet_pton(AF_INET6, ip, addr) != 1)
            return 2;
        fam = AF_INET6;
        alen = 16;
    }
    if (!reentrant) {
        struct hostent *he = gethostbyaddr(addr, alen, fam);
        return he ? print_hostent(call, he) : hostent_fail(call, h_errno);
    }
    struct hostent he, *out = NULL;
    char buf[4096];
    int herr = 0;
    int rc = gethostbyaddr_r(addr, alen, fam, &he, buf, sizeof buf, &out, &herr);
    if (rc != 0 || !out)
        return hostent_fail(call, herr);
    return print_hostent(call, out);
}

static int do_getnameinfo(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(argv[2], "80", &ss, &len) != 0)
        return 2;
    int flags = NI_NUMERICSERV;
    if (argc > 3 && !strcmp(argv[3], "namereqd"))
        flags |= NI_NAMEREQD;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int rc = getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv, flags);
    if (rc != 0) {
        printf("fail getnameinfo gai=%s\n", gai_name(rc));
        return 1;
    }
    printf("name %s\n", host);
    report_ok("getnameinfo", host);
    return 0;
}

static int do_getaddrinfo_a(const char *name)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct gaicb req;
    memset(&req, 0, sizeof req);
    req.ar_name = name;
    req.ar_service = "80";
    req.ar_request = &hints;
    struct gaicb *list[1] = { &req };
    int rc = getaddrinfo_a(GAI_WAIT, list, 1, NULL);
    if (rc == 0)
        rc = gai_error(&req);
    if (rc != 0) {
        printf("fail getaddrinfo_a gai=%s\n", gai_name(rc));
        return 1;
    }
    for (struct addrinfo *ai = req.ar_result; ai; ai = ai->ai_next) {
        char buf[80];
        report_ok("getaddrinfo_a", format_sa(ai->ai_addr, buf, sizeof buf));
    }
    freeaddrinfo(req.ar_result);
    return 0;
}

/* The first IPv4 address of name, into *out; 0 or 1 after printing why. */
static int lookup4(const char *name, struct in_addr *out)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, "80", &hints, &res);
    if (rc != 0) {
        printf("fail getaddrinfo gai=%s\n", gai_name(rc));
        return 1;
    }
    *out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, out, ip, sizeof ip);
    report_ok("getaddrinfo", ip);
    return 0;
}

/* Map addr back to a name both ways; prints "name-<call> NAME" lines. */
static int reverse4(struct in_addr addr)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr = addr;
    char host[NI_MAXHOST];
    int rc = getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0, NI_NAMEREQD);
    if (rc != 0)
        printf("fail getnameinfo gai=%s\n", gai_name(rc));
    else
        printf("name-getnameinfo %s\n", host);
    struct hostent *he = gethostbyaddr(&addr, sizeof addr, AF_INET);
    if (!he)
        printf("fail gethostbyaddr h_errno=%d\n", h_errno);
    else
        printf("name-gethostbyaddr %s\n", he->h_name);
    fflush(stdout);
    return rc != 0 || !he;
}

static int do_reverse(const char *name)
{
    struct in_addr a, b;
    if (lookup4(name, &a))
        return 1;
    int rc = reverse4(a);
    if (lookup4(name, &b))
        return 1;
    printf("same %s\n", a.s_addr == b.s_addr ? "yes" : "no");
    return rc;
}

static int do_fork(const char *name, const char *name2)
{
    struct in_addr a;
    if (lookup4(name, &a))
        return 1;
    int pfd[2];
    if (pipe(pfd) != 0)
        return report_fail("pipe", errno);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return report_fail("fork", errno);
    if (pid == 0) {
        int rc = reverse4(a);
        struct in_addr c;
        rc |= lookup4(name2, &c);
        if (write(pfd[1], &c, sizeof c) != (ssize_t)sizeof c)
            rc = 1;
        fflush(stdout);
        _exit(rc);
    }
    close(pfd[1]);
    struct in_addr c;
    ssize_t n = read(pfd[0], &c, sizeof c);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || n != (ssize_t)sizeof c)
        return report_fail("child", ECHILD);
    int rc = reverse4(c);
    return rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: call_resolve CALL NAME|IP [...]\n");
        return 2;
    }
    const char *c = argv[1];
    int rc = 2;
    if (!strcmp(c, "getaddrinfo"))
        rc = do_getaddrinfo(argc, argv);
    else if (!strcmp(c, "gethostbyname"))
        rc = do_gethostbyname(argc, argv, 0, 0);
    else if (!strcmp(c, "gethostbyname2"))
        rc = do_gethostbyname(argc, argv, 0, 1);
    else if (!strcmp(c, "gethostbyname_r"))
        rc = do_gethostbyname(argc, argv, 1, 0);
    else if (!strcmp(c, "gethostbyname2_r"))
        rc = do_gethostbyname(argc, argv, 1, 1);
    else if (!strcmp(c, "gethostbyaddr"))
        rc = do_gethostbyaddr(argv[2], 0);
    else if (!strcmp(c, "gethostbyaddr_r"))
        rc = do_gethostbyaddr(argv[2], 1);
    else if (!strcmp(c, "getnameinfo"))
        rc = do_getnameinfo(argc, argv);
    else if (!strcmp(c, "getaddrinfo_a"))
        rc = do_getaddrinfo_a(argv[2]);
    else if (!strcmp(c, "reverse"))
        rc = do_reverse(argv[2]);
    else if (!strcmp(c, "fork") && argc > 3)
        rc = do_fork(argv[2], argv[3]);
    if (rc == 2)
        fprintf(stderr, "call_resolve: bad usage of %s\n", c);
    fflush(stdout);
    return rc;
}
