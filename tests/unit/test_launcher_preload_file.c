/* launcher/preload_file: editing /etc/ld.so.preload text for
 * `torify --system enable|disable` — old content in, new content out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "launcher/launcher.h"

#define LIB "/usr/local/lib/torify/libtorify.so"

static char out[8192];

static const char *add(const char *text, const char *path, bool *changed)
{
    long n = preload_text_add(text, strlen(text), path, out, sizeof out, changed);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(out));
    return out;
}

static const char *rm(const char *text, const char *drop, bool *changed)
{
    long n = preload_text_remove(text, strlen(text), NULL, drop, out, sizeof out, changed);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(out));
    return out;
}

static void test_enable_on_an_empty_file_writes_one_line(void **state)
{
    bool ch;
    assert_string_equal(add("", LIB, &ch), LIB "\n");
    assert_true(ch);
}

static void test_enable_keeps_other_entries_and_comments_byte_for_byte(void **state)
{
    bool ch;
    const char *old = "# site preloads\n/usr/lib/libeatmydata.so   # for builds\n\n/lib/a.so:/lib/b.so\n";
    assert_string_equal(add(old, LIB, &ch), "# site preloads\n/usr/lib/libeatmydata.so   # for builds\n\n"
                                            "/lib/a.so:/lib/b.so\n" LIB "\n");
    assert_true(ch);
}

static void test_enable_adds_a_newline_to_a_last_line_without_one(void **state)
{
    bool ch;
    assert_string_equal(add("/lib/a.so", LIB, &ch), "/lib/a.so\n" LIB "\n");
}

static void test_enable_twice_is_one_entry(void **state)
{
    bool ch;
    char once[256];
    snprintf(once, sizeof once, "%s", add("/lib/a.so\n", LIB, &ch));
    assert_true(ch);
    assert_string_equal(add(once, LIB, &ch), once);
    assert_false(ch);
    /* Listed anywhere, also among others on one line: already enabled. */
    assert_string_equal(add("/lib/a.so " LIB " /lib/b.so\n", LIB, &ch), "/lib/a.so " LIB " /lib/b.so\n");
    assert_false(ch);
}

static void test_enable_replaces_another_torify_library(void **state)
{
    bool ch;
    assert_string_equal(add("/opt/old/libtorify.so\n/lib/a.so\n", LIB, &ch), "/lib/a.so\n" LIB "\n");
    assert_true(ch);
}

static void test_a_commented_out_entry_does_not_count(void **state)
{
    bool ch;
    assert_string_equal(add("#" LIB "\n", LIB, &ch), "#" LIB "\n" LIB "\n");
    assert_true(ch);
    assert_false(preload_text_lists("/lib/a.so # " LIB "\n", 22, LIB));
    assert_true(preload_text_lists("/lib/a.so:" LIB "\n", 10 + strlen(LIB), LIB));
}

static void test_disable_removes_only_torify_entries(void **state)
{
    bool ch;
    const char *old = "# site preloads\n" LIB "\n/usr/lib/libeatmydata.so # builds\n";
    assert_string_equal(rm(old, NULL, &ch), "# site preloads\n/usr/lib/libeatmydata.so # builds\n");
    assert_true(ch);
}

static void test_disable_keeps_the_rest_of_a_shared_line_and_its_comment(void **state)
{
    bool ch;
    assert_string_equal(rm("/lib/a.so:" LIB "\t/lib/b.so # keep me\n", NULL, &ch), "/lib/a.so /lib/b.so # keep me\n");
    assert_true(ch);
    assert_string_equal(rm(LIB " # torify\n", NULL, &ch), "# torify\n");
}

static void test_disable_of_a_file_that_only_listed_torify_is_empty(void **state)
{
    bool ch;
    assert_string_equal(rm(LIB "\n", NULL, &ch), "");
    assert_true(ch);
    assert_string_equal(rm("/a/libtorify.so\n/b/libtorify.so", NULL, &ch), "");
}

static void test_disable_without_torify_changes_nothing(void **state)
{
    bool ch;
    const char *old = "/lib/a.so\n# /x/libtorify.so in a comment\n/lib/libtorify.so.bak\n/lib/notlibtorify.so\n";
    assert_string_equal(rm(old, NULL, &ch), old);
    assert_false(ch);
    assert_string_equal(rm("", NULL, &ch), "");
    assert_false(ch);
}

static void test_disable_also_drops_a_library_named_otherwise(void **state)
{
    bool ch;
    assert_string_equal(rm("/lib/a.so\n/opt/t/shim.so\n", "/opt/t/shim.so", &ch), "/lib/a.so\n");
    assert_true(ch);
}

static void test_torify_entries_are_listed_for_status(void **state)
{
    char e[4][PRELOAD_ENTRY_MAX];
    const char *t = "/lib/a.so " LIB "\n# /c/libtorify.so\n/b/libtorify.so:/lib/z.so\n";
    assert_int_equal(preload_text_torify_entries(t, strlen(t), e, 4), 2);
    assert_string_equal(e[0], LIB);
    assert_string_equal(e[1], "/b/libtorify.so");
    assert_true(preload_entry_is_torify("libtorify.so", 12));
    assert_false(preload_entry_is_torify("/x/mylibtorify.so", 17));
}

static void test_system_library_directories_are_recognised(void **state)
{
    assert_true(preload_path_in_system_libs("/usr/lib/torify/libtorify.so"));
    assert_true(preload_path_in_system_libs("/usr/lib/x86_64-linux-gnu/libtorify.so"));
    assert_true(preload_path_in_system_libs("/lib64/libtorify.so.0"));
    assert_false(preload_path_in_system_libs("/usr/local/lib/torify/libtorify.so"));
    assert_false(preload_path_in_system_libs("/opt/lib/libtorify.so"));
    assert_false(preload_path_in_system_libs("/usr/libexec/libtorify.so"));
    assert_false(preload_path_in_system_libs("/usr/lib/torify/notalibrary"));
}

static void test_output_that_does_not_fit_is_an_error(void **state)
{
    bool ch;
    char small[8];
    assert_int_equal(preload_text_add("/lib/a.so\n", 10, LIB, small, sizeof small, &ch), -1);
    assert_int_equal(preload_text_remove("/lib/a.so\n", 10, NULL, NULL, small, sizeof small, &ch), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enable_on_an_empty_file_writes_one_line),
        cmocka_unit_test(test_enable_keeps_other_entries_and_comments_byte_for_byte),
        cmocka_unit_test(test_enable_adds_a_newline_to_a_last_line_without_one),
        cmocka_unit_test(test_enable_twice_is_one_entry),
        cmocka_unit_test(test_enable_replaces_another_torify_library),
        cmocka_unit_test(test_a_commented_out_entry_does_not_count),
        cmocka_unit_test(test_disable_removes_only_torify_entries),
        cmocka_unit_test(test_disable_keeps_the_rest_of_a_shared_line_and_its_comment),
        cmocka_unit_test(test_disable_of_a_file_that_only_listed_torify_is_empty),
        cmocka_unit_test(test_disable_without_torify_changes_nothing),
        cmocka_unit_test(test_disable_also_drops_a_library_named_otherwise),
        cmocka_unit_test(test_torify_entries_are_listed_for_status),
        cmocka_unit_test(test_system_library_directories_are_recognised),
        cmocka_unit_test(test_output_that_does_not_fit_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
