/* shim name lookups (linked into this program, so its calls are the
 * interposed ones): no call here may reach DNS or /etc/hosts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <resolv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"

extern int __res_query(const char *, int, int, unsigned char *, int);
extern int __res_nsend(res_state, const unsigned char *, int, unsigned char *, int);

static struct torify_cidr fake4, fake6;

static struct addrinfo hints_of(int family, int socktype, int flags)
{
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    h.ai_family = family;
    h.ai_socktype = socktype;
    h.ai_flags = flags;
    return h;
}

static void test_numeric_hosts_pass_through_unchanged(void **state)
{
    struct addrinfo h = hints_of(AF_UNSPEC, SOCK_STREAM, 0), *res = NULL;
    assert_int_equal(getaddrinfo("93.184.216.34", "80", &h, &res), 0);
    assert_int_equal(res->ai_family, AF_INET);
    struct sockaddr_in *in = (struct sockaddr_in *)res->ai_addr;
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x5db8d822);
    assert_int_equal(ntohs(in->sin_port), 80);
    freeaddrinfo(res);
    assert_int_equal(getaddrinfo("2001:db8::5", "443", &h, &res), 0);
    assert_int_equal(res->ai_family, AF_INET6);
    char buf[64];
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, buf, sizeof buf);
    assert_string_equal(buf, "2001:db8::5");
    freeaddrinfo(res);
    /* NULL hints: libc's defaults, still numeric. */
    assert_int_equal(getaddrinfo("10.1.2.3", NULL, NULL, &res), 0);
    assert_int_equal(res->ai_family, AF_INET);
    freeaddrinfo(res);
}

static void test_unspec_name_lookup_gives_one_ipv4_fake_stream_entry(void **state)
{
    struct addrinfo h = hints_of(AF_UNSPEC, 0, 0), *res = NULL;
    assert_int_equal(getaddrinfo("www.example.com", "80", &h, &res), 0);
    int n = 0;
    for (struct addrinfo *p = res; p; p = p->ai_next, n++) {
        assert_int_equal(p->ai_family, AF_INET); /* no IPv6 path from AF_UNSPEC */
        assert_int_equal(p->ai_socktype, SOCK_STREAM);
        struct sockaddr_in *in = (struct sockaddr_in *)p->ai_addr;
        assert_true(torify_cidr_contains(&fake4, AF_INET, (uint8_t *)&in->sin_addr));
        assert_int_equal(ntohs(in->sin_port), 80);
    }
    assert_int_equal(n, 1);
    freeaddrinfo(res);
}

static void test_ipv6_lookup_gives_an_ipv6_fake_for_the_same_name(void **state)
{
    struct addrinfo h = hints_of(AF_INET6, SOCK_STREAM, 0), *res = NULL;
    assert_int_equal(getaddrinfo("six.example", "443", &h, &res), 0);
    assert_int_equal(res->ai_family, AF_INET6);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)res->ai_addr;
    assert_true(torify_cidr_contains(&fake6, AF_INET6, in6->sin6_addr.s6_addr));
    char host[NI_MAXHOST];
    assert_int_equal(getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof host, NULL, 0, NI_NAMEREQD), 0);
    assert_string_equal(host, "six.example");
    freeaddrinfo(res);
}

static void test_same_name_same_address_in_every_lookup_api(void **state)
{
    struct addrinfo h = hints_of(AF_INET, SOCK_STREAM, 0), *res = NULL;
    assert_int_equal(getaddrinfo("same.example", "80", &h, &res), 0);
    struct in_addr a = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    struct hostent *he = gethostbyname("same.example");
    assert_non_null(he);
    assert_int_equal(he->h_addrtype, AF_INET);
    assert_int_equal(he->h_length, 4);
    assert_memory_equal(he->h_addr_list[0], &a, 4);
    assert_null(he->h_addr_list[1]);
    assert_string_equal(he->h_name, "same.example");
    struct hostent ret, *out = NULL;
    char buf[512];
    int herr = 0;
    assert_int_equal(gethostbyname_r("SAME.example.", &ret, buf, sizeof buf, &out, &herr), 0);
    assert_ptr_equal(out, &ret);
    assert_memory_equal(ret.h_addr_list[0], &a, 4);
    assert_int_equal(getaddrinfo("same.example", "80", &h, &res), 0);
    assert_memory_equal(&((struct sockaddr_in *)res->ai_addr)->sin_addr, &a, 4);
    freeaddrinfo(res);
}

