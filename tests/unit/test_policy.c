/* core/policy: what libtorify lets through, sends via Tor, or refuses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "core/policy.h"

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static struct sockaddr_storage ss;
static socklen_t ss_len; /* length of the address last built by v4()/v6() */

static const struct sockaddr *v4(const char *a, int port)
{
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, a, &in->sin_addr), 1);
    ss_len = sizeof *in;
    return (const struct sockaddr *)&ss;
}

static const struct sockaddr *v6(const char *a, int port)
{
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET6, a, &in6->sin6_addr), 1);
    ss_len = sizeof *in6;
    return (const struct sockaddr *)&ss;
}

static void test_socket_passes_tcp_and_local_families_only(void **state)
{
    assert_int_equal(torify_policy_socket(AF_INET, SOCK_STREAM, 0), TORIFY_OK);
    assert_int_equal(torify_policy_socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP), TORIFY_OK);
    assert_int_equal(torify_policy_socket(AF_UNIX, SOCK_DGRAM, 0), TORIFY_OK);
    assert_int_equal(torify_policy_socket(AF_NETLINK, SOCK_RAW, 0), TORIFY_OK);
    assert_int_equal(torify_policy_socket(AF_INET, SOCK_DGRAM, 0), TORIFY_E_REFUSE_UDP);
    assert_int_equal(torify_policy_socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP), TORIFY_E_REFUSE_UDP);
    assert_int_equal(torify_policy_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), TORIFY_E_REFUSE_RAW);
    assert_int_equal(torify_policy_socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6), TORIFY_E_REFUSE_RAW);
    assert_int_equal(torify_policy_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), TORIFY_E_REFUSE_RAW);
    assert_int_equal(torify_policy_socket(AF_PACKET, SOCK_RAW, 0), TORIFY_E_REFUSE_RAW);
    assert_int_equal(torify_policy_socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP), TORIFY_E_REFUSE_FAMILY);
    assert_int_equal(torify_policy_socket(AF_INET, SOCK_SEQPACKET, 0), TORIFY_E_REFUSE_FAMILY);
    assert_int_equal(torify_policy_socket(AF_BLUETOOTH, SOCK_STREAM, 0), TORIFY_E_REFUSE_FAMILY);
    assert_int_equal(torify_policy_socket(AF_APPLETALK, SOCK_DGRAM, 0), TORIFY_E_REFUSE_FAMILY);
}

static struct torify_config cfg(void)
{
    struct torify_config c;
    torify_config_defaults(&c);
    return c;
}

static enum torify_connect_action decide(const struct torify_config *c, int type, const struct sockaddr *sa,
                                         torify_err *err)
{
    return torify_policy_connect(c, type, sa, ss_len, err);
}

static torify_err listen_on(const struct torify_config *c, const struct sockaddr *sa)
{
    return torify_policy_listen(c, sa, ss_len);
}

static torify_err send_to(int type, int flags, const struct sockaddr *sa)
{
    return torify_policy_send(type, flags, sa, ss_len);
}

static void test_connect_sends_public_addresses_through_tor(void **state)
{
    struct torify_config c = cfg();
    torify_err e;
    assert_int_equal(decide(&c, SOCK_STREAM, v4("93.184.216.34", 80), &e), TORIFY_CONNECT_TOR_IP);
    assert_int_equal(decide(&c, SOCK_STREAM | SOCK_NONBLOCK, v6("2001:db8::1", 443), &e), TORIFY_CONNECT_TOR_IP);
    assert_int_equal(decide(&c, SOCK_STREAM, v4("10.1.2.3", 22), &e), TORIFY_CONNECT_TOR_IP);
}

