/*
 * The control-port reply codec (control/reply.c) and the protocol's
 * strings (control/escape.c): replies of every kind, split anywhere,
 * events before a reply, dot-encoding edge cases, and what is refused
 * (bare LF, CR alone, NUL, a code change inside a reply, past a bound).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <torify/control.h>

static char store[4096];
static struct torify_ctl_parser P;

static void init(size_t cap, size_t line_max)
{
    assert_int_equal(torify_ctl_parser_init(&P, store, cap, line_max), TORIFY_OK);
}

/* Feed all of s at once; the status, and how much was consumed. */
static enum torify_ctl_status feed(const char *s, size_t *used)
{
    size_t u;
    enum torify_ctl_status st = torify_ctl_parser_feed(&P, s, strlen(s), &u);
    if (used)
        *used = u;
    return st;
}

/* Feed one byte at a time: the same reply must come out. */
static enum torify_ctl_status feed_bytewise(const char *s)
{
    enum torify_ctl_status st = TORIFY_CTL_NEED_MORE;
    size_t n = strlen(s), u;
    for (size_t i = 0; i < n; i++) {
        st = torify_ctl_parser_feed(&P, s + i, 1, &u);
        assert_int_equal(u, 1);
        if (st != TORIFY_CTL_NEED_MORE) {
            assert_int_equal(i, n - 1);
            break;
        }
    }
    return st;
}

static void test_single_line_reply(void **state)
{
    init(sizeof store, 1024);
    assert_int_equal(feed("250 OK\r\n", NULL), TORIFY_CTL_REPLY);
    const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
    assert_non_null(r);
    assert_int_equal(r->code, 250);
    assert_int_equal(r->n_lines, 1);
    assert_int_equal(r->lines[0].sep, ' ');
    assert_string_equal(r->lines[0].text, "OK");
    assert_true(torify_ctl_reply_ok(r));
    assert_false(torify_ctl_reply_is_event(r));
}

static void test_mid_lines_then_end(void **state)
{
    static const char in[] = "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.8.9\"\r\n250 OK\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        init(sizeof store, 1024);
        assert_int_equal(bytewise ? feed_bytewise(in) : feed(in, NULL), TORIFY_CTL_REPLY);
        const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
        assert_int_equal(r->n_lines, 4);
        assert_int_equal(r->lines[1].sep, '-');
        assert_string_equal(r->lines[1].text, "AUTH METHODS=NULL");
        assert_int_equal(r->lines[1].text_len, strlen("AUTH METHODS=NULL"));
        assert_string_equal(r->lines[2].text, "VERSION Tor=\"0.4.8.9\"");
        assert_string_equal(r->lines[3].text, "OK");
    }
}

static void test_data_reply_is_dot_decoded(void **state)
{
    /* A stuffed dot, an empty line, a line that is only "..", the end. */
    static const char in[] = "250+config-text=\r\nSocksPort 9050\r\n..hidden\r\n\r\n..\r\n.\r\n250 OK\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        init(sizeof store, 1024);
        assert_int_equal(bytewise ? feed_bytewise(in) : feed(in, NULL), TORIFY_CTL_REPLY);
        const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
        assert_int_equal(r->n_lines, 2);
        assert_int_equal(r->lines[0].sep, '+');
        assert_string_equal(r->lines[0].text, "config-text=");
        assert_non_null(r->lines[0].data);
        assert_string_equal(r->lines[0].data, "SocksPort 9050\n.hidden\n\n.");
        assert_int_equal(r->lines[0].data_len, strlen("SocksPort 9050\n.hidden\n\n."));
        assert_null(r->lines[1].data);
    }
}

static void test_empty_data_and_two_data_lines(void **state)
{
    init(sizeof store, 1024);
    assert_int_equal(feed("250+a=\r\n.\r\n250+b=\r\nx\r\n.\r\n250 OK\r\n", NULL), TORIFY_CTL_REPLY);
    const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
    assert_int_equal(r->n_lines, 3);
    assert_string_equal(r->lines[0].data, "");
    assert_int_equal(r->lines[0].data_len, 0);
    assert_string_equal(r->lines[1].data, "x");
}

