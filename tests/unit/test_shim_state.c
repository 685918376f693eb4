/* shim/state: the fd table (bitmap + chunked records) and lazy config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "shim/state.h"

static struct torify_fd_rec rec_for(const char *host, uint16_t port, uint32_t slot)
{
    struct torify_fd_rec r;
    memset(&r, 0, sizeof r);
    r.state = TORIFY_FD_CONNECTED;
    r.fake_slot = slot;
    assert_int_equal(torify_target_host(&r.target, host, strlen(host), port), TORIFY_OK);
    r.peer_len = 16;
    memset(&r.peer, 0xab, 16);
    return r;
}

static void test_untracked_fds_have_no_state(void **state)
{
    struct torify_fd_rec out;
    for (int fd = -5; fd < 2000; fd += 7) {
        assert_false(torify_fd_tracked(fd));
        assert_false(torify_fd_get(fd, &out));
    }
    assert_false(torify_fd_tracked(TORIFY_FD_MAX));
    assert_false(torify_fd_tracked(-1));
    torify_fd_clear(-1);           /* harmless */
    torify_fd_clear(TORIFY_FD_MAX); /* harmless */
}

static void test_set_get_clear_round_trip(void **state)
{
    struct torify_fd_rec r = rec_for("a.test", 80, TORIFY_FAKEMAP_NO_SLOT), out;
    assert_true(torify_fd_set(5, &r));
    assert_true(torify_fd_tracked(5));
    assert_false(torify_fd_tracked(4));
    assert_false(torify_fd_tracked(6));
    assert_true(torify_fd_get(5, &out));
    assert_int_equal(out.state, TORIFY_FD_CONNECTED);
    assert_string_equal(out.target.host, "a.test");
    assert_int_equal(out.target.port, 80);
    assert_int_equal(out.peer_len, 16);
    torify_fd_clear(5);
    assert_false(torify_fd_tracked(5));
    assert_false(torify_fd_get(5, &out));
}

static void test_neighbouring_and_distant_fds_are_independent(void **state)
{
    int fds[] = { 0, 63, 64, 255, 256, 1000, 65535, 300000, (int)TORIFY_FD_MAX - 1 };
    size_t n = sizeof fds / sizeof fds[0];
    for (size_t i = 0; i < n; i++) {
        char host[32];
        snprintf(host, sizeof host, "h%zu.test", i);
        struct torify_fd_rec r = rec_for(host, (uint16_t)(1000 + i), TORIFY_FAKEMAP_NO_SLOT);
        assert_true(torify_fd_set(fds[i], &r));
    }
    for (size_t i = 0; i < n; i++) {
        struct torify_fd_rec out;
        char host[32];
        snprintf(host, sizeof host, "h%zu.test", i);
        assert_true(torify_fd_get(fds[i], &out));
        assert_string_equal(out.target.host, host);
        assert_int_equal(out.target.port, 1000 + i);
    }
    torify_fd_clear(64);
    assert_true(torify_fd_tracked(63));
    assert_false(torify_fd_tracked(64));
    assert_true(torify_fd_tracked(255));
    for (size_t i = 0; i < n; i++)
        torify_fd_clear(fds[i]);
    for (size_t i = 0; i < n; i++)
        assert_false(torify_fd_tracked(fds[i]));
}

static void test_fds_beyond_the_table_are_refused_not_corrupted(void **state)
{
    struct torify_fd_rec r = rec_for("big.test", 1, TORIFY_FAKEMAP_NO_SLOT);
    assert_false(torify_fd_set((int)TORIFY_FD_MAX, &r));
    assert_false(torify_fd_set(-3, &r));
    assert_false(torify_fd_tracked((int)TORIFY_FD_MAX));
}

static void test_clearing_releases_the_fake_name_hold(void **state)
{
    torify_err err = TORIFY_OK;
    struct torify_fakemap *m = torify_state_fakemap(&err);
    assert_non_null(m);
    uint32_t cap = torify_fakemap_capacity(m);
    assert_true(cap >= 65536);
    uint32_t slot;
    assert_int_equal(torify_fakemap_assign(m, "held.test", 9, &slot), TORIFY_OK);
    torify_fakemap_hold(m, slot);
    struct torify_fd_rec r = rec_for("held.test", 80, slot);
    assert_true(torify_fd_set(9, &r));
    /* Replacing the record (a new connect on the fd) releases the old hold;
     * so does clearing.  Check via recycling: fill the map so that held.test
     * becomes the least recently used and is only recycled once released. */
    torify_fd_clear(9);
    char name[32];
    for (uint32_t i = 0; i < cap; i++) {
        snprintf(name, sizeof name, "fill%u.test", i);
        uint32_t s;
        assert_int_equal(torify_fakemap_assign(m, name, strlen(name), &s), TORIFY_OK);
    }
    char back[256];
    uint8_t a[4];
    torify_fakemap_addr4(m, slot, a);
    assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, a, back, sizeof back, NULL), TORIFY_OK);
    assert_string_not_equal(back, "held.test"); /* released, so it could be recycled */
}

static void test_config_is_loaded_once_and_shared(void **state)
{
    const struct torify_state_config *a = torify_state_config();
    const struct torify_state_config *b = torify_state_config();
    assert_ptr_equal(a, b);
    assert_int_equal(a->config_err, TORIFY_OK);
    assert_int_equal(a->cfg.tor_port, 9333); /* from this test's environment */
    /* A change of environment later does not change the loaded config. */
    setenv("TORIFY_TOR_PORT", "9444", 1);
    assert_int_equal(torify_state_config()->cfg.tor_port, 9333);
}