static void test_connect_to_fake_addresses_becomes_a_hostname_request(void **state)
{
    struct torify_config c = cfg();
    torify_err e;
    assert_int_equal(decide(&c, SOCK_STREAM, v4("127.192.0.1", 80), &e), TORIFY_CONNECT_FAKE);
    assert_int_equal(decide(&c, SOCK_STREAM, v4("127.255.255.254", 80), &e), TORIFY_CONNECT_FAKE);
    assert_int_equal(decide(&c, SOCK_STREAM, v6("100::7", 80), &e), TORIFY_CONNECT_FAKE);
    /* An IPv4-mapped fake on an IPv6 socket is the same fake. */
    assert_int_equal(decide(&c, SOCK_STREAM, v6("::ffff:127.192.0.9", 80), &e), TORIFY_CONNECT_FAKE);
}

static void test_connect_refuses_loopback_unless_allowed(void **state)
{
    struct torify_config c = cfg();
    torify_err e;
    const char *v4s[] = { "127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3" };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(decide(&c, SOCK_STREAM, v4(v4s[i], 8080), &e), TORIFY_CONNECT_REFUSE);
        assert_int_equal(e, TORIFY_E_REFUSE_LOCALHOST);
    }
    const char *v6s[] = { "::1", "::", "::ffff:127.0.0.1" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(decide(&c, SOCK_STREAM, v6(v6s[i], 8080), &e), TORIFY_CONNECT_REFUSE);
        assert_int_equal(e, TORIFY_E_REFUSE_LOCALHOST);
    }
    c.allow_localhost = true;
    assert_int_equal(decide(&c, SOCK_STREAM, v4("127.0.0.1", 8080), &e), TORIFY_CONNECT_DIRECT);
    assert_int_equal(decide(&c, SOCK_STREAM, v6("::1", 8080), &e), TORIFY_CONNECT_DIRECT);
    /* Fakes stay fakes even when loopback is allowed. */
    assert_int_equal(decide(&c, SOCK_STREAM, v4("127.192.0.1", 80), &e), TORIFY_CONNECT_FAKE);
}

static void test_connect_to_tor_itself_is_direct(void **state)
{
    struct torify_config c = cfg();
    torify_err e;
    assert_int_equal(decide(&c, SOCK_STREAM, v4("127.0.0.1", 9050), &e), TORIFY_CONNECT_DIRECT);
    assert_int_equal(decide(&c, SOCK_STREAM, v6("::ffff:127.0.0.1", 9050), &e), TORIFY_CONNECT_DIRECT);
    /* Another port on Tor's host is just loopback. */
    assert_int_equal(decide(&c, SOCK_STREAM, v4("127.0.0.1", 9051), &e), TORIFY_CONNECT_REFUSE);
}

static void test_connect_to_exempt_networks_is_direct(void **state)
{
    struct torify_config c = cfg();
    assert_int_equal(torify_cidr_parse("192.168.0.0/16", &c.exempt[0]), 0);
    assert_int_equal(torify_cidr_parse("fd00::/8", &c.exempt[1]), 0);
    c.n_exempt = 2;
    torify_err e;
    assert_int_equal(decide(&c, SOCK_STREAM, v4("192.168.4.5", 445), &e), TORIFY_CONNECT_DIRECT);
    assert_int_equal(decide(&c, SOCK_STREAM, v6("fd12::5", 445), &e), TORIFY_CONNECT_DIRECT);
    assert_int_equal(decide(&c, SOCK_STREAM, v4("192.169.0.1", 445), &e), TORIFY_CONNECT_TOR_IP);
}

static void test_connect_of_datagram_sockets_and_odd_families_is_refused(void **state)
{
    struct torify_config c = cfg();
    torify_err e;
    assert_int_equal(decide(&c, SOCK_DGRAM, v4("8.8.8.8", 53), &e), TORIFY_CONNECT_REFUSE);
    assert_int_equal(e, TORIFY_E_REFUSE_UDP);
    assert_int_equal(decide(&c, SOCK_RAW, v4("8.8.8.8", 0), &e), TORIFY_CONNECT_REFUSE);
    assert_int_equal(e, TORIFY_E_REFUSE_RAW);
    struct sockaddr sa = { .sa_family = AF_APPLETALK };
    assert_int_equal(torify_policy_connect(&c, SOCK_STREAM, &sa, sizeof sa, &e), TORIFY_CONNECT_REFUSE);
    assert_int_equal(e, TORIFY_E_REFUSE_FAMILY);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    assert_int_equal(torify_policy_connect(&c, SOCK_STREAM, (struct sockaddr *)&un, sizeof un, &e), TORIFY_CONNECT_DIRECT);
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    assert_int_equal(torify_policy_connect(&c, SOCK_DGRAM, &unspec, sizeof unspec, &e), TORIFY_CONNECT_DIRECT);
}