static void test_event_before_the_reply_stops_the_feed(void **state)
{
    static const char in[] = "650 BW 10 20\r\n250 OK\r\n";
    size_t used;
    init(sizeof store, 1024);
    assert_int_equal(feed(in, &used), TORIFY_CTL_REPLY);
    assert_int_equal(used, strlen("650 BW 10 20\r\n"));
    const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
    assert_true(torify_ctl_reply_is_event(r));
    assert_string_equal(r->lines[0].text, "BW 10 20");
    torify_ctl_parser_next(&P);
    assert_null(torify_ctl_parser_reply(&P));
    assert_int_equal(torify_ctl_parser_feed(&P, in + used, strlen(in) - used, NULL), TORIFY_CTL_REPLY);
    assert_int_equal(torify_ctl_parser_reply(&P)->code, 250);
}

static void test_multi_line_event(void **state)
{
    init(sizeof store, 1024);
    assert_int_equal(feed("650-CIRC 1 BUILT\r\n650+NS\r\nr x\r\n.\r\n650 OK\r\n", NULL), TORIFY_CTL_REPLY);
    const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
    assert_true(torify_ctl_reply_is_event(r));
    assert_int_equal(r->n_lines, 3);
    assert_string_equal(r->lines[1].data, "r x");
}

static void test_refusal_codes_are_replies_not_errors(void **state)
{
    init(sizeof store, 1024);
    assert_int_equal(feed("552 Unrecognized key \"nope\"\r\n", NULL), TORIFY_CTL_REPLY);
    const struct torify_ctl_reply *r = torify_ctl_parser_reply(&P);
    assert_int_equal(r->code, 552);
    assert_false(torify_ctl_reply_ok(r));
}

static void assert_broken(const char *in, torify_err want)
{
    init(sizeof store, 1024);
    assert_int_equal(feed(in, NULL), TORIFY_CTL_ERROR);
    assert_int_equal(torify_ctl_parser_error(&P), want);
    /* Once broken, always broken: no reply out of the rest. */
    assert_int_equal(feed("250 OK\r\n", NULL), TORIFY_CTL_ERROR);
    assert_null(torify_ctl_parser_reply(&P));
}

static void test_malformed_lines_are_refused(void **state)
{
    assert_broken("250 OK\n", TORIFY_E_CTL_MALFORMED);                 /* bare LF */
    assert_broken("250 OK\rX", TORIFY_E_CTL_MALFORMED);                /* CR alone */
    assert_broken("25x OK\r\n", TORIFY_E_CTL_MALFORMED);               /* not a code */
    assert_broken("250*OK\r\n", TORIFY_E_CTL_MALFORMED);               /* not a separator */
    assert_broken("099 OK\r\n", TORIFY_E_CTL_MALFORMED);               /* not a status */
    assert_broken("250-a\r\n650 BW 1 2\r\n", TORIFY_E_CTL_MALFORMED);  /* an event inside a reply */
    assert_broken("250-a\r\n251 b\r\n", TORIFY_E_CTL_MALFORMED);       /* the code changes */
    assert_broken("250+a=\r\nx\ny\r\n.\r\n", TORIFY_E_CTL_MALFORMED);  /* bare LF in data */
    assert_broken("250+a=\r\n.\rx", TORIFY_E_CTL_MALFORMED);           /* a terminator without LF */
    init(sizeof store, 1024);
    assert_int_equal(torify_ctl_parser_feed(&P, "250 O\0K\r\n", 8, NULL), TORIFY_CTL_ERROR);
    assert_int_equal(torify_ctl_parser_error(&P), TORIFY_E_CTL_MALFORMED);
}