/* Child mode (exec'd by the test below): a process whose environment is
 * broken loads the configuration lazily, records the error and its reason. */
static int child_bad_config(void)
{
    const struct torify_state_config *st = torify_state_config();
    if (st->config_err != TORIFY_E_REFUSE_CONFIG)
        return 10;
    if (!strstr(st->config_msg, "environment TORIFY_TOR_PORT"))
        return 11;
    return 0;
}

static void test_a_broken_config_is_recorded_for_failing_closed(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TORIFY_TOR_PORT", "notaport", 1);
        setenv("TORIFY_LOG_LEVEL", "quiet", 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2); /* the one error line is expected; keep the TAP output clean */
        execl("/proc/self/exe", "test_shim_state", "--child-bad-config", (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_exempt_rule_matches_the_real_executable_only(void **state)
{
    struct torify_config c;
    torify_config_defaults(&c);
    const char *text = "ExemptExecutable /opt/tor/bin/tor\n";
    assert_int_equal(torify_config_parse(&c, text, strlen(text), "t.conf", NULL, 0), TORIFY_OK);
    assert_true(torify_state_exempt_rule(&c, false, "/opt/tor/bin/tor"));
    assert_true(torify_state_exempt_rule(&c, false, "/usr/bin/tor"));   /* built in */
    assert_true(torify_state_exempt_rule(&c, false, "/usr/sbin/tor"));  /* built in */
    /* A copy elsewhere, or anything merely called tor, is torified. */
    assert_false(torify_state_exempt_rule(&c, false, "/home/u/tor"));
    assert_false(torify_state_exempt_rule(&c, false, "tor"));
    assert_false(torify_state_exempt_rule(&c, false, "/usr/bin/tor (deleted)"));
    assert_false(torify_state_exempt_rule(&c, false, "/usr/bin/torsocks"));
}

static void test_exempt_rule_fails_safe_without_proc_launcher_or_config(void **state)
{
    struct torify_config c;
    torify_config_defaults(&c);
    const char *text = "ExemptExecutable /opt/tor/bin/tor\n";
    assert_int_equal(torify_config_parse(&c, text, strlen(text), "t.conf", NULL, 0), TORIFY_OK);
    /* /proc/self/exe unreadable: we cannot tell what runs, so torify it. */
    assert_false(torify_state_exempt_rule(&c, false, NULL));
    /* `torify /usr/bin/tor`: the launcher asked for torification. */
    assert_false(torify_state_exempt_rule(&c, true, "/usr/bin/tor"));
    assert_false(torify_state_exempt_rule(&c, true, "/opt/tor/bin/tor"));
    /* Broken configuration: only the built-in list is trusted. */
    assert_true(torify_state_exempt_rule(NULL, false, "/usr/bin/tor"));
    assert_false(torify_state_exempt_rule(NULL, false, "/opt/tor/bin/tor"));
}

/* Child mode: exit 0 if this process is pass-through, 1 if torified. */
static int child_passthrough(void)
{
    bool p = torify_state_passthrough();
    if (p != torify_state_config()->exempt)
        return 12;
    return p ? 0 : 1;
}

static int run_child_passthrough(const char *conf, const char *launched)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TORIFY_CONF_FILE", conf, 1);
        if (launched)
            setenv("TORIFY_LAUNCHED", launched, 1);
        else
            unsetenv("TORIFY_LAUNCHED");
        execl("/proc/self/exe", "tor", "--child-passthrough", (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_a_process_whose_executable_is_listed_passes_through(void **state)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    char listed[] = "/tmp/torify-state-XXXXXX", other[] = "/tmp/torify-state-XXXXXX";
    int fd1 = mkstemp(listed), fd2 = mkstemp(other);
    assert_true(fd1 >= 0 && fd2 >= 0);
    assert_true(dprintf(fd1, "ExemptExecutable %s\n", exe) > 0);
    assert_true(dprintf(fd2, "ExemptExecutable %s.copy\n", exe) > 0);
    close(fd1);
    close(fd2);
    assert_int_equal(run_child_passthrough(listed, NULL), 0);
    /* argv[0] "tor" is not what counts; neither is a name that differs. */
    assert_int_equal(run_child_passthrough(other, NULL), 1);
    /* Started by the launcher: torified even when listed. */
    assert_int_equal(run_child_passthrough(listed, "1"), 1);
    unlink(listed);
    unlink(other);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child-bad-config") == 0)
        return child_bad_config();
    if (argc > 1 && strcmp(argv[1], "--child-passthrough") == 0)
        return child_passthrough();
    setenv("TORIFY_CONF_FILE", "/dev/null", 1);
    setenv("TORIFY_TOR_PORT", "9333", 1);
    setenv("TORIFY_LOG_LEVEL", "quiet", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untracked_fds_have_no_state),
        cmocka_unit_test(test_set_get_clear_round_trip),
        cmocka_unit_test(test_neighbouring_and_distant_fds_are_independent),
        cmocka_unit_test(test_fds_beyond_the_table_are_refused_not_corrupted),
        cmocka_unit_test(test_clearing_releases_the_fake_name_hold),
        cmocka_unit_test(test_config_is_loaded_once_and_shared),
        cmocka_unit_test(test_a_broken_config_is_recorded_for_failing_closed),
        cmocka_unit_test(test_exempt_rule_matches_the_real_executable_only),
        cmocka_unit_test(test_exempt_rule_fails_safe_without_proc_launcher_or_config),
        cmocka_unit_test(test_a_process_whose_executable_is_listed_passes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