static void test_socks4a_cannot_carry_ipv6_targets(void **state)
{
    struct torify_config c = cfg();
    c.proto = TORIFY_SOCKS4A;
    torify_err e;
    assert_int_equal(decide(&c, SOCK_STREAM, v6("2001:db8::1", 80), &e), TORIFY_CONNECT_REFUSE);
    assert_int_equal(e, TORIFY_E_INVAL_TARGET);
    assert_int_equal(decide(&c, SOCK_STREAM, v4("93.184.216.34", 80), &e), TORIFY_CONNECT_TOR_IP);
    assert_int_equal(decide(&c, SOCK_STREAM, v6("100::1", 80), &e), TORIFY_CONNECT_FAKE); /* a name: fine */
}

static void test_listen_only_on_loopback_unless_inbound_allowed(void **state)
{
    struct torify_config c = cfg();
    assert_int_equal(listen_on(&c, v4("127.0.0.1", 8080)), TORIFY_OK);
    assert_int_equal(listen_on(&c, v6("::1", 8080)), TORIFY_OK);
    assert_int_equal(listen_on(&c, v4("0.0.0.0", 8080)), TORIFY_E_REFUSE_INBOUND);
    assert_int_equal(listen_on(&c, v6("::", 8080)), TORIFY_E_REFUSE_INBOUND);
    assert_int_equal(listen_on(&c, v4("192.168.1.5", 8080)), TORIFY_E_REFUSE_INBOUND);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    assert_int_equal(torify_policy_listen(&c, (struct sockaddr *)&un, sizeof un), TORIFY_OK);
    c.allow_inbound = true;
    assert_int_equal(listen_on(&c, v4("0.0.0.0", 8080)), TORIFY_OK);
}

static void test_send_refuses_datagrams_and_fast_open_with_a_destination(void **state)
{
    assert_int_equal(send_to(SOCK_DGRAM, 0, v4("8.8.8.8", 53)), TORIFY_E_REFUSE_UDP);
    assert_int_equal(send_to(SOCK_DGRAM, 0, v6("2001:4860::8888", 53)), TORIFY_E_REFUSE_UDP);
    assert_int_equal(send_to(SOCK_RAW, 0, v4("8.8.8.8", 0)), TORIFY_E_REFUSE_RAW);
    assert_int_equal(send_to(SOCK_STREAM, MSG_FASTOPEN, v4("93.184.216.34", 80)), TORIFY_E_REFUSE_TFO);
    assert_int_equal(send_to(SOCK_STREAM, 0, v4("93.184.216.34", 80)), TORIFY_OK);
    assert_int_equal(torify_policy_send(SOCK_DGRAM, 0, NULL, 0), TORIFY_OK);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    assert_int_equal(torify_policy_send(SOCK_DGRAM, 0, (struct sockaddr *)&un, sizeof un), TORIFY_OK);
}

static void test_the_machines_own_name_is_local(void **state)
{
    assert_int_equal(torify_policy_name_kind_on("myhost", "myhost"), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind_on("MyHost.", "myhost"), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind_on("myhost", "myhost."), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind_on("myhost.example.org", "myhost"), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind_on("otherhost", "myhost"), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind_on("myhost", ""), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind_on("myhost", NULL), TORIFY_NAME_HOST);
    /* Only plain names: an onion or a literal keeps its kind. */
    assert_int_equal(torify_policy_name_kind_on("abc.onion", "abc.onion"), TORIFY_NAME_ONION);
    assert_int_equal(torify_policy_name_kind_on("10.0.0.1", "10.0.0.1"), TORIFY_NAME_NUMERIC);
}