static void test_truncated_reply_needs_more(void **state)
{
    init(sizeof store, 1024);
    assert_int_equal(feed("250-a\r\n250 O", NULL), TORIFY_CTL_NEED_MORE);
    assert_null(torify_ctl_parser_reply(&P));
    init(sizeof store, 1024);
    assert_int_equal(feed("250+a=\r\nx\r\n", NULL), TORIFY_CTL_NEED_MORE);
}

static void test_line_and_reply_bounds(void **state)
{
    char line[64];
    init(sizeof store, 10);
    assert_int_equal(feed("250 0123456789\r\n", NULL), TORIFY_CTL_REPLY);
    init(sizeof store, 10);
    assert_int_equal(feed("250 0123456789A\r\n", NULL), TORIFY_CTL_ERROR);
    assert_int_equal(torify_ctl_parser_error(&P), TORIFY_E_CTL_TOO_LONG);
    /* Data lines are bounded one by one. */
    init(sizeof store, 10);
    assert_int_equal(feed("250+a=\r\n0123456789\r\n0123456789A\r\n", NULL), TORIFY_CTL_ERROR);
    assert_int_equal(torify_ctl_parser_error(&P), TORIFY_E_CTL_TOO_LONG);
    /* The whole reply by the store. */
    init(16, 1024);
    assert_int_equal(feed("250-0123456\r\n250 01234567\r\n", NULL), TORIFY_CTL_ERROR);
    assert_int_equal(torify_ctl_parser_error(&P), TORIFY_E_CTL_TOO_BIG);
    /* And the number of lines. */
    init(sizeof store, 1024);
    enum torify_ctl_status st = TORIFY_CTL_NEED_MORE;
    for (int i = 0; i <= TORIFY_CTL_LINES_MAX && st == TORIFY_CTL_NEED_MORE; i++) {
        snprintf(line, sizeof line, "250-x\r\n");
        st = feed(line, NULL);
    }
    assert_int_equal(st, TORIFY_CTL_ERROR);
    assert_int_equal(torify_ctl_parser_error(&P), TORIFY_E_CTL_TOO_BIG);
}