static void test_canonname_services_and_flags_follow_libc(void **state)
{
    struct addrinfo h = hints_of(AF_UNSPEC, SOCK_STREAM, AI_CANONNAME), *res = NULL;
    assert_int_equal(getaddrinfo("canon.example", "http", &h, &res), 0);
    assert_non_null(res->ai_canonname);
    assert_string_equal(res->ai_canonname, "canon.example");
    assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80); /* /etc/services */
    freeaddrinfo(res);
    h = hints_of(AF_UNSPEC, SOCK_STREAM, AI_NUMERICSERV);
    assert_int_equal(getaddrinfo("canon.example", "http", &h, &res), EAI_NONAME);
    h = hints_of(AF_UNSPEC, SOCK_STREAM, 0);
    assert_int_equal(getaddrinfo("canon.example", "no-such-service-xyz", &h, &res), EAI_SERVICE);
    /* The caller asked for numeric only: a name is not numeric. */
    h = hints_of(AF_UNSPEC, SOCK_STREAM, AI_NUMERICHOST);
    assert_int_equal(getaddrinfo("canon.example", "80", &h, &res), EAI_NONAME);
    h = hints_of(AF_APPLETALK, SOCK_STREAM, 0);
    assert_int_not_equal(getaddrinfo("canon.example", "80", &h, &res), 0);
}

static void test_localhost_is_answered_without_a_lookup(void **state)
{
    struct addrinfo h = hints_of(AF_UNSPEC, SOCK_STREAM, 0), *res = NULL;
    assert_int_equal(getaddrinfo("localhost", "8080", &h, &res), 0);
    assert_int_equal(res->ai_family, AF_INET);
    assert_int_equal(ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr), 0x7f000001);
    assert_non_null(res->ai_next);
    assert_int_equal(res->ai_next->ai_family, AF_INET6);
    assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)res->ai_next->ai_addr)->sin6_addr));
    freeaddrinfo(res);
    h = hints_of(AF_INET, SOCK_STREAM, AI_CANONNAME);
    assert_int_equal(getaddrinfo("LOCALHOST", "80", &h, &res), 0);
    assert_null(res->ai_next);
    assert_string_equal(res->ai_canonname, "localhost");
    freeaddrinfo(res);
    struct hostent *he = gethostbyname2("db.localhost", AF_INET6);
    assert_non_null(he);
    assert_true(IN6_IS_ADDR_LOOPBACK((struct in6_addr *)he->h_addr_list[0]));
}

static void test_onion_names_get_fake_addresses(void **state)
{
    struct hostent *he = gethostbyname("expyuzz4wqqyqhjn.onion");
    assert_non_null(he);
    assert_true(torify_cidr_contains(&fake4, AF_INET, (uint8_t *)he->h_addr_list[0]));
    struct hostent *back = gethostbyaddr(he->h_addr_list[0], 4, AF_INET);
    assert_non_null(back);
    assert_string_equal(back->h_name, "expyuzz4wqqyqhjn.onion");
    /* The same fake written as IPv4-mapped IPv6. */
    uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
    memcpy(mapped + 12, he->h_addr_list[0], 4);
    back = gethostbyaddr(mapped, 16, AF_INET6);
    assert_non_null(back);
    assert_string_equal(back->h_name, "expyuzz4wqqyqhjn.onion");
    assert_int_equal(back->h_addrtype, AF_INET6);
}