static void test_names_are_classified_without_any_lookup(void **state)
{
    assert_int_equal(torify_policy_name_kind("93.184.216.34"), TORIFY_NAME_NUMERIC);
    assert_int_equal(torify_policy_name_kind("2001:db8::1"), TORIFY_NAME_NUMERIC);
    assert_int_equal(torify_policy_name_kind("127.1"), TORIFY_NAME_NUMERIC); /* inet_aton form */
    assert_int_equal(torify_policy_name_kind("localhost"), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind("LocalHost."), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind("db.localhost"), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind("ip6-localhost"), TORIFY_NAME_LOCALHOST);
    assert_int_equal(torify_policy_name_kind("notlocalhost"), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind("abc.onion"), TORIFY_NAME_ONION);
    assert_int_equal(torify_policy_name_kind("abc.ONION."), TORIFY_NAME_ONION);
    assert_int_equal(torify_policy_name_kind("onion"), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind("www.example.com"), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind("1.2.3.4.nip.io"), TORIFY_NAME_HOST);
    assert_int_equal(torify_policy_name_kind(""), TORIFY_NAME_INVALID);
    assert_int_equal(torify_policy_name_kind("bad\nname"), TORIFY_NAME_INVALID);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(torify_policy_name_kind(big), TORIFY_NAME_INVALID);
}

static void test_isolation_credentials_differ_per_process_and_explicit_ones_win(void **state)
{
    struct torify_config c = cfg();
    char u1[256], p1[256], u2[256], p2[256];
    assert_false(torify_policy_credentials(&c, 100, 5, u1, sizeof u1, p1, sizeof p1));
    c.isolate_pid = true;
    assert_true(torify_policy_credentials(&c, 100, 5, u1, sizeof u1, p1, sizeof p1));
    assert_true(torify_policy_credentials(&c, 101, 5, u2, sizeof u2, p2, sizeof p2));
    assert_string_not_equal(u1, u2);
    /* The same pid reused later (another start time) is another process. */
    assert_true(torify_policy_credentials(&c, 100, 6, u2, sizeof u2, p2, sizeof p2));
    assert_string_not_equal(u1, u2);
    assert_true(strlen(u1) > 0 && strlen(p1) > 0);
    c.has_user = true;
    strcpy(c.user, "alice");
    c.has_pass = true;
    strcpy(c.pass, "pw");
    assert_true(torify_policy_credentials(&c, 100, 5, u1, sizeof u1, p1, sizeof p1));
    assert_string_equal(u1, "alice");
    assert_string_equal(p1, "pw");
}

/* Everything torify says to Tor gets its connect bounded by the table's
 * TORIFY_TOR_CONNECT_MS, within the whole timeout asked for. */
static void test_socks_opts_bound_the_connect_within_the_timeout(void **state)
{
    struct torify_config c = cfg();
    struct torify_socks_opts o;
    char u[TORIFY_POLICY_CRED_MAX], p[TORIFY_POLICY_CRED_MAX];
    torify_policy_socks_opts(&c, 100, 5, TORIFY_TOR_HANDSHAKE_MS, u, p, &o);
    assert_int_equal(o.timeout_ms, TORIFY_TOR_HANDSHAKE_MS);
    assert_int_equal(o.connect_timeout_ms, TORIFY_TOR_CONNECT_MS);
    torify_policy_socks_opts(&c, 100, 5, TORIFY_TOR_CHECK_MS, u, p, &o);
    assert_int_equal(o.timeout_ms, TORIFY_TOR_CHECK_MS);
    assert_int_equal(o.connect_timeout_ms, TORIFY_TOR_CHECK_MS);
    assert_null(o.user);
    /* A lone user name gets a partner (RFC 1929 needs both); SOCKS4a sends
     * the user id only. */
    c.has_user = true;
    strcpy(c.user, "alice");
    torify_policy_socks_opts(&c, 100, 5, TORIFY_TOR_CHECK_MS, u, p, &o);
    assert_string_equal(o.user, "alice");
    assert_string_equal(o.pass, "torify");
    c.proto = TORIFY_SOCKS4A;
    torify_policy_socks_opts(&c, 100, 5, TORIFY_TOR_CHECK_MS, u, p, &o);
    assert_int_equal(o.proto, TORIFY_SOCKS4A);
    assert_string_equal(o.user, "alice");
    assert_null(o.pass);
}