static void test_quoted_string(void **state)
{
    char out[32];
    size_t used;
    assert_int_equal(torify_ctl_unquote("\"a\\\"b\\\\c\" rest", 15, false, out, sizeof out, &used), TORIFY_OK);
    assert_string_equal(out, "a\"b\\c");
    assert_int_equal(used, 9);
    /* In a QuotedString a backslash quotes: "\n" is the letter n. */
    assert_int_equal(torify_ctl_unquote("\"\\n\"", 4, false, out, sizeof out, NULL), TORIFY_OK);
    assert_string_equal(out, "n");
    assert_int_equal(torify_ctl_unquote("\"abc", 4, false, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_unquote("\"abc\\", 5, false, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_unquote("abc\"", 4, false, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_unquote("\"abcd\"", 6, false, out, 4, NULL), TORIFY_E_CTL_TOO_LONG);
    assert_int_equal(torify_ctl_unquote("\"abc\"", 5, false, out, 4, NULL), TORIFY_OK);
}

static void test_cstring_escapes(void **state)
{
    char out[32];
    static const char in[] = "\"\\n\\t\\r\\\\\\\"\\'\\101\\x42\\7\"";
    assert_int_equal(torify_ctl_unquote(in, strlen(in), true, out, sizeof out, NULL), TORIFY_OK);
    assert_string_equal(out, "\n\t\r\\\"'AB\a");
    assert_int_equal(torify_ctl_unquote("\"\\000\"", 6, true, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_unquote("\"\\x4\"", 5, true, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_unquote("\"\\q\"", 4, true, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_unquote("\"\\777\"", 6, true, out, sizeof out, NULL), TORIFY_E_CTL_MALFORMED);
}

static void test_quote_for_a_command(void **state)
{
    char out[16];
    assert_int_equal(torify_ctl_quote("pa\"ss\\", out, sizeof out), TORIFY_OK);
    assert_string_equal(out, "\"pa\\\"ss\\\\\"");
    assert_int_equal(torify_ctl_quote("a\r\nSIGNAL HALT", out, sizeof out), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_ctl_quote("0123456789abcdef", out, sizeof out), TORIFY_E_CTL_TOO_LONG);
    assert_int_equal(torify_ctl_quote("0123456789abc", out, sizeof out), TORIFY_OK);
}

static void test_keyword_value_pairs(void **state)
{
    static const char t[] = "METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/run/tor/con\\\"trol\" FLAG EMPTY=";
    size_t pos = 0;
    char k[32], v[64];
    bool hv, found;
    assert_int_equal(torify_ctl_kv_next(t, strlen(t), &pos, k, sizeof k, v, sizeof v, &hv, &found), TORIFY_OK);
    assert_true(found && hv);
    assert_string_equal(k, "METHODS");
    assert_string_equal(v, "COOKIE,SAFECOOKIE");
    assert_int_equal(torify_ctl_kv_next(t, strlen(t), &pos, k, sizeof k, v, sizeof v, &hv, &found), TORIFY_OK);
    assert_string_equal(k, "COOKIEFILE");
    assert_string_equal(v, "/run/tor/con\"trol");
    assert_int_equal(torify_ctl_kv_next(t, strlen(t), &pos, k, sizeof k, v, sizeof v, &hv, &found), TORIFY_OK);
    assert_true(found);
    assert_false(hv);
    assert_string_equal(k, "FLAG");
    assert_int_equal(torify_ctl_kv_next(t, strlen(t), &pos, k, sizeof k, v, sizeof v, &hv, &found), TORIFY_OK);
    assert_true(found && hv);
    assert_string_equal(v, "");
    assert_int_equal(torify_ctl_kv_next(t, strlen(t), &pos, k, sizeof k, v, sizeof v, &hv, &found), TORIFY_OK);
    assert_false(found);

    assert_int_equal(torify_ctl_kv_get(t, strlen(t), "COOKIEFILE", v, sizeof v), TORIFY_OK);
    assert_string_equal(v, "/run/tor/con\"trol");
    assert_int_equal(torify_ctl_kv_get(t, strlen(t), "NOPE", v, sizeof v), TORIFY_E_CTL_MISSING);
    assert_int_equal(torify_ctl_kv_get(t, strlen(t), "METHODS", v, 4), TORIFY_E_CTL_TOO_LONG);
    assert_int_equal(torify_ctl_kv_get("A=\"x\"y", 6, "A", v, sizeof v), TORIFY_E_CTL_MALFORMED);
    assert_int_equal(torify_ctl_kv_get("=x", 2, "A", v, sizeof v), TORIFY_E_CTL_MALFORMED);
    /* A flag longer than any keyword (a circuit's path) does not hide what follows. */
    static const char circ[] = "17 BUILT $0123456789ABCDEF0123456789ABCDEF01234567~auth2,"
                               "$0123456789ABCDEF0123456789ABCDEF01234567~exit1 PURPOSE=HS_CLIENT_REND";
    assert_int_equal(torify_ctl_kv_get(circ, strlen(circ), "PURPOSE", v, sizeof v), TORIFY_OK);
    assert_string_equal(v, "HS_CLIENT_REND");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line_reply),
        cmocka_unit_test(test_mid_lines_then_end),
        cmocka_unit_test(test_data_reply_is_dot_decoded),
        cmocka_unit_test(test_empty_data_and_two_data_lines),
        cmocka_unit_test(test_event_before_the_reply_stops_the_feed),
        cmocka_unit_test(test_multi_line_event),
        cmocka_unit_test(test_refusal_codes_are_replies_not_errors),
        cmocka_unit_test(test_malformed_lines_are_refused),
        cmocka_unit_test(test_truncated_reply_needs_more),
        cmocka_unit_test(test_line_and_reply_bounds),
        cmocka_unit_test(test_quoted_string),
        cmocka_unit_test(test_cstring_escapes),
        cmocka_unit_test(test_quote_for_a_command),
        cmocka_unit_test(test_keyword_value_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
