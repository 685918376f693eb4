/* The one error enum: every value has a name, a message and an errno. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <torify/error.h>

static void test_every_error_has_a_distinct_name_and_message(void **state)
{
    for (int i = 0; i < TORIFY_E__COUNT; i++) {
        const char *name = torify_err_name((torify_err)i);
        const char *msg = torify_strerror((torify_err)i);
        assert_non_null(name);
        assert_non_null(msg);
        assert_string_not_equal(name, "TORIFY_E_UNKNOWN"); /* a missing table entry */
        assert_string_not_equal(msg, "unknown torify error");
        assert_true(strncmp(name, "TORIFY_", 7) == 0);
        assert_true(strlen(msg) > 5);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(name, torify_err_name((torify_err)j));
            assert_string_not_equal(msg, torify_strerror((torify_err)j));
        }
    }
}

static void test_names_match_the_enum_identifiers(void **state)
{
    assert_string_equal(torify_err_name(TORIFY_OK), "TORIFY_OK");
    assert_string_equal(torify_err_name(TORIFY_E_S5_CONN_REFUSED), "TORIFY_E_S5_CONN_REFUSED");
    assert_string_equal(torify_err_name(TORIFY_E_TOR_HS_INTRO_TIMEOUT), "TORIFY_E_TOR_HS_INTRO_TIMEOUT");
    assert_string_equal(torify_err_name(TORIFY_E_REFUSE_CONFIG), "TORIFY_E_REFUSE_CONFIG");
}

static void test_out_of_range_values_are_answered_safely(void **state)
{
    assert_string_equal(torify_strerror(TORIFY_E__COUNT), "unknown torify error");
    assert_string_equal(torify_strerror((torify_err)-1), "unknown torify error");
    assert_string_equal(torify_err_name((torify_err)100000), "TORIFY_E_UNKNOWN");
    assert_int_equal(torify_err_errno((torify_err)-5), EINVAL);
}

static void test_only_success_maps_to_errno_zero(void **state)
{
    assert_int_equal(torify_err_errno(TORIFY_OK), 0);
    for (int i = 1; i < TORIFY_E__COUNT; i++)
        assert_true(torify_err_errno((torify_err)i) > 0);
}

static void test_connect_failures_map_to_connect_errnos(void **state)
{
    assert_int_equal(torify_err_errno(TORIFY_E_S5_CONN_REFUSED), ECONNREFUSED);
    assert_int_equal(torify_err_errno(TORIFY_E_S4_REJECTED), ECONNREFUSED);
    assert_int_equal(torify_err_errno(TORIFY_E_S5_GENERAL), ECONNREFUSED);
    assert_int_equal(torify_err_errno(TORIFY_E_S5_HOST_UNREACH), EHOSTUNREACH);
    assert_int_equal(torify_err_errno(TORIFY_E_S5_NET_UNREACH), ENETUNREACH);
    assert_int_equal(torify_err_errno(TORIFY_E_S5_TTL_EXPIRED), ETIMEDOUT);
    assert_int_equal(torify_err_errno(TORIFY_E_TIMEOUT), ETIMEDOUT);
    assert_int_equal(torify_err_errno(TORIFY_E_S5_NOT_ALLOWED), EACCES);
    assert_int_equal(torify_err_errno(TORIFY_E_S5_ATYP_UNSUPPORTED), EAFNOSUPPORT);
}

static void test_unreachable_proxy_fails_closed_as_refused(void **state)
{
    assert_int_equal(torify_err_errno(TORIFY_E_PROXY_UNREACHABLE), ECONNREFUSED);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_CONFIG), ECONNREFUSED);
}

static void test_onion_service_errors_are_host_unreachable_or_timeout(void **state)
{
    for (int e = TORIFY_E_TOR_HS_DESC_NOT_FOUND; e < TORIFY_E_TOR_HS_INTRO_TIMEOUT; e++)
        assert_int_equal(torify_err_errno((torify_err)e), EHOSTUNREACH);
    assert_int_equal(torify_err_errno(TORIFY_E_TOR_HS_INTRO_TIMEOUT), ETIMEDOUT);
}

static void test_protocol_violations_are_eproto_and_bad_input_einval(void **state)
{
    for (int e = TORIFY_E_PROTO_VERSION; e <= TORIFY_E_PROTO_RESOLVE_TYPE; e++)
        assert_int_equal(torify_err_errno((torify_err)e), EPROTO);
    assert_int_equal(torify_err_errno(TORIFY_E_AUTH_BAD_METHOD), EPROTO);
    for (int e = TORIFY_E_INVAL_HOST_EMPTY; e <= TORIFY_E_INVAL_STATE; e++)
        assert_int_equal(torify_err_errno((torify_err)e), EINVAL);
}

static void test_policy_refusals_have_fitting_errnos(void **state)
{
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_UDP), EPERM);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_RAW), EPERM);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_DNS), EPERM);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_FAMILY), EAFNOSUPPORT);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_INBOUND), EPERM);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_LOCALHOST), EPERM);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_TFO), EOPNOTSUPP);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_UNKNOWN_FAKE), EHOSTUNREACH);
    assert_int_equal(torify_err_errno(TORIFY_E_REFUSE_PATH), ENOSYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_a_distinct_name_and_message),
        cmocka_unit_test(test_names_match_the_enum_identifiers),
        cmocka_unit_test(test_out_of_range_values_are_answered_safely),
        cmocka_unit_test(test_only_success_maps_to_errno_zero),
        cmocka_unit_test(test_connect_failures_map_to_connect_errnos),
        cmocka_unit_test(test_unreachable_proxy_fails_closed_as_refused),
        cmocka_unit_test(test_onion_service_errors_are_host_unreachable_or_timeout),
        cmocka_unit_test(test_protocol_violations_are_eproto_and_bad_input_einval),
        cmocka_unit_test(test_policy_refusals_have_fitting_errnos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