static const char *allow_var; /* the one variable test_env_get knows */
static const char *test_env_get(const char *name)
{
    return allow_var && strcmp(name, allow_var) == 0 ? "1" : NULL;
}

/* What a refusal line names must really lift the refusal: the key in
 * torify.conf and the variable in the environment, each on its own. */
static void test_refusals_name_the_setting_that_allows_them(void **state)
{
    (void)state;
    torify_err liftable[] = { TORIFY_E_REFUSE_LOCALHOST, TORIFY_E_REFUSE_INBOUND };
    for (size_t i = 0; i < 2; i++) {
        const struct torify_policy_allow *a = torify_policy_allow_for(liftable[i]);
        assert_non_null(a);
        char text[512];
        torify_policy_refusal_text(liftable[i], text, sizeof text);
        assert_non_null(strstr(text, a->key));
        assert_non_null(strstr(text, a->var));
        assert_null(strstr(text, "refused:"));
        for (int way = 0; way < 2; way++) {
            struct torify_config c;
            torify_config_defaults(&c);
            if (way == 0) {
                char line[128];
                snprintf(line, sizeof line, "%s 1\n", a->key);
                assert_int_equal(torify_config_parse(&c, line, strlen(line), "t", NULL, 0), TORIFY_OK);
            } else {
                allow_var = a->var;
                assert_int_equal(torify_config_apply_env(&c, test_env_get, NULL, 0), TORIFY_OK);
                allow_var = NULL;
            }
            torify_err e;
            if (liftable[i] == TORIFY_E_REFUSE_LOCALHOST) {
                assert_int_equal(torify_policy_connect(&c, SOCK_STREAM, v4("127.0.0.1", 8080), ss_len, &e),
                                 TORIFY_CONNECT_DIRECT);
            } else {
                assert_int_equal(torify_policy_listen(&c, v4("0.0.0.0", 8080), ss_len), TORIFY_OK);
            }
        }
    }
    const char *text = torify_strerror(TORIFY_E_REFUSE_LOCALHOST) + 9;
    char buf[512];
    assert_string_equal(torify_policy_refusal_text(TORIFY_E_REFUSE_LOCALHOST, buf, sizeof buf),
                        "outbound connection to localhost is not allowed; "
                        "allowed by AllowOutboundLocalhost 1 in torify.conf or TORIFY_ALLOW_LOCALHOST=1");
    assert_non_null(strstr(buf, text));
    /* Nothing lifts a UDP refusal: no setting is suggested. */
    assert_null(torify_policy_allow_for(TORIFY_E_REFUSE_UDP));
    assert_string_equal(torify_policy_refusal_text(TORIFY_E_REFUSE_UDP, buf, sizeof buf),
                        "UDP cannot be carried over Tor");
    /* A short buffer stays terminated. */
    assert_int_equal(strlen(torify_policy_refusal_text(TORIFY_E_REFUSE_LOCALHOST, buf, 10)), 9);
}

