/* core/log: one line per event, levels, refusal lines, quiet by default. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/log_fold.h"

static size_t fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    size_t n = torify_log_format(buf, len, f, ap);
    va_end(ap);
    return n;
}

static int pipefd[2];
static struct torify_logger test_logger; /* the process's logger in this test */

static int setup_pipe(void **state)
{
    if (pipe2(pipefd, O_NONBLOCK) != 0)
        return -1;
    return 0;
}

static int teardown_pipe(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_QUIET, 2);
    close(pipefd[0]);
    close(pipefd[1]);
    return 0;
}

static const char *drain(void)
{
    static char buf[4096];
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_lines_have_the_prefix_and_one_newline(void **state)
{
    char buf[128];
    size_t n = fmt(buf, sizeof buf, "hello %d", 42);
    assert_string_equal(buf, "torify: hello 42\n");
    assert_int_equal(n, strlen(buf));
}

static void test_long_messages_are_cut_visibly_within_the_buffer(void **state)
{
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char buf[64];
    size_t n = fmt(buf, sizeof buf, "%s", big);
    assert_int_equal(n, sizeof buf - 1);
    assert_int_equal(strlen(buf), sizeof buf - 1);
    assert_int_equal(buf[n - 1], '\n');
    assert_memory_equal(buf + n - 4, "...", 3);
    assert_memory_equal(buf, "torify: xxx", 11);
}

static void test_embedded_newlines_cannot_forge_extra_lines(void **state)
{
    char buf[128];
    fmt(buf, sizeof buf, "name %s", "evil\ntorify: fake line");
    assert_non_null(strchr(buf, '\n'));
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
}

static void test_level_names_round_trip_and_unknown_is_rejected(void **state)
{
    const char *names[] = { "quiet", "error", "notice", "info", "debug" };
    for (int i = 0; i < 5; i++) {
        enum torify_log_level l;
        assert_int_equal(torify_log_level_parse(names[i], &l), 0);
        assert_int_equal(l, i);
        assert_string_equal(torify_log_level_name(l), names[i]);
    }
    enum torify_log_level l;
    assert_int_equal(torify_log_level_parse("NOTICE", &l), 0);
    assert_int_equal(l, TORIFY_LOG_NOTICE);
    assert_int_equal(torify_log_level_parse("verbose", &l), -1);
}

static void test_quiet_writes_nothing(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_QUIET, pipefd[1]);
    torify_log(TORIFY_LOG_ERROR, "should not appear");
    int e = torify_refuse(TORIFY_E_REFUSE_UDP, "sendto 8.8.8.8:53");
    assert_int_equal(e, EPERM); /* the errno is still given */
    assert_string_equal(drain(), "");
}

static void test_levels_filter_messages(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_NOTICE, pipefd[1]);
    torify_log(TORIFY_LOG_DEBUG, "debug detail");
    torify_log(TORIFY_LOG_INFO, "info detail");
    torify_log(TORIFY_LOG_NOTICE, "notice %s", "shown");
    torify_log(TORIFY_LOG_ERROR, "error shown");
    assert_string_equal(drain(), "torify: notice shown\ntorify: error shown\n");
    assert_true(torify_log_enabled(TORIFY_LOG_NOTICE));
    assert_false(torify_log_enabled(TORIFY_LOG_INFO));
    assert_false(torify_log_enabled(TORIFY_LOG_QUIET));
}

static void test_refusal_is_one_line_saying_what_and_why(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_NOTICE, pipefd[1]);
    int e = torify_refuse(TORIFY_E_REFUSE_UDP, "socket(%s)", "AF_INET, SOCK_DGRAM");
    assert_int_equal(e, torify_err_errno(TORIFY_E_REFUSE_UDP));
    const char *line = drain();
    assert_true(strncmp(line, "torify: refused socket(AF_INET, SOCK_DGRAM) (", 45) == 0);
    assert_non_null(strstr(line, "UDP"));
    assert_null(strstr(line, "(refused:")); /* "refused" is said once */
    assert_int_equal(line[strlen(line) - 1], '\n');
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
}

