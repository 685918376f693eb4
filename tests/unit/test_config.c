/* core/config: torify.conf keys, torsocks aliases, environment, AT_SECURE,
 * and errors that name file:line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"
#include "torify/socks.h"

/* An injectable environment: NULL-terminated NAME, VALUE pairs. */
static const char *const *fake_env;
static const char *env_lookup(const char *name)
{
    for (size_t i = 0; fake_env && fake_env[i]; i += 2)
        if (strcmp(fake_env[i], name) == 0)
            return fake_env[i + 1];
    return NULL;
}

static torify_err parse(struct torify_config *c, const char *text, char *err, size_t len)
{
    torify_config_defaults(c);
    return torify_config_parse(c, text, strlen(text), "t.conf", err, len);
}

static void assert_cidr(const struct torify_cidr *n, const char *text)
{
    struct torify_cidr want;
    assert_int_equal(torify_cidr_parse(text, &want), 0);
    assert_int_equal(n->family, want.family);
    assert_int_equal(n->prefix, want.prefix);
    assert_memory_equal(n->addr, want.addr, 16);
}

static void test_defaults_are_the_documented_ones(void **state)
{
    struct torify_config c;
    torify_config_defaults(&c);
    assert_string_equal(c.tor_address, "127.0.0.1");
    assert_int_equal(c.tor_port, 9050);
    assert_int_equal(c.proto, TORIFY_SOCKS5);
    assert_false(c.has_user);
    assert_false(c.has_pass);
    assert_false(c.isolate_pid);
    assert_false(c.allow_inbound);
    assert_false(c.allow_localhost);
    assert_false(c.resolve_through_tor); /* fake addresses: no round trip, the name reaches the exit */
    assert_int_equal(c.n_exempt, 0);
    assert_cidr(&c.fake4, "127.192.0.0/10");
    assert_cidr(&c.fake6, "100::/64");
    assert_int_equal(c.log_level, TORIFY_LOG_QUIET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&c.tor_addr;
    assert_int_equal(in->sin_family, AF_INET);
    assert_int_equal(ntohs(in->sin_port), 9050);
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000001);
}

static void test_every_key_is_parsed(void **state)
{
    struct torify_config c;
    char err[256] = "";
    const char *text =
        "# full file\n"
        "TorAddress 127.0.0.2\n"
        "TorPort 9150\n"
        "Protocol socks4a\n"
        "SOCKS5Username alice\n"
        "SOCKS5Password s3cret\n"
        "IsolatePID 1\n"
        "AllowInbound 1\n"
        "AllowOutboundLocalhost 1\n"
        "ExemptNetwork 192.168.0.0/16\n"
        "ExemptNetwork fd00::/8\n"
        "FakeAddrRange 10.200.0.0/16\n"
        "FakeAddrRange6 fd12:3456::/64\n"
        "LogLevel debug\n"
        "LogFile /tmp/torify.log\n";
    assert_int_equal(parse(&c, text, err, sizeof err), TORIFY_OK);
    assert_int_equal(torify_config_finish(&c, err, sizeof err), TORIFY_OK);
    assert_string_equal(c.tor_address, "127.0.0.2");
    assert_int_equal(c.tor_port, 9150);
    assert_int_equal(c.proto, TORIFY_SOCKS4A);
    assert_true(c.has_user);
    assert_string_equal(c.user, "alice");
    assert_true(c.has_pass);
    assert_string_equal(c.pass, "s3cret");
    assert_true(c.isolate_pid);
    assert_true(c.allow_inbound);
    assert_true(c.allow_localhost);
    assert_int_equal(c.n_exempt, 2);
    assert_cidr(&c.exempt[0], "192.168.0.0/16");
    assert_cidr(&c.exempt[1], "fd00::/8");
    assert_cidr(&c.fake4, "10.200.0.0/16");
    assert_cidr(&c.fake6, "fd12:3456::/64");
    assert_int_equal(c.log_level, TORIFY_LOG_DEBUG);
    assert_true(c.log_level_set);
    assert_string_equal(c.log_file, "/tmp/torify.log");
    const struct sockaddr_in *in = (const struct sockaddr_in *)&c.tor_addr;
    assert_int_equal(ntohs(in->sin_port), 9150);
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000002);
}

