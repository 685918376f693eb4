/*
 * test_guard_decide — the supervisor's policy for one connect(), as a pure
 * function of the configuration and the sockaddr copy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>
#include "core/fakemap.h"
#include "guard/internal.h"

static struct torify_config cfg;
static struct torify_fakemap *map; /* NULL unless a test makes one */

static int setup(void **st)
{
    (void)st;
    memset(&cfg, 0, sizeof cfg);
    map = NULL;
    struct sockaddr_in *t = (struct sockaddr_in *)&cfg.tor_addr;
    t->sin_family = AF_INET;
    t->sin_port = htons(9050);
    inet_pton(AF_INET, "127.0.0.1", &t->sin_addr);
    cfg.tor_addr_len = sizeof *t;
    cfg.proto = TORIFY_SOCKS5;
    cfg.fake4.family = AF_INET;
    inet_pton(AF_INET, "127.192.0.0", cfg.fake4.addr);
    cfg.fake4.prefix = 10;
    cfg.fake6.family = AF_INET6;
    inet_pton(AF_INET6, "100::", cfg.fake6.addr);
    cfg.fake6.prefix = 64;
    return 0;
}

static enum guard_action decide(const char *ip, uint16_t port, struct torify_target *t, int *e)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        len = sizeof *in;
    } else {
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        len = sizeof *in6;
    }
    torify_err why;
    return guard_decide(&cfg, &ss, len, map, t, e, &why);
}

static void test_public_ipv4_is_torified_with_ip_and_port(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    assert_int_equal(decide("93.184.216.34", 443, &t, &e), GUARD_TORIFY);
    assert_int_equal(t.kind, TORIFY_TARGET_IPV4);
    assert_memory_equal(t.addr, "\x5d\xb8\xd8\x22", 4);
    assert_int_equal(t.port, 443);
}

static void test_ipv6_is_torified_as_ipv6(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    assert_int_equal(decide("2001:db8::1", 80, &t, &e), GUARD_TORIFY);
    assert_int_equal(t.kind, TORIFY_TARGET_IPV6);
}

static void test_tor_address_is_connected_directly_also_v4_mapped(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    assert_int_equal(decide("127.0.0.1", 9050, &t, &e), GUARD_DIRECT);
    assert_int_equal(decide("::ffff:127.0.0.1", 9050, &t, &e), GUARD_DIRECT);
    /* Same host, other port: not Tor, and loopback is not allowed. */
    assert_int_equal(decide("127.0.0.1", 9051, &t, &e), GUARD_REFUSE);
    assert_int_equal(e, EPERM);
}

static void test_v4_mapped_destination_is_torified_as_ipv4(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    assert_int_equal(decide("::ffff:10.1.2.3", 80, &t, &e), GUARD_TORIFY);
    assert_int_equal(t.kind, TORIFY_TARGET_IPV4);
    assert_memory_equal(t.addr, "\x0a\x01\x02\x03", 4);
}

static void test_fake_addresses_are_refused_as_unknown_names(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    assert_int_equal(decide("127.192.0.7", 80, &t, &e), GUARD_REFUSE);
    assert_int_equal(e, torify_err_errno(TORIFY_E_REFUSE_UNKNOWN_FAKE));
    assert_int_equal(decide("100::9", 80, &t, &e), GUARD_REFUSE);
    assert_int_equal(e, torify_err_errno(TORIFY_E_REFUSE_UNKNOWN_FAKE));
    /* Just outside the /10: an ordinary loopback address, refused as such. */
    assert_int_equal(decide("127.128.0.1", 80, &t, &e), GUARD_REFUSE);
    assert_int_equal(e, torify_err_errno(TORIFY_E_REFUSE_LOCALHOST));
}

static void test_fake_addresses_connect_by_name_from_the_trees_map(void **st)
{
    (void)st;
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.range4 = cfg.fake4;
    o.range6 = cfg.fake6;
    assert_int_equal(torify_fakemap_create(&map, &o), TORIFY_OK);
    uint32_t slot;
    assert_int_equal(torify_fakemap_assign(map, "static.test", strlen("static.test"), &slot), TORIFY_OK);
    uint8_t a4[4], a6[16];
    char ip4[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN];
    torify_fakemap_addr4(map, slot, a4);
    torify_fakemap_addr6(map, slot, a6);
    inet_ntop(AF_INET, a4, ip4, sizeof ip4);
    inet_ntop(AF_INET6, a6, ip6, sizeof ip6);
    struct torify_target t;
    int e;
    assert_int_equal(decide(ip4, 443, &t, &e), GUARD_TORIFY);
    assert_int_equal(t.kind, TORIFY_TARGET_HOST);
    assert_string_equal(t.host, "static.test");
    assert_int_equal(t.port, 443);
    memset(&t, 0, sizeof t);
    assert_int_equal(decide(ip6, 80, &t, &e), GUARD_TORIFY);
    assert_string_equal(t.host, "static.test");
    /* A fake the map does not hold, and port 0, are still refused. */
    assert_int_equal(decide("127.250.0.9", 80, &t, &e), GUARD_REFUSE);
    assert_int_equal(e, torify_err_errno(TORIFY_E_REFUSE_UNKNOWN_FAKE));
    assert_int_equal(decide(ip4, 0, &t, &e), GUARD_REFUSE);
    torify_fakemap_destroy(map);
    map = NULL;
}