static void test_probes_that_send_nothing_are_refused_quietly(void **state)
{
    (void)state;
    assert_int_equal(torify_policy_refusal_level(TORIFY_E_REFUSE_UDP, true), TORIFY_LOG_DEBUG);
    assert_int_equal(torify_policy_refusal_level(TORIFY_E_REFUSE_UDP, false), TORIFY_LOG_NOTICE);
    assert_int_equal(torify_policy_refusal_level(TORIFY_E_REFUSE_DNS, true), TORIFY_LOG_DEBUG);
    /* A ping socket's refusal is the reason ping fails: always told. */
    assert_int_equal(torify_policy_refusal_level(TORIFY_E_REFUSE_RAW, true), TORIFY_LOG_NOTICE);
    assert_int_equal(torify_policy_refusal_level(TORIFY_E_REFUSE_LOCALHOST, true), TORIFY_LOG_NOTICE);
    assert_true(torify_policy_dns_type_carried(1));   /* A */
    assert_true(torify_policy_dns_type_carried(28));  /* AAAA */
    assert_true(torify_policy_dns_type_carried(12));  /* PTR */
    assert_false(torify_policy_dns_type_carried(33)); /* SRV */
    assert_false(torify_policy_dns_type_carried(15)); /* MX */
}

static void test_reverse_names_come_from_the_map_for_fakes_localhost_for_loopback_else_tor(void **state)
{
    struct torify_ip ip;
    { const struct sockaddr *sa = v4("127.192.0.5", 0); assert_int_equal(torify_ip_from_sockaddr(sa, ss_len, &ip), 0); }
    assert_int_equal(torify_policy_reverse_kind(&ip, true), TORIFY_REVERSE_FAKE);
    { const struct sockaddr *sa = v4("127.0.0.1", 0); assert_int_equal(torify_ip_from_sockaddr(sa, ss_len, &ip), 0); }
    assert_int_equal(torify_policy_reverse_kind(&ip, false), TORIFY_REVERSE_LOCALHOST);
    { const struct sockaddr *sa = v6("::1", 0); assert_int_equal(torify_ip_from_sockaddr(sa, ss_len, &ip), 0); }
    assert_int_equal(torify_policy_reverse_kind(&ip, false), TORIFY_REVERSE_LOCALHOST);
    { const struct sockaddr *sa = v6("::ffff:127.0.0.2", 0); assert_int_equal(torify_ip_from_sockaddr(sa, ss_len, &ip), 0); }
    assert_int_equal(torify_policy_reverse_kind(&ip, false), TORIFY_REVERSE_LOCALHOST);
    { const struct sockaddr *sa = v4("8.8.8.8", 0); assert_int_equal(torify_ip_from_sockaddr(sa, ss_len, &ip), 0); }
    assert_int_equal(torify_policy_reverse_kind(&ip, false), TORIFY_REVERSE_TOR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_passes_tcp_and_local_families_only),
        cmocka_unit_test(test_reverse_names_come_from_the_map_for_fakes_localhost_for_loopback_else_tor),
        cmocka_unit_test(test_connect_sends_public_addresses_through_tor),
        cmocka_unit_test(test_connect_to_fake_addresses_becomes_a_hostname_request),
        cmocka_unit_test(test_connect_refuses_loopback_unless_allowed),
        cmocka_unit_test(test_connect_to_tor_itself_is_direct),
        cmocka_unit_test(test_connect_to_exempt_networks_is_direct),
        cmocka_unit_test(test_connect_of_datagram_sockets_and_odd_families_is_refused),
        cmocka_unit_test(test_socks4a_cannot_carry_ipv6_targets),
        cmocka_unit_test(test_listen_only_on_loopback_unless_inbound_allowed),
        cmocka_unit_test(test_send_refuses_datagrams_and_fast_open_with_a_destination),
        cmocka_unit_test(test_names_are_classified_without_any_lookup),
        cmocka_unit_test(test_the_machines_own_name_is_local),
        cmocka_unit_test(test_isolation_credentials_differ_per_process_and_explicit_ones_win),
        cmocka_unit_test(test_socks_opts_bound_the_connect_within_the_timeout),
        cmocka_unit_test(test_refusals_name_the_setting_that_allows_them),
        cmocka_unit_test(test_probes_that_send_nothing_are_refused_quietly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