static void test_control_port_keys(void **state)
{
    static struct torify_config c;
    char err[256];
    assert_int_equal(parse(&c, "", err, sizeof err), TORIFY_OK);
    assert_int_equal(c.ctl_port, 0); /* unset: Debian's places are tried */
    assert_string_equal(c.ctl_unix, "");
    assert_int_equal(parse(&c, "ControlPort 9151\n", err, sizeof err), TORIFY_OK);
    assert_string_equal(c.ctl_address, "127.0.0.1");
    assert_int_equal(c.ctl_port, 9151);
    assert_int_equal(parse(&c, "ControlPort 10.1.2.3:9051\n", err, sizeof err), TORIFY_OK);
    assert_string_equal(c.ctl_address, "10.1.2.3");
    assert_int_equal(parse(&c, "ControlPort [::1]:9051\n", err, sizeof err), TORIFY_OK);
    assert_string_equal(c.ctl_address, "::1");
    assert_int_equal(c.ctl_port, 9051);
    assert_int_equal(parse(&c, "ControlPort localhost:9051\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "t.conf:1: ControlPort"));
    assert_int_equal(parse(&c, "ControlPort 127.0.0.1:0\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_int_equal(parse(&c, "ControlSocket /run/tor/control\nCookieAuthFile /run/tor/c\n", err, sizeof err),
                     TORIFY_OK);
    assert_string_equal(c.ctl_unix, "/run/tor/control");
    assert_string_equal(c.ctl_cookie, "/run/tor/c");
    assert_int_equal(parse(&c, "CookieAuthFile cookie\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_int_equal(parse(&c, "ControlPassword hunter2 with spaces\n", err, sizeof err), TORIFY_OK);
    assert_true(c.has_ctl_password);
    assert_string_equal(c.ctl_password, "hunter2 with spaces");
}

static void test_control_password_is_never_in_a_message(void **state)
{
    static struct torify_config c;
    char err[512], big[300];
    memset(big, 'S', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    static const char *env[] = { "TORIFY_CONTROL_PASSWORD", NULL, NULL };
    env[1] = big;
    fake_env = env;
    torify_config_defaults(&c);
    assert_int_equal(torify_config_apply_env(&c, env_lookup, err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "TORIFY_CONTROL_PASSWORD"));
    assert_null(strstr(err, "SSSS"));
    fake_env = NULL;
}

static void test_unix_socket_key_makes_tor_address_a_unix_path(void **state)
{
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, "TorUnixSocket /run/tor/socks\n", err, sizeof err), TORIFY_OK);
    assert_int_equal(torify_config_finish(&c, err, sizeof err), TORIFY_OK);
    const struct sockaddr_un *un = (const struct sockaddr_un *)&c.tor_addr;
    assert_int_equal(un->sun_family, AF_UNIX);
    assert_string_equal(un->sun_path, "/run/tor/socks");
}

static void test_ipv6_tor_address_is_accepted(void **state)
{
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, "TorAddress ::1\nTorPort 9999\n", err, sizeof err), TORIFY_OK);
    assert_int_equal(torify_config_finish(&c, err, sizeof err), TORIFY_OK);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&c.tor_addr;
    assert_int_equal(in6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(in6->sin6_port), 9999);
    assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
}

static void test_keys_are_case_insensitive_with_comments_and_equals(void **state)
{
    struct torify_config c;
    char err[256] = "";
    const char *text = "\n   # indented comment\n"
                       "torport 9151   # trailing comment\n"
                       "ALLOWINBOUND = yes\n"
                       "\tprotocol\tSOCKS5\r\n";
    assert_int_equal(parse(&c, text, err, sizeof err), TORIFY_OK);
    assert_int_equal(c.tor_port, 9151);
    assert_true(c.allow_inbound);
    assert_int_equal(c.proto, TORIFY_SOCKS5);
}

static void test_a_torsocks_conf_is_accepted_as_is(void **state)
{
    struct torify_config c;
    char err[256] = "";
    const char *text = "TorAddress 127.0.0.1\n"
                       "TorPort 9050\n"
                       "OnionAddrRange 127.42.42.0/24\n"
                       "SOCKS5Username bob\n"
                       "SOCKS5Password pw\n"
                       "AllowInbound 0\n"
                       "AllowOutboundLocalhost 2\n"
                       "IsolatePID 1\n";
    assert_int_equal(parse(&c, text, err, sizeof err), TORIFY_OK);
    assert_cidr(&c.fake4, "127.42.42.0/24");
    assert_true(c.allow_localhost); /* torsocks' 2 (also UDP) means 1 here: no UDP ever */
    assert_true(c.isolate_pid);
    assert_string_equal(c.user, "bob");
}

struct bad_case {
    const char *text;
    const char *want; /* expected prefix of the message */
    const char *mention;
};

static void test_bad_values_give_errors_naming_file_and_line(void **state)
{
    static const struct bad_case cases[] = {
        { "TorPort 9050\nNoSuchKey 1\n", "t.conf:2: ", "NoSuchKey" },
        { "TorPort 0\n", "t.conf:1: ", "TorPort" },
        { "TorPort 65536\n", "t.conf:1: ", "TorPort" },
        { "TorPort 90x\n", "t.conf:1: ", "90x" },
        { "\n\nTorAddress tor.example.com\n", "t.conf:3: ", "TorAddress" },
        { "Protocol socks4\n", "t.conf:1: ", "Protocol" },
        { "IsolatePID maybe\n", "t.conf:1: ", "IsolatePID" },
        { "AllowInbound 2\n", "t.conf:1: ", "AllowInbound" },
        { "ExemptNetwork 10.0.0.0/33\n", "t.conf:1: ", "ExemptNetwork" },
        { "ExemptNetwork lan\n", "t.conf:1: ", "lan" },
        { "FakeAddrRange 100::/64\n", "t.conf:1: ", "FakeAddrRange" },
        { "FakeAddrRange6 10.0.0.0/8\n", "t.conf:1: ", "FakeAddrRange6" },
        { "FakeAddrRange 10.0.0.0/31\n", "t.conf:1: ", "FakeAddrRange" },
        { "LogLevel loud\n", "t.conf:1: ", "LogLevel" },
        { "TorUnixSocket relative/path\n", "t.conf:1: ", "TorUnixSocket" },
        { "TorPort\n", "t.conf:1: ", "TorPort" },
        { "# ok\nSOCKS5Username \n", "t.conf:2: ", "SOCKS5Username" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct torify_config c;
        char err[256] = "";
        torify_err e = parse(&c, cases[i].text, err, sizeof err);
        if (e != TORIFY_E_REFUSE_CONFIG || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0 ||
            !strstr(err, cases[i].mention))
            fail_msg("case %zu (%s): got %d '%s'", i, cases[i].text, e, err);
    }
}

static void test_overlong_username_is_refused(void **state)
{
    char text[400];
    memset(text, 'u', sizeof text);
    memcpy(text, "SOCKS5Username ", 15);
    text[sizeof text - 2] = '\n';
    text[sizeof text - 1] = '\0';
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, text, err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "t.conf:1:"));
}

static void test_environment_overrides_file_and_torify_names_win(void **state)
{
    static const char *const env[] = {
        "TORSOCKS_TOR_PORT", "1111", "TORIFY_TOR_PORT", "2222",
        "TORSOCKS_TOR_ADDRESS", "127.0.0.9",
        "TORSOCKS_USERNAME", "tu", "TORIFY_PASSWORD", "tp",
        "TORSOCKS_ISOLATE_PID", "1",
        "TORSOCKS_ALLOW_INBOUND", "1",
        "TORIFY_ALLOW_LOCALHOST", "1",
        "TORIFY_PROTOCOL", "socks4a",
        "TORIFY_EXEMPT", "10.0.0.0/8, 172.16.0.0/12",
        "TORIFY_FAKE_RANGE", "127.100.0.0/16",
        "TORIFY_FAKE_RANGE6", "fd00:1::/64",
        "TORSOCKS_LOG_LEVEL", "5",
        "TORIFY_LOG_FILE", "/tmp/x.log",
        "TORIFY_LAUNCHED", "1",
        NULL,
    };
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, "TorPort 3333\nExemptNetwork 192.168.1.0/24\n", err, sizeof err), TORIFY_OK);
    fake_env = env;
    assert_int_equal(torify_config_apply_env(&c, env_lookup, err, sizeof err), TORIFY_OK);
    fake_env = NULL;
    assert_int_equal(c.tor_port, 2222);
    assert_string_equal(c.tor_address, "127.0.0.9");
    assert_string_equal(c.user, "tu");
    assert_string_equal(c.pass, "tp");
    assert_true(c.isolate_pid);
    assert_true(c.allow_inbound);
    assert_true(c.allow_localhost);
    assert_int_equal(c.proto, TORIFY_SOCKS4A);
    assert_int_equal(c.n_exempt, 2); /* the environment's list replaces the file's */
    assert_cidr(&c.exempt[0], "10.0.0.0/8");
    assert_cidr(&c.exempt[1], "172.16.0.0/12");
    assert_cidr(&c.fake4, "127.100.0.0/16");
    assert_cidr(&c.fake6, "fd00:1::/64");
    assert_int_equal(c.log_level, TORIFY_LOG_DEBUG);
    assert_string_equal(c.log_file, "/tmp/x.log");
    assert_true(c.launched);
}