static void test_reverse_lookups_of_fakes_give_the_name_and_numeric_stays_numeric(void **state)
{
    struct addrinfo h = hints_of(AF_INET, SOCK_STREAM, 0), *res = NULL;
    assert_int_equal(getaddrinfo("rev.example", "80", &h, &res), 0);
    char host[NI_MAXHOST], serv[32];
    assert_int_equal(getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof host, serv, sizeof serv, 0), 0);
    assert_string_equal(host, "rev.example");
    assert_string_equal(serv, "http");
    assert_int_equal(getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof host, serv, sizeof serv,
                                 NI_NUMERICHOST | NI_NUMERICSERV), 0);
    assert_true(strncmp(host, "127.", 4) == 0);
    assert_string_equal(serv, "80");
    char tiny[4];
    assert_int_equal(getnameinfo(res->ai_addr, res->ai_addrlen, tiny, sizeof tiny, NULL, 0, 0), EAI_OVERFLOW);
    freeaddrinfo(res);
    /* An address in the fake range that no name has: numeric, or an error
     * when a name is required. */
    struct sockaddr_in in = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.250.1.2", &in.sin_addr);
    assert_int_equal(getnameinfo((struct sockaddr *)&in, sizeof in, host, sizeof host, NULL, 0, 0), 0);
    assert_string_equal(host, "127.250.1.2");
    assert_int_equal(getnameinfo((struct sockaddr *)&in, sizeof in, host, sizeof host, NULL, 0, NI_NAMEREQD), EAI_NONAME);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    assert_int_equal(getnameinfo((struct sockaddr *)&in, sizeof in, host, sizeof host, NULL, 0, 0), 0);
    assert_string_equal(host, "localhost");
}

static void test_real_address_reverse_lookup_without_tor_falls_back_to_numeric(void **state)
{
    /* Tor (TORIFY_TOR_UNIX) is a path nobody listens on: RESOLVE_PTR fails
     * at once and nothing asks local DNS. */
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "93.184.216.34", &in.sin_addr);
    char host[NI_MAXHOST];
    assert_int_equal(getnameinfo((struct sockaddr *)&in, sizeof in, host, sizeof host, NULL, 0, 0), 0);
    assert_string_equal(host, "93.184.216.34");
    assert_int_equal(getnameinfo((struct sockaddr *)&in, sizeof in, host, sizeof host, NULL, 0, NI_NAMEREQD), EAI_NONAME);
    h_errno = 0;
    assert_null(gethostbyaddr(&in.sin_addr, 4, AF_INET));
    assert_int_equal(h_errno, HOST_NOT_FOUND);
}

static void test_reentrant_forms_report_a_small_buffer(void **state)
{
    struct hostent ret, *out = (struct hostent *)1;
    char buf[8];
    int herr = 0;
    assert_int_equal(gethostbyname2_r("small.example", AF_INET6, &ret, buf, sizeof buf, &out, &herr), ERANGE);
    assert_null(out);
    char big[1024];
    assert_int_equal(gethostbyname2_r("small.example", AF_INET6, &ret, big, sizeof big, &out, &herr), 0);
    assert_int_equal(ret.h_addrtype, AF_INET6);
    assert_true(torify_cidr_contains(&fake6, AF_INET6, (uint8_t *)ret.h_addr_list[0]));
    struct hostent *r2 = NULL;
    assert_int_equal(gethostbyaddr_r(ret.h_addr_list[0], 16, AF_INET6, &ret, big, sizeof big, &r2, &herr), 0);
    assert_non_null(r2);
    assert_string_equal(r2->h_name, "small.example");
}

/* The last record of a reply to an A query: its 4 address bytes. */
static const unsigned char *last_a(const unsigned char *ans, int n)
{
    assert_true(n >= 12 + 16);
    assert_int_equal(ans[6] << 8 | ans[7], 1); /* ANCOUNT */
    return ans + n - 4;
}

