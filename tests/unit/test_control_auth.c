/*
 * The blocking control-port client (control/conn.c, auth.c, query.c)
 * against a fake control port in a thread, on a unix socket: PROTOCOLINFO,
 * every AUTHENTICATE method, SAFECOOKIE's server hash checked before ours
 * is sent, the cookie file's checks, GETINFO/GETCONF/SETCONF/SIGNAL, events
 * before an answer, a close mid-reply.  Every peer is joined before the
 * test returns.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <torify/control.h>
#include "control/internal.h"

static const uint8_t COOKIE[32] = "0123456789abcdef0123456789abcdef";

struct peer;
/* Answer one command line: the bytes to send back (NULL: close). */
typedef const char *(*answer_fn)(struct peer *p, const char *line);

struct peer {
    int lfd;
    answer_fn answer;
    const char *methods;     /* PROTOCOLINFO's METHODS= */
    char cookie_path[256];
    bool bad_server_hash;
    char got[16][256];       /* the command lines received */
    int n_got;
    char out[1024];
    pthread_t th;
};

static char dir[64];
static struct sockaddr_un sun_addr;

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    int fd = accept(p->lfd, NULL, NULL);
    char buf[4096];
    size_t have = 0;

    if (fd < 0)
        return NULL;
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl == NULL) {
            ssize_t n = read(fd, buf + have, sizeof buf - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            continue;
        }
        *nl = '\0';
        if (nl > buf && nl[-1] == '\r')
            nl[-1] = '\0';
        if (p->n_got < 16)
            snprintf(p->got[p->n_got++], sizeof p->got[0], "%.255s", buf);
        const char *ans = p->answer(p, buf);
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have - used);
        have -= used;
        if (ans == NULL)
            break;
        if (write(fd, ans, strlen(ans)) < 0)
            break;
    }
    close(fd);
    return NULL;
}

static void start(struct peer *p, answer_fn fn, const char *methods)
{
    memset(p, 0, sizeof *p);
    p->answer = fn;
    p->methods = methods;
    snprintf(p->cookie_path, sizeof p->cookie_path, "%s/cookie", dir);
    p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    unlink(sun_addr.sun_path);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sun_addr, sizeof sun_addr), 0);
    assert_int_equal(listen(p->lfd, 1), 0);
    assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

static void stop(struct peer *p, struct torify_ctl *c)
{
    torify_ctl_close(c);
    pthread_join(p->th, NULL);
    close(p->lfd);
}

static struct torify_ctl *open_ctl(void)
{
    torify_err e;
    struct torify_ctl *c = torify_ctl_open((struct sockaddr *)&sun_addr, sizeof sun_addr, 5000, &e);
    assert_non_null(c);
    assert_int_equal(e, TORIFY_OK);
    return c;
}

