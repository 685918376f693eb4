/* core/lookup: the one answer to a name lookup (getaddrinfo, gethostbyname*, DNS). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/fakemap.h"
#include "core/lookup.h"

static struct torify_fakemap *map_of(uint32_t cap)
{
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.capacity = cap;
    struct torify_fakemap *m = NULL;
    assert_int_equal(torify_fakemap_create(&m, &o), TORIFY_OK);
    return m;
}

static enum torify_lookup look(struct torify_fakemap *m, const char *name, int family, bool ok, uint8_t addr[16],
                               uint32_t *slot)
{
    enum torify_name_kind k = torify_policy_name_kind_on(name, "mybox");
    return torify_lookup_name(k, name, family, ok, torify_lookup_needs_map(k) ? m : NULL, addr, slot);
}

static void assert_text(int family, const uint8_t *addr, const char *want)
{
    char t[64];
    assert_non_null(inet_ntop(family, addr, t, sizeof t));
    assert_string_equal(t, want);
}

static void test_literals_are_themselves_in_their_own_family_only(void **state)
{
    uint8_t a[16];
    uint32_t slot = 0;
    assert_int_equal(look(NULL, "10.1", AF_INET, true, a, &slot), TORIFY_LOOKUP_OK);
    assert_text(AF_INET, a, "10.0.0.1"); /* inet_aton's short form */
    assert_int_equal(slot, TORIFY_FAKEMAP_NO_SLOT);
    assert_int_equal(look(NULL, "10.1.2.3", AF_INET6, true, a, NULL), TORIFY_LOOKUP_NODATA);
    assert_int_equal(look(NULL, "2001:db8::5", AF_INET6, true, a, NULL), TORIFY_LOOKUP_OK);
    assert_text(AF_INET6, a, "2001:db8::5");
    assert_int_equal(look(NULL, "2001:db8::5", AF_INET, true, a, NULL), TORIFY_LOOKUP_NODATA);
}

static void test_localhost_and_the_own_name_are_loopback_without_a_map(void **state)
{
    uint8_t a[16];
    const char *names[] = { "localhost", "x.localhost", "ip6-loopback", "MYBOX" };
    for (size_t i = 0; i < 4; i++) {
        assert_false(torify_lookup_needs_map(torify_policy_name_kind_on(names[i], "mybox")));
        assert_int_equal(look(NULL, names[i], AF_INET, false, a, NULL), TORIFY_LOOKUP_OK);
        assert_text(AF_INET, a, "127.0.0.1");
        assert_int_equal(look(NULL, names[i], AF_INET6, false, a, NULL), TORIFY_LOOKUP_OK);
        assert_text(AF_INET6, a, "::1");
    }
}

static void test_host_and_onion_names_get_their_slots_fake_addresses(void **state)
{
    struct torify_fakemap *m = map_of(0);
    uint8_t a[16], b[16], want[16];
    uint32_t slot;
    assert_int_equal(look(m, "web.test", AF_INET, true, a, &slot), TORIFY_LOOKUP_OK);
    torify_fakemap_addr4(m, slot, want);
    assert_memory_equal(a, want, 4);
    assert_int_equal(look(m, "WEB.test.", AF_INET6, true, b, NULL), TORIFY_LOOKUP_OK);
    torify_fakemap_addr6(m, slot, want);
    assert_memory_equal(b, want, 16);
    assert_int_equal(look(m, "abc.onion", AF_INET, true, a, &slot), TORIFY_LOOKUP_OK);
    assert_true(torify_fakemap_in_range(m, AF_INET, a));
    assert_int_equal(torify_fakemap_count(m), 2);
    torify_fakemap_destroy(m);
}

static void test_broken_config_refuses_host_names_full_map_is_again_bad_names_none(void **state)
{
    struct torify_fakemap *m = map_of(2);
    uint8_t a[16];
    uint32_t slot;
    assert_int_equal(look(m, "web.test", AF_INET, false, a, NULL), TORIFY_LOOKUP_REFUSED);
    assert_int_equal(torify_fakemap_count(m), 0);
    assert_int_equal(look(m, "one.test", AF_INET, true, a, &slot), TORIFY_LOOKUP_OK);
    torify_fakemap_hold(m, slot);
    assert_int_equal(look(m, "one-more.test", AF_INET, true, a, &slot), TORIFY_LOOKUP_OK);
    torify_fakemap_hold(m, slot);
    assert_int_equal(look(m, "two.test", AF_INET, true, a, NULL), TORIFY_LOOKUP_AGAIN);
    assert_int_equal(look(NULL, "two.test", AF_INET, true, a, NULL), TORIFY_LOOKUP_AGAIN);
    assert_int_equal(look(m, "bad\x01name", AF_INET, true, a, NULL), TORIFY_LOOKUP_NONAME);
    assert_int_equal(look(m, "", AF_INET, true, a, NULL), TORIFY_LOOKUP_NONAME);
    assert_int_equal(look(m, "web.test", AF_UNIX, true, a, NULL), TORIFY_LOOKUP_NODATA);
    torify_fakemap_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_are_themselves_in_their_own_family_only),
        cmocka_unit_test(test_localhost_and_the_own_name_are_loopback_without_a_map),
        cmocka_unit_test(test_host_and_onion_names_get_their_slots_fake_addresses),
        cmocka_unit_test(test_broken_config_refuses_host_names_full_map_is_again_bad_names_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