static void test_fake_range_wins_over_allowed_loopback(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    cfg.allow_localhost = true;
    assert_int_equal(decide("127.0.0.1", 631, &t, &e), GUARD_DIRECT);
    assert_int_equal(decide("::1", 631, &t, &e), GUARD_DIRECT);
    assert_int_equal(decide("127.192.0.7", 80, &t, &e), GUARD_REFUSE);
}

static void test_exempt_network_is_direct(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    cfg.exempt[0].family = AF_INET;
    inet_pton(AF_INET, "192.168.0.0", cfg.exempt[0].addr);
    cfg.exempt[0].prefix = 16;
    cfg.n_exempt = 1;
    assert_int_equal(decide("192.168.7.7", 22, &t, &e), GUARD_DIRECT);
    assert_int_equal(decide("192.169.7.7", 22, &t, &e), GUARD_TORIFY);
}

static void test_port_zero_is_refused(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    assert_int_equal(decide("10.0.0.1", 0, &t, &e), GUARD_REFUSE);
    assert_int_equal(e, torify_err_errno(TORIFY_E_INVAL_PORT));
}

static void test_ipv6_under_socks4a_is_refused(void **st)
{
    (void)st;
    struct torify_target t;
    int e;
    cfg.proto = TORIFY_SOCKS4A;
    assert_int_equal(decide("2001:db8::1", 80, &t, &e), GUARD_REFUSE);
    assert_int_equal(decide("10.0.0.1", 80, &t, &e), GUARD_TORIFY);
}

static void test_local_families_are_direct_others_refused(void **st)
{
    (void)st;
    struct sockaddr_storage ss;
    struct torify_target t;
    int e;
    torify_err why;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    assert_int_equal(guard_decide(&cfg, &ss, sizeof(struct sockaddr_un), NULL, &t, &e, &why), GUARD_DIRECT);
    ss.ss_family = AF_UNSPEC;
    assert_int_equal(guard_decide(&cfg, &ss, sizeof(sa_family_t), NULL, &t, &e, &why), GUARD_DIRECT);
    ss.ss_family = 40; /* AF_VSOCK: to the hypervisor, around every network namespace */
    assert_int_equal(guard_decide(&cfg, &ss, 16, NULL, &t, &e, &why), GUARD_REFUSE);
    assert_int_equal(e, EAFNOSUPPORT);
}

static void test_short_sockaddrs_are_einval(void **st)
{
    (void)st;
    struct sockaddr_storage ss;
    struct torify_target t;
    int e;
    torify_err why;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_INET;
    assert_int_equal(guard_decide(&cfg, &ss, 8, NULL, &t, &e, &why), GUARD_REFUSE);
    assert_int_equal(e, EINVAL);
    ss.ss_family = AF_INET6;
    assert_int_equal(guard_decide(&cfg, &ss, 20, NULL, &t, &e, &why), GUARD_REFUSE);
    assert_int_equal(e, EINVAL);
    assert_int_equal(guard_decide(&cfg, &ss, 1, NULL, &t, &e, &why), GUARD_REFUSE);
    assert_int_equal(e, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_public_ipv4_is_torified_with_ip_and_port, setup),
        cmocka_unit_test_setup(test_ipv6_is_torified_as_ipv6, setup),
        cmocka_unit_test_setup(test_tor_address_is_connected_directly_also_v4_mapped, setup),
        cmocka_unit_test_setup(test_v4_mapped_destination_is_torified_as_ipv4, setup),
        cmocka_unit_test_setup(test_fake_addresses_are_refused_as_unknown_names, setup),
        cmocka_unit_test_setup(test_fake_range_wins_over_allowed_loopback, setup),
        cmocka_unit_test_setup(test_fake_addresses_connect_by_name_from_the_trees_map, setup),
        cmocka_unit_test_setup(test_exempt_network_is_direct, setup),
        cmocka_unit_test_setup(test_port_zero_is_refused, setup),
        cmocka_unit_test_setup(test_ipv6_under_socks4a_is_refused, setup),
        cmocka_unit_test_setup(test_local_families_are_direct_others_refused, setup),
        cmocka_unit_test_setup(test_short_sockaddrs_are_einval, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
