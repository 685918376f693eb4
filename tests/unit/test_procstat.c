/*
 * test_procstat — reading fields of /proc/PID/stat: the command name may
 * hold spaces and ')', the text may be cut short or not be a number; the
 * shim and the guard derive IsolatePID credentials from the start time read
 * here, so both must get the same value as the kernel's own line says.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "core/procstat.h"

static int field(const char *text, int f, unsigned long long *v)
{
    return torify_procstat_field(text, strlen(text), f, v);
}

/* pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
 * cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
 * starttime vsize ... */
#define TAIL " S 1 10 10 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 987654 12345 67\n"

static void test_fields_are_counted_after_the_last_parenthesis_of_the_name(void **state)
{
    unsigned long long v = 0;
    assert_int_equal(field("42 (plain)" TAIL, TORIFY_PROCSTAT_STARTTIME, &v), 0);
    assert_int_equal(v, 987654);
    assert_int_equal(field("42 (a b) c) (d)" TAIL, TORIFY_PROCSTAT_STARTTIME, &v), 0);
    assert_int_equal(v, 987654);
    assert_int_equal(field("42 (x) 1 2 3)" TAIL, TORIFY_PROCSTAT_NUM_THREADS, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(field("42 (x)" TAIL, 4, &v), 0); /* ppid */
    assert_int_equal(v, 1);
}

static void test_short_or_malformed_lines_are_refused(void **state)
{
    unsigned long long v = 77;
    assert_int_equal(field("42 (x) S 1 10", TORIFY_PROCSTAT_STARTTIME, &v), -1);
    assert_int_equal(field("42 no parenthesis S 1 10 10 0", 4, &v), -1);
    assert_int_equal(field("42 (x)" TAIL, 3, &v), -1); /* the state letter is not a number */
    assert_int_equal(field("42 (x)" TAIL, 2, &v), -1);
    assert_int_equal(field("42 (x) S 1 10 10 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 99999999999999999999999 1\n",
                           TORIFY_PROCSTAT_STARTTIME, &v), -1);
    assert_int_equal(field("42 (x) S 1 10 10 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 12ab 1\n",
                           TORIFY_PROCSTAT_STARTTIME, &v), -1);
    assert_int_equal(v, 77); /* untouched on refusal */
    /* The length is honoured: the value must not be read past it. */
    const char *t = "42 (x)" TAIL;
    size_t cut = (size_t)(strstr(t, "987654") - t) + 3;
    assert_int_equal(torify_procstat_field(t, cut, TORIFY_PROCSTAT_STARTTIME, &v), 0);
    assert_int_equal(v, 987);
}

static void test_own_line_gives_this_process_one_thread_and_a_start_time(void **state)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    assert_true(n > 0);
    unsigned long long threads = 0, start = 0;
    assert_int_equal(torify_procstat_field(buf, (size_t)n, TORIFY_PROCSTAT_NUM_THREADS, &threads), 0);
    assert_int_equal(threads, 1);
    assert_int_equal(torify_procstat_field(buf, (size_t)n, TORIFY_PROCSTAT_STARTTIME, &start), 0);
    assert_true(start > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_are_counted_after_the_last_parenthesis_of_the_name),
        cmocka_unit_test(test_short_or_malformed_lines_are_refused),
        cmocka_unit_test(test_own_line_gives_this_process_one_thread_and_a_start_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