static void test_refusal_names_the_way_out(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_NOTICE, pipefd[1]);
    torify_refuse(TORIFY_E_REFUSE_LOCALHOST, "connect to %s", "127.0.0.1:18097");
    assert_string_equal(drain(), "torify: refused connect to 127.0.0.1:18097 (outbound connection to localhost "
                                 "is not allowed; allowed by AllowOutboundLocalhost 1 in torify.conf or "
                                 "TORIFY_ALLOW_LOCALHOST=1)\n");
}

static void test_refusal_at_debug_is_hidden_at_notice(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_NOTICE, pipefd[1]);
    int e = torify_refuse_at(TORIFY_LOG_DEBUG, TORIFY_E_REFUSE_UDP, "socket(%s)", "AF_INET6, SOCK_DGRAM, 0");
    assert_int_equal(e, torify_err_errno(TORIFY_E_REFUSE_UDP)); /* same errno either way */
    assert_string_equal(drain(), "");
    torify_logger_setup(&test_logger, TORIFY_LOG_DEBUG, pipefd[1]);
    torify_refuse_at(TORIFY_LOG_DEBUG, TORIFY_E_REFUSE_UDP, "socket(%s)", "AF_INET6, SOCK_DGRAM, 0");
    assert_string_equal(drain(), "torify: refused socket(AF_INET6, SOCK_DGRAM, 0) (UDP cannot be carried over Tor)\n");
}

static void test_logging_never_changes_errno(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_DEBUG, pipefd[1]);
    close(pipefd[0]); /* writes now fail with EPIPE */
    pipefd[0] = open("/dev/null", O_RDONLY);
    signal(SIGPIPE, SIG_IGN);
    errno = ENOENT;
    torify_log(TORIFY_LOG_ERROR, "into a broken pipe");
    assert_int_equal(errno, ENOENT);
}