static void write_cookie(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A Tor-like control port: PROTOCOLINFO, AUTHCHALLENGE with the real
 * hashes (or a wrong server hash), AUTHENTICATE checked against the cookie
 * or the password "s3cr\"et". */
static const char *tor_like(struct peer *p, const char *line)
{
    if (starts(line, "PROTOCOLINFO")) {
        snprintf(p->out, sizeof p->out,
                 "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=%s COOKIEFILE=\"%s\"\r\n"
                 "250-VERSION Tor=\"0.4.8.99\"\r\n250 OK\r\n", p->methods, p->cookie_path);
        return p->out;
    }
    if (starts(line, "AUTHCHALLENGE SAFECOOKIE ")) {
        uint8_t msg[96], h[32];
        char sh[65], sn[65];
        memcpy(msg, COOKIE, 32);
        assert_true(torify_ctl_unhex(line + 25, strlen(line + 25), msg + 32, 32));
        memset(msg + 64, 0x5a, 32);
        torify_hmac_sha256("Tor safe cookie authentication server-to-controller hash", 56, msg, 96, h);
        if (p->bad_server_hash)
            h[31] ^= 1;
        torify_ctl_hex(h, 32, sh);
        torify_ctl_hex(msg + 64, 32, sn);
        snprintf(p->out, sizeof p->out, "250 AUTHCHALLENGE SERVERHASH=%s SERVERNONCE=%s\r\n", sh, sn);
        /* What the client must answer with, for AUTHENTICATE below. */
        torify_hmac_sha256("Tor safe cookie authentication controller-to-server hash", 56, msg, 96, h);
        torify_ctl_hex(h, 32, p->got[15]);
        return p->out;
    }
    if (starts(line, "AUTHENTICATE")) {
        char hex[65];
        const char *arg = line[12] == ' ' ? line + 13 : "";
        torify_ctl_hex(COOKIE, 32, hex);
        bool ok = (strstr(p->methods, "NULL") && !*arg) ||
                  (strstr(p->methods, "SAFECOOKIE") && strcmp(arg, p->got[15]) == 0) ||
                  (strcmp(p->methods, "COOKIE") == 0 && strcmp(arg, hex) == 0) ||
                  (strstr(p->methods, "HASHEDPASSWORD") && strcmp(arg, "\"s3cr\\\"et\"") == 0);
        return ok ? "250 OK\r\n" : "515 Authentication failed: Password did not match HashedControlPassword *or* authentication cookie.\r\n";
    }
    if (starts(line, "GETINFO version"))
        return "650 STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED\r\n250-version=0.4.8.99\r\n250 OK\r\n";
    if (starts(line, "GETINFO config-text"))
        return "250+config-text=\r\nSocksPort 9050\r\n..x\r\n.\r\n250 OK\r\n";
    if (starts(line, "GETINFO nope"))
        return "552 Unrecognized key \"nope\"\r\n";
    if (starts(line, "GETCONF SocksPort"))
        return "250-SocksPort=127.0.0.1:9050\r\n250 SocksPort=9150\r\n";
    if (starts(line, "GETCONF ControlPassword"))
        return "250 ControlPassword\r\n";
    if (starts(line, "SETCONF") || starts(line, "SIGNAL") || starts(line, "SETEVENTS"))
        return "250 OK\r\n";
    if (starts(line, "QUIT"))
        return NULL;
    return "510 Unrecognized command\r\n";
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/torify-ctl-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    memset(&sun_addr, 0, sizeof sun_addr);
    sun_addr.sun_family = AF_UNIX;
    snprintf(sun_addr.sun_path, sizeof sun_addr.sun_path, "%s/control", dir);
    return 0;
}

static int teardown(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/cookie", dir);
    unlink(path);
    unlink(sun_addr.sun_path);
    rmdir(dir);
    return 0;
}

static void test_protocolinfo(void **state)
{
    struct peer p;
    struct torify_ctl_protocolinfo pi;
    start(&p, tor_like, "COOKIE,SAFECOOKIE,FUTURE");
    struct torify_ctl *c = open_ctl();
    assert_int_equal(torify_ctl_protocolinfo(c, &pi), TORIFY_OK);
    assert_int_equal(pi.methods, TORIFY_CTL_AUTH_COOKIE | TORIFY_CTL_AUTH_SAFECOOKIE);
    assert_string_equal(pi.cookie_file, p.cookie_path);
    assert_string_equal(pi.version, "0.4.8.99");
    stop(&p, c);
}

static torify_err auth_with(const char *methods, const char *password, bool bad_hash, unsigned *used,
                            struct peer *p)
{
    struct torify_ctl_auth a = { password, NULL };
    start(p, tor_like, methods);
    p->bad_server_hash = bad_hash;
    struct torify_ctl *c = open_ctl();
    torify_err e = torify_ctl_authenticate(c, NULL, &a, used);
    stop(p, c);
    return e;
}

static void test_null_auth(void **state)
{
    struct peer p;
    unsigned used;
    assert_int_equal(auth_with("NULL", NULL, false, &used, &p), TORIFY_OK);
    assert_int_equal(used, TORIFY_CTL_AUTH_NULL);
    assert_string_equal(p.got[1], "AUTHENTICATE");
}

static void test_safecookie_preferred_and_accepted(void **state)
{
    struct peer p;
    unsigned used;
    char path[128];
    snprintf(path, sizeof path, "%s/cookie", dir);
    write_cookie(path, COOKIE, 32, 0600);
    assert_int_equal(auth_with("COOKIE,SAFECOOKIE", NULL, false, &used, &p), TORIFY_OK);
    assert_int_equal(used, TORIFY_CTL_AUTH_SAFECOOKIE);
    assert_true(starts(p.got[1], "AUTHCHALLENGE SAFECOOKIE "));
    assert_int_equal(p.n_got, 3);
}

static void test_bad_server_hash_is_refused_before_authenticate(void **state)
{
    struct peer p;
    unsigned used;
    char path[128], hex[65];
    snprintf(path, sizeof path, "%s/cookie", dir);
    write_cookie(path, COOKIE, 32, 0600);
    assert_int_equal(auth_with("COOKIE,SAFECOOKIE", NULL, true, &used, &p), TORIFY_E_CTL_SERVER_HASH);
    /* PROTOCOLINFO and AUTHCHALLENGE only: no AUTHENTICATE, no cookie. */
    assert_int_equal(p.n_got, 2);
    torify_ctl_hex(COOKIE, 32, hex);
    for (int i = 0; i < p.n_got; i++)
        assert_null(strstr(p.got[i], hex));
}

static void test_cookie_auth(void **state)
{
    struct peer p;
    unsigned used;
    char path[128];
    snprintf(path, sizeof path, "%s/cookie", dir);
    write_cookie(path, COOKIE, 32, 0640);
    assert_int_equal(auth_with("COOKIE", NULL, false, &used, &p), TORIFY_OK);
    assert_int_equal(used, TORIFY_CTL_AUTH_COOKIE);
}

static void test_password_auth_quoted_and_refused(void **state)
{
    struct peer p;
    unsigned used;
    assert_int_equal(auth_with("HASHEDPASSWORD", "s3cr\"et", false, &used, &p), TORIFY_OK);
    assert_int_equal(used, TORIFY_CTL_AUTH_HASHEDPASSWORD);
    assert_int_equal(auth_with("HASHEDPASSWORD", "wrong", false, &used, &p), TORIFY_E_CTL_AUTH_FAILED);
    assert_int_equal(auth_with("HASHEDPASSWORD", NULL, false, &used, &p), TORIFY_E_CTL_AUTH_UNSUPPORTED);
    assert_int_equal(p.n_got, 1); /* nothing tried without a password */
}

static void test_cookie_file_checks(void **state)
{
    uint8_t out[32];
    char path[128];
    snprintf(path, sizeof path, "%s/cookie", dir);
    write_cookie(path, COOKIE, 32, 0600);
    assert_int_equal(torify_ctl_read_cookie(path, out), TORIFY_OK);
    assert_memory_equal(out, COOKIE, 32);
    write_cookie(path, COOKIE, 31, 0600);
    assert_int_equal(torify_ctl_read_cookie(path, out), TORIFY_E_CTL_COOKIE);
    assert_int_equal(errno, EINVAL);
    write_cookie(path, "0123456789abcdef0123456789abcdefX", 33, 0600);
    assert_int_equal(torify_ctl_read_cookie(path, out), TORIFY_E_CTL_COOKIE);
    assert_int_equal(errno, EINVAL);
    write_cookie(path, COOKIE, 32, 0622);
    assert_int_equal(torify_ctl_read_cookie(path, out), TORIFY_E_CTL_COOKIE);
    assert_int_equal(errno, EPERM);
    assert_int_equal(torify_ctl_read_cookie(dir, out), TORIFY_E_CTL_COOKIE);
    unlink(path);
    assert_int_equal(torify_ctl_read_cookie(path, out), TORIFY_E_CTL_COOKIE);
    assert_int_equal(errno, ENOENT);
}

static void test_cookie_trouble_is_named_when_it_was_the_only_way(void **state)
{
    struct peer p;
    unsigned used;
    char path[128];
    snprintf(path, sizeof path, "%s/cookie", dir);
    write_cookie(path, COOKIE, 16, 0600);
    assert_int_equal(auth_with("COOKIE,SAFECOOKIE", NULL, false, &used, &p), TORIFY_E_CTL_COOKIE);
    assert_int_equal(p.n_got, 1);
}

static int events_seen;
static void on_event(void *arg, const struct torify_ctl_reply *ev)
{
    events_seen++;
    assert_string_equal(ev->lines[0].text, "STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED");
}

static void test_queries(void **state)
{
    struct peer p;
    char v[256];
    bool set;
    start(&p, tor_like, "NULL");
    struct torify_ctl *c = open_ctl();
    events_seen = 0;
    torify_ctl_set_event_handler(c, on_event, NULL);
    assert_int_equal(torify_ctl_getinfo(c, "version", v, sizeof v), TORIFY_OK);
    assert_string_equal(v, "0.4.8.99");
    assert_int_equal(events_seen, 1);
    assert_int_equal(torify_ctl_getinfo(c, "config-text", v, sizeof v), TORIFY_OK);
    assert_string_equal(v, "SocksPort 9050\n.x");
    assert_int_equal(torify_ctl_getinfo(c, "version", v, 4), TORIFY_E_CTL_TOO_LONG);
    assert_int_equal(torify_ctl_getinfo(c, "nope", v, sizeof v), TORIFY_E_CTL_REFUSED);
    assert_int_equal(torify_ctl_getinfo(c, "a b", v, sizeof v), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_ctl_getconf(c, "SocksPort", v, sizeof v, &set), TORIFY_OK);
    assert_true(set);
    assert_string_equal(v, "127.0.0.1:9050");
    assert_int_equal(torify_ctl_getconf(c, "ControlPassword", v, sizeof v, &set), TORIFY_OK);
    assert_false(set);
    assert_int_equal(torify_ctl_setconf(c, "Log", "notice file /tmp/x \"y\""), TORIFY_OK);
    assert_int_equal(torify_ctl_signal(c, "NEWNYM"), TORIFY_OK);
    assert_int_equal(torify_ctl_signal(c, "NEWNYM\r\nSIGNAL HALT"), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_ctl_setevents(c, "STREAM CIRC"), TORIFY_OK);
    assert_int_equal(torify_ctl_command(c, "QUIT", NULL), TORIFY_E_CTL_TRUNCATED);
    stop(&p, c);
    assert_string_equal(p.got[6], "SETCONF Log=\"notice file /tmp/x \\\"y\\\"\"");
    assert_string_equal(p.got[7], "SIGNAL NEWNYM");
    assert_string_equal(p.got[8], "SETEVENTS STREAM CIRC");
}

static void test_unreachable(void **state)
{
    torify_err e;
    unlink(sun_addr.sun_path);
    assert_null(torify_ctl_open((struct sockaddr *)&sun_addr, sizeof sun_addr, 1000, &e));
    assert_int_equal(e, TORIFY_E_CTL_UNREACHABLE);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocolinfo),
        cmocka_unit_test(test_null_auth),
        cmocka_unit_test(test_safecookie_preferred_and_accepted),
        cmocka_unit_test(test_bad_server_hash_is_refused_before_authenticate),
        cmocka_unit_test(test_cookie_auth),
        cmocka_unit_test(test_password_auth_quoted_and_refused),
        cmocka_unit_test(test_cookie_file_checks),
        cmocka_unit_test(test_cookie_trouble_is_named_when_it_was_the_only_way),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