static void test_bad_environment_value_names_the_variable(void **state)
{
    static const char *const env[] = { "TORIFY_TOR_PORT", "http", NULL };
    struct torify_config c;
    char err[256] = "";
    torify_config_defaults(&c);
    fake_env = env;
    assert_int_equal(torify_config_apply_env(&c, env_lookup, err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    fake_env = NULL;
    assert_non_null(strstr(err, "environment TORIFY_TOR_PORT"));
}

static char tmp_path[64];

static void write_tmp(const char *text)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/torify-test-conf-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_named_config_file_is_read_and_errors_name_its_path(void **state)
{
    write_tmp("TorPort 9444\nTorPort nope\n");
    static const char *env[3];
    env[0] = "TORIFY_CONF_FILE";
    env[1] = tmp_path;
    env[2] = NULL;
    fake_env = env;
    struct torify_config c;
    char err[256] = "";
    torify_err e = torify_config_load(&c, env_lookup, false, err, sizeof err);
    fake_env = NULL;
    char want[128];
    snprintf(want, sizeof want, "%s:2: ", tmp_path);
    unlink(tmp_path);
    assert_int_equal(e, TORIFY_E_REFUSE_CONFIG);
    assert_true(strncmp(err, want, strlen(want)) == 0);
}

/* A file of n bytes: comment lines, then "TorPort 9444\n" as its last line
 * (so the whole text really is parsed), with byte nul_at set to NUL
 * (nul_at < 0: none). */
static void write_sized_tmp(size_t n, long nul_at)
{
    static const char last[] = "TorPort 9444\n";
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, '#', n);
    for (size_t i = 79; i < n; i += 80)
        text[i] = '\n';
    memcpy(text + n - strlen(last), last, strlen(last));
    text[n - strlen(last) - 1] = '\n';
    if (nul_at >= 0)
        text[nul_at] = '\0';
    snprintf(tmp_path, sizeof tmp_path, "/tmp/torify-test-conf-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    free(text);
}

static void test_launched_is_known_also_when_the_file_is_broken(void **state)
{
    /* The shim decides exemption and its log level by it, also when it
     * fails closed: `torify tor` with a broken file is torified. */
    write_tmp("TorPort nope\n");
    static const char *env[5];
    env[0] = "TORIFY_CONF_FILE";
    env[1] = tmp_path;
    env[2] = "TORIFY_LAUNCHED";
    env[3] = "1";
    env[4] = NULL;
    fake_env = env;
    struct torify_config c;
    char err[256] = "";
    torify_err e = torify_config_load(&c, env_lookup, false, err, sizeof err);
    assert_int_equal(e, TORIFY_E_REFUSE_CONFIG);
    assert_true(c.launched);
    /* Not under AT_SECURE: the environment is not read at all. */
    e = torify_config_load(&c, env_lookup, true, err, sizeof err);
    fake_env = NULL;
    unlink(tmp_path);
    assert_false(c.launched);
}

static void test_a_config_file_is_read_whole_up_to_64_kib(void **state)
{
    struct torify_config c;
    char err[256] = "";
    /* 64 KiB exactly: read and parsed to its last line. */
    write_sized_tmp(64 * 1024, -1);
    torify_config_defaults(&c);
    torify_err e = torify_config_load_file(&c, tmp_path, false, err, sizeof err);
    assert_int_equal(e, TORIFY_OK);
    assert_int_equal(c.tor_port, 9444);
    assert_string_equal(c.source, tmp_path);
    unlink(tmp_path);
    /* One byte more: refused, naming the file and the limit. */
    write_sized_tmp(64 * 1024 + 1, -1);
    torify_config_defaults(&c);
    e = torify_config_load_file(&c, tmp_path, false, err, sizeof err);
    unlink(tmp_path);
    assert_int_equal(e, TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, tmp_path));
    assert_non_null(strstr(err, "larger than 65536 bytes"));
    /* A NUL byte anywhere: not a text file. */
    write_sized_tmp(1000, 500);
    torify_config_defaults(&c);
    e = torify_config_load_file(&c, tmp_path, false, err, sizeof err);
    unlink(tmp_path);
    assert_int_equal(e, TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "contains a NUL byte"));
    /* Read twice in a row from two files: nothing of the first remains. */
    write_tmp("TorPort 9555\n");
    torify_config_defaults(&c);
    assert_int_equal(torify_config_load_file(&c, tmp_path, false, err, sizeof err), TORIFY_OK);
    unlink(tmp_path);
    assert_int_equal(c.tor_port, 9555);
    write_tmp("\n");
    torify_config_defaults(&c);
    assert_int_equal(torify_config_load_file(&c, tmp_path, false, err, sizeof err), TORIFY_OK);
    unlink(tmp_path);
    assert_int_equal(c.tor_port, 9050);
}