static void test_a_reused_log_fd_is_never_written(void **state)
{
    char path[] = "/tmp/torify-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    torify_logger_setup(&test_logger, TORIFY_LOG_NOTICE, fd);
    torify_log(TORIFY_LOG_NOTICE, "first");
    /* The program closes our log fd and the number comes back as its own file. */
    close(fd);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    int other = dup2(pfd[1], fd);
    assert_int_equal(other, fd);
    torify_log(TORIFY_LOG_NOTICE, "second");
    char buf[64];
    assert_int_equal(fcntl(pfd[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(read(pfd[0], buf, sizeof buf), -1); /* nothing reached the program's pipe */
    int r = open(path, O_RDONLY);
    ssize_t n = read(r, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    assert_string_equal(buf, "torify: first\n");
    close(r);
    close(other);
    close(pfd[0]);
    close(pfd[1]);
    unlink(path);
    torify_logger_setup(&test_logger, TORIFY_LOG_QUIET, 2);
}

static void test_identical_lines_are_folded_into_a_count(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_DEBUG, pipefd[1]);
    for (int i = 0; i < 4; i++)
        torify_log(TORIFY_LOG_DEBUG, "guard: unix:/var/run/nscd/socket (%s)", "No such file or directory");
    assert_string_equal(drain(), "torify: guard: unix:/var/run/nscd/socket (No such file or directory)\n");
    torify_log(TORIFY_LOG_NOTICE, "something else");
    assert_string_equal(drain(), "torify: (previous line repeated 3 times)\ntorify: something else\n");
    /* Once counted, the same line is written again when it comes back later. */
    torify_log(TORIFY_LOG_DEBUG, "guard: unix:/var/run/nscd/socket (%s)", "No such file or directory");
    assert_string_equal(drain(), "torify: guard: unix:/var/run/nscd/socket (No such file or directory)\n");
    torify_log(TORIFY_LOG_DEBUG, "guard: unix:/var/run/nscd/socket (%s)", "No such file or directory");
    assert_string_equal(drain(), "");
    /* A new destination (and exit) says what is pending. */
    torify_logger_setup(&test_logger, TORIFY_LOG_DEBUG, pipefd[1]);
    assert_string_equal(drain(), "torify: (previous line repeated 1 time)\n");
}

static void test_the_fold_counts_aloud_at_an_interval(void **state)
{
    (void)state;
    struct torify_log_fold f = { 0 };
    char out[TORIFY_LOG_FOLD_OUT_MAX];
    const char line[] = "torify: same\n";
    size_t n = torify_log_fold_feed(&f, line, sizeof line - 1, 1000, out, sizeof out);
    assert_int_equal(n, sizeof line - 1);
    assert_int_equal(torify_log_fold_feed(&f, line, sizeof line - 1, 1001, out, sizeof out), 0);
    assert_int_equal(torify_log_fold_feed(&f, line, sizeof line - 1, 1002, out, sizeof out), 0);
    n = torify_log_fold_feed(&f, line, sizeof line - 1, 1001 + TORIFY_LOG_FOLD_INTERVAL_MS, out, sizeof out);
    out[n] = '\0';
    assert_string_equal(out, "torify: (previous line repeated 3 times)\n");
    assert_int_equal(torify_log_fold_feed(&f, line, sizeof line - 1, 20000, out, sizeof out), 0);
    n = torify_log_fold_flush(&f, out, sizeof out);
    out[n] = '\0';
    assert_string_equal(out, "torify: (previous line repeated 1 time)\n");
    assert_int_equal(torify_log_fold_flush(&f, out, sizeof out), 0);
    /* The lock knows its owner: re-entering from the same thread (a signal
     * handler) is told to write unfolded rather than deadlock. */
    assert_int_equal(torify_log_fold_lock(&f), 1);
    assert_int_equal(torify_log_fold_lock(&f), 0);
    torify_log_fold_unlock(&f);
    assert_int_equal(torify_log_fold_lock(&f), 1);
    torify_log_fold_unlock(&f);
}

#define FOLD_THREADS 4
#define FOLD_EACH 200

static void *log_same_line(void *arg)
{
    (void)arg;
    for (int i = 0; i < FOLD_EACH; i++)
        torify_log(TORIFY_LOG_NOTICE, "from every thread");
    return NULL;
}

static void test_folding_holds_across_threads(void **state)
{
    torify_logger_setup(&test_logger, TORIFY_LOG_NOTICE, pipefd[1]);
    pthread_t t[FOLD_THREADS];
    for (int i = 0; i < FOLD_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_same_line, NULL), 0);
    for (int i = 0; i < FOLD_THREADS; i++)
        pthread_join(t[i], NULL);
    torify_log(TORIFY_LOG_NOTICE, "done");
    char want[256];
    snprintf(want, sizeof want, "torify: from every thread\ntorify: (previous line repeated %d times)\ntorify: done\n",
             FOLD_THREADS * FOLD_EACH - 1);
    assert_string_equal(drain(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_have_the_prefix_and_one_newline),
        cmocka_unit_test(test_long_messages_are_cut_visibly_within_the_buffer),
        cmocka_unit_test(test_embedded_newlines_cannot_forge_extra_lines),
        cmocka_unit_test(test_level_names_round_trip_and_unknown_is_rejected),
        cmocka_unit_test_setup_teardown(test_quiet_writes_nothing, setup_pipe, teardown_pipe),
        cmocka_unit_test_setup_teardown(test_levels_filter_messages, setup_pipe, teardown_pipe),
        cmocka_unit_test_setup_teardown(test_refusal_is_one_line_saying_what_and_why, setup_pipe, teardown_pipe),
        cmocka_unit_test_setup_teardown(test_refusal_names_the_way_out, setup_pipe, teardown_pipe),
        cmocka_unit_test_setup_teardown(test_identical_lines_are_folded_into_a_count, setup_pipe, teardown_pipe),
        cmocka_unit_test(test_the_fold_counts_aloud_at_an_interval),
        cmocka_unit_test_setup_teardown(test_folding_holds_across_threads, setup_pipe, teardown_pipe),
        cmocka_unit_test_setup_teardown(test_refusal_at_debug_is_hidden_at_notice, setup_pipe, teardown_pipe),
        cmocka_unit_test_setup_teardown(test_logging_never_changes_errno, setup_pipe, teardown_pipe),
        cmocka_unit_test(test_a_reused_log_fd_is_never_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