static void test_res_functions_answer_in_process_with_getaddrinfos_address(void **state)
{
    struct addrinfo h = hints_of(AF_INET, SOCK_STREAM, 0), *res = NULL;
    assert_int_equal(getaddrinfo("example.com", "80", &h, &res), 0);
    uint8_t want[4];
    memcpy(want, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
    freeaddrinfo(res);
    unsigned char ans[512], q[512];
    h_errno = -1;
    int n = res_query("example.com", C_IN, T_A, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    assert_int_equal(h_errno, 0);
    n = res_search("example.com", C_IN, T_A, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    n = res_querydomain("example", "com", C_IN, T_A, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    int ql = res_mkquery(QUERY, "Example.COM", C_IN, T_A, NULL, 0, NULL, q, sizeof q); /* builds, sends nothing */
    assert_true(ql > 12);
    n = res_send(q, ql, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    assert_memory_equal(ans + 12, q + 12, (size_t)ql - 12); /* the question, case kept */
    struct __res_state st;
    memset(&st, 0, sizeof st);
    n = res_nquery(&st, "example.com", C_IN, T_A, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    n = res_nsend(&st, q, ql, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    n = __res_query("example.com", C_IN, T_A, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
    n = __res_nsend(&st, q, ql, ans, sizeof ans);
    assert_memory_equal(last_a(ans, n), want, 4);
}

static void test_res_functions_report_no_data_and_bad_queries_like_glibc(void **state)
{
    unsigned char ans[512], zero[12] = { 0 };
    struct __res_state st;
    memset(&st, 0, sizeof st);
    /* SRV (apt): no records, which the query forms report as NO_DATA. */
    assert_int_equal(res_nquery(&st, "_http._tcp.example.com", C_IN, T_SRV, ans, sizeof ans), -1);
    assert_int_equal(st.res_h_errno, NO_DATA);
    h_errno = 0;
    assert_int_equal(res_query("bad\001name", C_IN, T_A, ans, sizeof ans), -1);
    assert_int_equal(h_errno, HOST_NOT_FOUND); /* NXDOMAIN, as getaddrinfo's EAI_NONAME */
    /* The send forms hand back any reply: here FORMERR, no question. */
    assert_int_equal(res_send(zero, sizeof zero, ans, sizeof ans), 12);
    assert_int_equal(ans[3] & 0xF, 1);
    zero[2] = 0x80; /* a response is never answered */
    st.res_h_errno = 0;
    assert_int_equal(res_nsend(&st, zero, sizeof zero, ans, sizeof ans), -1);
    assert_int_equal(st.res_h_errno, NO_RECOVERY);
}

static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t note_cond = PTHREAD_COND_INITIALIZER;
static int note_value;

static void on_done(union sigval v)
{
    pthread_mutex_lock(&note_lock);
    note_value = v.sival_int;
    pthread_cond_signal(&note_cond);
    pthread_mutex_unlock(&note_lock);
}

static void test_getaddrinfo_a_answers_names_with_fakes_not_dns(void **state)
{
    struct addrinfo h = hints_of(AF_UNSPEC, SOCK_STREAM, 0);
    struct gaicb a = { .ar_name = "async.example", .ar_service = "80", .ar_request = &h };
    struct gaicb b = { .ar_name = "192.0.2.9", .ar_service = "443" };
    struct gaicb c = { .ar_name = "async.example", .ar_service = "no-such-service-xyz", .ar_request = &h };
    struct gaicb *list[4] = { &a, NULL, &b, &c };
    assert_int_equal(getaddrinfo_a(GAI_WAIT, list, 4, NULL), 0);
    /* libc's own gai_error reads the results we filled in. */
    assert_int_equal(gai_error(&a), 0);
    assert_int_equal(gai_error(&b), 0);
    assert_int_equal(gai_error(&c), EAI_SERVICE);
    struct sockaddr_in *in = (struct sockaddr_in *)a.ar_result->ai_addr;
    assert_true(torify_cidr_contains(&fake4, AF_INET, (uint8_t *)&in->sin_addr));
    assert_int_equal(ntohs(in->sin_port), 80);
    /* Same name, same fake as the synchronous call. */
    struct addrinfo *res = NULL;
    assert_int_equal(getaddrinfo("async.example", "80", &h, &res), 0);
    assert_memory_equal(&((struct sockaddr_in *)res->ai_addr)->sin_addr, &in->sin_addr, 4);
    freeaddrinfo(res);
    in = (struct sockaddr_in *)b.ar_result->ai_addr;
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0xc0000209);
    /* Finished requests: nothing to wait for, nothing to cancel. */
    const struct gaicb *const wait_list[1] = { &a };
    struct timespec zero = { 0, 0 };
    int sr = gai_suspend(wait_list, 1, &zero); /* at once: never EAI_AGAIN (timeout) */
    assert_true(sr == 0 || sr == EAI_ALLDONE);
    assert_int_equal(gai_cancel(&a), EAI_ALLDONE);
    freeaddrinfo(a.ar_result);
    freeaddrinfo(b.ar_result);
    errno = 0;
    assert_int_equal(getaddrinfo_a(7, list, 1, NULL), EAI_SYSTEM);
    assert_int_equal(errno, EINVAL);
}

static void test_getaddrinfo_a_nowait_still_notifies(void **state)
{
    struct gaicb a = { .ar_name = "notify.example", .ar_service = "80" };
    struct gaicb *list[1] = { &a };
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_done;
    sev.sigev_value.sival_int = 42;
    note_value = 0;
    assert_int_equal(getaddrinfo_a(GAI_NOWAIT, list, 1, &sev), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&note_lock);
    while (note_value == 0 && pthread_cond_timedwait(&note_cond, &note_lock, &until) == 0)
        ;
    int got = note_value;
    pthread_mutex_unlock(&note_lock);
    assert_int_equal(got, 42);
    assert_int_equal(gai_error(&a), 0);
    freeaddrinfo(a.ar_result);
}

static int setup(void **state)
{
    return 0;
}

int main(void)
{
    /* A config of our own: no system file, Tor on a path nobody serves. */
    setenv("TORIFY_CONF_FILE", "/dev/null", 1);
    setenv("TORIFY_TOR_UNIX", "/nonexistent/torify-test-tor.sock", 1);
    setenv("TORIFY_LOG_LEVEL", "quiet", 1);
    torify_cidr_parse("127.192.0.0/10", &fake4);
    torify_cidr_parse("100::/64", &fake6);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_hosts_pass_through_unchanged),
        cmocka_unit_test(test_unspec_name_lookup_gives_one_ipv4_fake_stream_entry),
        cmocka_unit_test(test_ipv6_lookup_gives_an_ipv6_fake_for_the_same_name),
        cmocka_unit_test(test_same_name_same_address_in_every_lookup_api),
        cmocka_unit_test(test_canonname_services_and_flags_follow_libc),
        cmocka_unit_test(test_localhost_is_answered_without_a_lookup),
        cmocka_unit_test(test_onion_names_get_fake_addresses),
        cmocka_unit_test(test_reverse_lookups_of_fakes_give_the_name_and_numeric_stays_numeric),
        cmocka_unit_test(test_real_address_reverse_lookup_without_tor_falls_back_to_numeric),
        cmocka_unit_test(test_reentrant_forms_report_a_small_buffer),
        cmocka_unit_test(test_res_functions_answer_in_process_with_getaddrinfos_address),
        cmocka_unit_test(test_res_functions_report_no_data_and_bad_queries_like_glibc),
        cmocka_unit_test(test_getaddrinfo_a_answers_names_with_fakes_not_dns),
        cmocka_unit_test(test_getaddrinfo_a_nowait_still_notifies),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