static void test_named_config_file_that_is_missing_is_an_error(void **state)
{
    static const char *const env[] = { "TORSOCKS_CONF_FILE", "/nonexistent/torify.conf", NULL };
    fake_env = env;
    struct torify_config c;
    char err[256] = "";
    torify_err e = torify_config_load(&c, env_lookup, false, err, sizeof err);
    fake_env = NULL;
    assert_int_equal(e, TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "/nonexistent/torify.conf"));
}

static void test_environment_then_file_order_in_full_load(void **state)
{
    write_tmp("TorPort 9444\nAllowInbound 1\n");
    static const char *env[5];
    env[0] = "TORIFY_CONF_FILE";
    env[1] = tmp_path;
    env[2] = "TORIFY_TOR_PORT";
    env[3] = "9555";
    env[4] = NULL;
    fake_env = env;
    struct torify_config c;
    char err[256] = "";
    torify_err e = torify_config_load(&c, env_lookup, false, err, sizeof err);
    fake_env = NULL;
    unlink(tmp_path);
    assert_int_equal(e, TORIFY_OK);
    assert_int_equal(c.tor_port, 9555);  /* env over file */
    assert_true(c.allow_inbound);        /* file over default */
    assert_string_equal(c.source, tmp_path);
}

static void test_at_secure_ignores_the_environment(void **state)
{
    write_tmp("TorPort 9444\n");
    static const char *env[7];
    env[0] = "TORIFY_CONF_FILE";
    env[1] = tmp_path;
    env[2] = "TORIFY_TOR_PORT";
    env[3] = "9555";
    env[4] = "TORIFY_ALLOW_LOCALHOST";
    env[5] = "1";
    env[6] = NULL;
    struct torify_config plain, secure;
    char err[256] = "";
    /* What the system files alone give (no environment at all)... */
    assert_int_equal(torify_config_load(&plain, NULL, false, err, sizeof err), TORIFY_OK);
    fake_env = env;
    torify_err e = torify_config_load(&secure, env_lookup, true, err, sizeof err);
    fake_env = NULL;
    unlink(tmp_path);
    /* ...is exactly what a set-uid program gets, whatever the environment says. */
    assert_int_equal(e, TORIFY_OK);
    assert_int_equal(secure.tor_port, plain.tor_port);
    assert_int_not_equal(secure.tor_port, 9555);
    assert_int_not_equal(secure.tor_port, 9444);
    assert_int_equal(secure.allow_localhost, plain.allow_localhost);
    assert_false(secure.launched);
}

static void test_cidr_parsing_clears_host_bits_and_matches(void **state)
{
    struct torify_cidr n;
    assert_int_equal(torify_cidr_parse("10.1.2.3/8", &n), 0);
    uint8_t a[16] = { 10, 200, 0, 1 };
    assert_int_equal(n.addr[1], 0);
    assert_true(torify_cidr_contains(&n, AF_INET, a));
    a[0] = 11;
    assert_false(torify_cidr_contains(&n, AF_INET, a));
    assert_int_equal(torify_cidr_parse("127.192.0.0/10", &n), 0);
    uint8_t in[4] = { 127, 255, 255, 255 }, out[4] = { 127, 128, 0, 1 };
    assert_true(torify_cidr_contains(&n, AF_INET, in));
    assert_false(torify_cidr_contains(&n, AF_INET, out));
    assert_false(torify_cidr_contains(&n, AF_INET6, in)); /* other family never matches */
    assert_int_equal(torify_cidr_parse("100::/64", &n), 0);
    uint8_t v6[16];
    inet_pton(AF_INET6, "100::ffff:1", v6);
    assert_true(torify_cidr_contains(&n, AF_INET6, v6));
    inet_pton(AF_INET6, "100:0:0:1::1", v6);
    assert_false(torify_cidr_contains(&n, AF_INET6, v6));
    assert_int_equal(torify_cidr_parse("192.0.2.7", &n), 0);
    assert_int_equal(n.prefix, 32);
    assert_int_equal(torify_cidr_parse("1.2.3.4/", &n), -1);
    assert_int_equal(torify_cidr_parse("1.2.3.4/-1", &n), -1);
    assert_int_equal(torify_cidr_parse("::/129", &n), -1);
}

static void test_exempt_executable_lines_accumulate(void **state)
{
    struct torify_config c;
    char err[TORIFY_CONFIG_ERR_MAX];
    assert_int_equal(parse(&c, "ExemptExecutable /opt/tor/bin/tor\nexemptexecutable = /usr/local/bin/tor\n",
                           err, sizeof err), TORIFY_OK);
    assert_int_equal(c.n_exempt_exe, 2);
    assert_string_equal(c.exempt_exe[0], "/opt/tor/bin/tor");
    assert_string_equal(c.exempt_exe[1], "/usr/local/bin/tor");
    assert_true(torify_config_exe_exempt(&c, "/usr/local/bin/tor"));
    assert_true(torify_config_exe_exempt(&c, "/usr/sbin/tor")); /* built in, always */
    assert_true(torify_config_exe_exempt(NULL, "/usr/bin/tor"));
    assert_false(torify_config_exe_exempt(&c, "/usr/local/bin/tor2"));
    assert_false(torify_config_exe_exempt(&c, "/usr/local/bin"));
    assert_false(torify_config_exe_exempt(&c, ""));
    assert_false(torify_config_exe_exempt(&c, NULL));
    torify_config_defaults(&c);
    assert_int_equal(c.n_exempt_exe, 0);
}

static void test_exempt_executable_must_be_absolute_and_bounded(void **state)
{
    struct torify_config c;
    char err[TORIFY_CONFIG_ERR_MAX];
    assert_int_equal(parse(&c, "ExemptExecutable tor\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_string_equal(err, "t.conf:1: ExemptExecutable 'tor' must be an absolute path");
    char text[17 * 40 + 1] = "";
    for (int i = 0; i < 17; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "ExemptExecutable /x/%d\n", i);
    assert_int_equal(parse(&c, text, err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_string_equal(err, "t.conf:17: too many ExemptExecutable entries (at most 16)");
    char longline[400] = "ExemptExecutable /";
    memset(longline + strlen(longline), 'a', 300);
    assert_int_equal(parse(&c, longline, err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_string_equal(err, "t.conf:1: ExemptExecutable path longer than 255 bytes");
}

/* One rule for a port wherever a user writes one: the config file's TorPort,
 * the proxy address ("127.0.0.1:PORT") and the launcher's -P (which calls
 * torify_port_parse too), so a value is never accepted in one and refused in
 * another. */
static void test_a_port_is_read_by_the_same_rule_in_the_file_the_address_and_the_library(void **state)
{
    static const struct { const char *text; int port; } cases[] = {
        {"80", 80}, {"65535", 65535}, {"09050", 9050}, {"1", 1},
        {"0", -1}, {"65536", -1}, {"000080", -1}, {"+80", -1}, {"-1", -1}, {" 80", -1},
        {"80 ", -1}, {"0x50", -1}, {"", -1}, {"99999999999999999999", -1}, {"80a", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t p = 7;
        torify_err e = torify_port_parse(cases[i].text, &p);
        assert_int_equal(e == TORIFY_OK ? p : -1, cases[i].port);

        char conf[96], err[256];
        struct torify_config c;
        snprintf(conf, sizeof conf, "TorPort %s\n", cases[i].text);
        torify_err ce = parse(&c, conf, err, sizeof err);
        if (cases[i].text[0] == ' ' || cases[i].text[strlen(cases[i].text) > 0 ? strlen(cases[i].text) - 1 : 0] == ' ' ||
            cases[i].text[0] == '\0')
            continue; /* the file's tokenizer trims blanks; an empty value is its own error */
        assert_int_equal(ce == TORIFY_OK ? c.tor_port : -1, cases[i].port);

        char addr[64];
        struct sockaddr_storage ss;
        socklen_t sl;
        snprintf(addr, sizeof addr, "127.0.0.1:%s", cases[i].text);
        torify_err ae = torify_sockaddr_parse(addr, &ss, &sl);
        assert_int_equal(ae == TORIFY_OK ? ntohs(((struct sockaddr_in *)&ss)->sin_port) : -1, cases[i].port);
    }
    assert_int_equal(torify_port_parse(NULL, &(uint16_t){0}), TORIFY_E_INVAL_ARGUMENT);
}

static const char *only_var;
static const char *get_only(const char *name)
{
    return only_var && strcmp(name, only_var) == 0 ? "1" : NULL;
}

static void test_unknown_variables_get_the_nearest_known_name(void **state)
{
    (void)state;
    assert_string_equal(torify_config_env_unknown("TORIFY_ALLOW_OUTBOUND_LOCALHOST=1"), "TORIFY_ALLOW_LOCALHOST");
    assert_string_equal(torify_config_env_unknown("TORIFY_LOGLEVEL=debug"), "TORIFY_LOG_LEVEL");
    assert_string_equal(torify_config_env_unknown("TORIFY_TOR_PROT"), "TORIFY_TOR_PORT");
    assert_string_equal(torify_config_env_unknown("TORSOCKS_ISOLATE"), "TORSOCKS_ISOLATE_PID");
    assert_string_equal(torify_config_env_unknown("TORSOCKS_LOG_FILE=/tmp/x"), "TORSOCKS_LOG_FILE_PATH");
    /* Nothing alike: no guess rather than a wrong one. */
    assert_string_equal(torify_config_env_unknown("TORSOCKS_FOO=1"), "");
    /* Known ones, those torify sets for its children included, and other
     * prefixes are not reported. */
    static const char *const quiet[] = {
        "TORIFY_ALLOW_LOCALHOST=1", "TORSOCKS_ALLOW_OUTBOUND_LOCALHOST=1", "TORIFY_CONF_FILE=/x",
        "TORSOCKS_CONF_FILE=/x", "TORIFY_LAUNCHED=1", "TORIFY_FAKEMAP_FD=7:12", "TORIFY_GUARDED=1",
        "TORIFY_LIB=/x", "TORIFY_LOG_LEVEL", "PATH=/bin", "TORIFYX=1", "TOR_PORT=1",
    };
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        if (torify_config_env_unknown(quiet[i]) != NULL)
            fail_msg("%s reported as unknown", quiet[i]);
    }
    assert_false(torify_config_env_known("TORIFY_ALLOW_OUTBOUND_LOCALHOST"));
    /* Every suggestion is a variable the loader really reads or sets: one
     * the loader reads changes the configuration. */
    only_var = torify_config_env_unknown("TORIFY_ALLOW_OUTBOUND_LOCALHOST=1");
    struct torify_config c;
    torify_config_defaults(&c);
    assert_int_equal(torify_config_apply_env(&c, get_only, NULL, 0), TORIFY_OK);
    assert_true(c.allow_localhost);
    only_var = NULL;
}

static void test_resolve_through_tor_comes_from_key_or_variable_and_must_be_boolean(void **state)
{
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, "ResolveThroughTor 1\n", err, sizeof err), TORIFY_OK);
    assert_true(c.resolve_through_tor);
    assert_int_equal(parse(&c, "resolvethroughtor no\n", err, sizeof err), TORIFY_OK);
    assert_false(c.resolve_through_tor);
    assert_int_equal(parse(&c, "ResolveThroughTor maybe\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "ResolveThroughTor"));
    const char *env[] = { "TORIFY_RESOLVE_THROUGH_TOR", "1", NULL };
    assert_int_equal(parse(&c, "", err, sizeof err), TORIFY_OK);
    fake_env = env;
    assert_int_equal(torify_config_apply_env(&c, env_lookup, err, sizeof err), TORIFY_OK);
    fake_env = NULL;
    assert_true(c.resolve_through_tor);
    assert_true(torify_config_env_known("TORIFY_RESOLVE_THROUGH_TOR=1"));
}

static void test_pass_half_close_is_off_by_default_and_set_by_key_or_variable(void **state)
{
    (void)state;
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, "", err, sizeof err), TORIFY_OK);
    assert_false(c.pass_half_close);
    assert_int_equal(parse(&c, "PassHalfClose 1\n", err, sizeof err), TORIFY_OK);
    assert_true(c.pass_half_close);
    assert_int_equal(parse(&c, "PassHalfClose sometimes\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "PassHalfClose"));
    const char *env[] = { "TORIFY_PASS_HALF_CLOSE", "yes", NULL };
    assert_int_equal(parse(&c, "", err, sizeof err), TORIFY_OK);
    fake_env = env;
    assert_int_equal(torify_config_apply_env(&c, env_lookup, err, sizeof err), TORIFY_OK);
    fake_env = NULL;
    assert_true(c.pass_half_close);
    assert_true(torify_config_env_known("TORIFY_PASS_HALF_CLOSE=1"));
}

static void test_optimistic_data_is_auto_on_or_off_from_key_or_variable(void **state)
{
    (void)state;
    struct torify_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, "", err, sizeof err), TORIFY_OK);
    assert_int_equal(c.optimistic, TORIFY_OPT_DEFAULT);
    assert_int_equal(parse(&c, "OptimisticData auto\n", err, sizeof err), TORIFY_OK);
    assert_int_equal(c.optimistic, TORIFY_OPT_AUTO);
    assert_int_equal(parse(&c, "OptimisticData ON\n", err, sizeof err), TORIFY_OK);
    assert_int_equal(c.optimistic, TORIFY_OPT_ON);
    assert_int_equal(parse(&c, "OptimisticData off\n", err, sizeof err), TORIFY_OK);
    assert_int_equal(c.optimistic, TORIFY_OPT_OFF);
    assert_int_equal(parse(&c, "OptimisticData maybe\n", err, sizeof err), TORIFY_E_REFUSE_CONFIG);
    assert_non_null(strstr(err, "OptimisticData"));
    const char *env[] = { "TORIFY_OPTIMISTIC_DATA", "on", NULL };
    assert_int_equal(parse(&c, "OptimisticData off\n", err, sizeof err), TORIFY_OK);
    fake_env = env;
    assert_int_equal(torify_config_apply_env(&c, env_lookup, err, sizeof err), TORIFY_OK);
    fake_env = NULL;
    assert_int_equal(c.optimistic, TORIFY_OPT_ON);
    assert_true(torify_config_env_known("TORIFY_OPTIMISTIC_DATA=off"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimistic_data_is_auto_on_or_off_from_key_or_variable),
        cmocka_unit_test(test_pass_half_close_is_off_by_default_and_set_by_key_or_variable),
        cmocka_unit_test(test_defaults_are_the_documented_ones),
        cmocka_unit_test(test_resolve_through_tor_comes_from_key_or_variable_and_must_be_boolean),
        cmocka_unit_test(test_every_key_is_parsed),
        cmocka_unit_test(test_control_port_keys),
        cmocka_unit_test(test_control_password_is_never_in_a_message),
        cmocka_unit_test(test_unix_socket_key_makes_tor_address_a_unix_path),
        cmocka_unit_test(test_ipv6_tor_address_is_accepted),
        cmocka_unit_test(test_keys_are_case_insensitive_with_comments_and_equals),
        cmocka_unit_test(test_a_torsocks_conf_is_accepted_as_is),
        cmocka_unit_test(test_bad_values_give_errors_naming_file_and_line),
        cmocka_unit_test(test_overlong_username_is_refused),
        cmocka_unit_test(test_environment_overrides_file_and_torify_names_win),
        cmocka_unit_test(test_bad_environment_value_names_the_variable),
        cmocka_unit_test(test_named_config_file_is_read_and_errors_name_its_path),
        cmocka_unit_test(test_named_config_file_that_is_missing_is_an_error),
        cmocka_unit_test(test_a_config_file_is_read_whole_up_to_64_kib),
        cmocka_unit_test(test_launched_is_known_also_when_the_file_is_broken),
        cmocka_unit_test(test_environment_then_file_order_in_full_load),
        cmocka_unit_test(test_at_secure_ignores_the_environment),
        cmocka_unit_test(test_cidr_parsing_clears_host_bits_and_matches),
        cmocka_unit_test(test_exempt_executable_lines_accumulate),
        cmocka_unit_test(test_exempt_executable_must_be_absolute_and_bounded),
        cmocka_unit_test(test_a_port_is_read_by_the_same_rule_in_the_file_the_address_and_the_library),
        cmocka_unit_test(test_unknown_variables_get_the_nearest_known_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
