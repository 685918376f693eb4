/*
 * The sans-IO SOCKS client state machine (include/torify/socks.h).
 *
 * Everything to send is encoded at init into out[]; the states walk through
 * it segment by segment (SOCKS5 without pipelining) or all at once.  Each
 * read state knows exactly how many bytes its reply piece has, so need()
 * never exceeds the reply: a SOCKS5 reply is read as a 5-byte head (VER REP
 * RSV ATYP and the first address byte, which is the name length for ATYP 3),
 * then exactly the rest.
 */
#include <string.h>

#include "internal.h"

enum {
    ST_NONE = 0,       /* zeroed struct: never initialised */
    ST_S4_SEND,        /* SOCKS4/4a request */
    ST_S4_REPLY,       /* 8-byte reply */
    ST_S5_SEND_GREET,  /* greeting only (not pipelined) */
    ST_S5_SEND_ALL,    /* greeting + auth + request (pipelined) */
    ST_S5_METHOD,      /* 2-byte method selection */
    ST_S5_SEND_AUTH,   /* RFC 1929 request (not pipelined) */
    ST_S5_AUTH,        /* 2-byte RFC 1929 status */
    ST_S5_SEND_REQ,    /* request (not pipelined) */
    ST_S5_HEAD,        /* first 5 reply bytes */
    ST_S5_REST,        /* the rest of the reply */
    ST_DONE,
    ST_FAILED,
    ST__COUNT
};

/* Each state: its name for debug logs (torify_socks_state_name) and what
 * it asks of the caller (torify_socks_want). */
static const struct {
    const char *name;
    enum torify_socks_want want;
} states[ST__COUNT] = {
    [ST_NONE] = { "uninitialised", TORIFY_SOCKS_FAILED },
    [ST_S4_SEND] = { "socks4-send-request", TORIFY_SOCKS_WANT_WRITE },
    [ST_S4_REPLY] = { "socks4-read-reply", TORIFY_SOCKS_WANT_READ },
    [ST_S5_SEND_GREET] = { "socks5-send-greeting", TORIFY_SOCKS_WANT_WRITE },
    [ST_S5_SEND_ALL] = { "socks5-send-pipelined", TORIFY_SOCKS_WANT_WRITE },
    [ST_S5_METHOD] = { "socks5-read-method", TORIFY_SOCKS_WANT_READ },
    [ST_S5_SEND_AUTH] = { "socks5-send-auth", TORIFY_SOCKS_WANT_WRITE },
    [ST_S5_AUTH] = { "socks5-read-auth-status", TORIFY_SOCKS_WANT_READ },
    [ST_S5_SEND_REQ] = { "socks5-send-request", TORIFY_SOCKS_WANT_WRITE },
    [ST_S5_HEAD] = { "socks5-read-reply-head", TORIFY_SOCKS_WANT_READ },
    [ST_S5_REST] = { "socks5-read-reply-rest", TORIFY_SOCKS_WANT_READ },
    [ST_DONE] = { "done", TORIFY_SOCKS_DONE },
    [ST_FAILED] = { "failed", TORIFY_SOCKS_FAILED },
};

/* What state st asks for; a byte no state has (a struct scribbled over) is
 * FAILED. */
static enum torify_socks_want want_of(uint8_t st)
{
    return st < ST__COUNT ? states[st].want : TORIFY_SOCKS_FAILED;
}

/* The one place the state changes.  A failure remembers where it happened
 * (failed_in), so a log line can say which step of the exchange broke. */
static void enter(struct torify_socks *s, uint8_t st)
{
    if (st == ST_FAILED && s->state != ST_FAILED)
        s->failed_in = s->state;
    s->state = st;
}

#define METHOD_NONE 0x00
#define METHOD_USERPASS 0x02

static int is_send(uint8_t st)
{
    return want_of(st) == TORIFY_SOCKS_WANT_WRITE;
}

static int is_read(uint8_t st)
{
    return want_of(st) == TORIFY_SOCKS_WANT_READ;
}

static torify_err fail(struct torify_socks *s, torify_err e)
{
    enter(s, ST_FAILED);
    s->err = (uint16_t)e;
    s->out_end = s->out_pos;
    s->in_need = s->in_len;
    return e;
}

static void to_send(struct torify_socks *s, uint8_t st, uint16_t end)
{
    enter(s, st);
    s->out_end = end;
}

static void to_read(struct torify_socks *s, uint8_t st, uint16_t need)
{
    enter(s, st);
    s->in_len = 0;
    s->in_need = need;
}

static int pipelined(const struct torify_socks *s)
{
    return (s->flags & TORIFY_SOCKS_PIPELINE) != 0;
}

/* What follows a finished SOCKS5 method selection or authentication. */
static void after_auth(struct torify_socks *s)
{
    if (pipelined(s))
        to_read(s, ST_S5_HEAD, TORIFY_SX_S5_HEAD_LEN); /* request already sent */
    else
        to_send(s, ST_S5_SEND_REQ, s->out_len);
}

torify_err torify_socks_init(struct torify_socks *s, enum torify_socks_proto proto,
                             enum torify_socks_cmd cmd, const struct torify_target *target,
                             const char *user, const char *pass, unsigned flags)
{
    torify_err e;
    size_t n = 0, g = 0, a = 0, r = 0;

    if (s == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    memset(s, 0, sizeof *s);
    s->proto = (uint8_t)proto;
    s->cmd = (uint8_t)cmd;
    s->flags = (uint8_t)flags;
    if ((flags & ~TORIFY_SOCKS_PIPELINE) != 0 || target == NULL)
        return fail(s, TORIFY_E_INVAL_ARGUMENT);

    switch (proto) {
    case TORIFY_SOCKS4:
    case TORIFY_SOCKS4A:
        /* SOCKS4 has no password field. */
        if (pass != NULL)
            return fail(s, TORIFY_E_INVAL_CREDENTIALS);
        e = torify_sx_enc_s4_request(s->out, sizeof s->out, &n, proto == TORIFY_SOCKS4A, (uint8_t)cmd,
                                  target, user);
        if (e != TORIFY_OK)
            return fail(s, e);
        s->out_len = (uint16_t)n;
        to_send(s, ST_S4_SEND, s->out_len);
        return TORIFY_OK;

    case TORIFY_SOCKS5:
        /* Credentials are all or nothing: half of them is a caller bug,
         * not a request for "no authentication". */
        if (user != NULL || pass != NULL) {
            if (user == NULL || pass == NULL)
                return fail(s, TORIFY_E_INVAL_CREDENTIALS);
            s->method = METHOD_USERPASS;
        } else {
            s->method = METHOD_NONE;
        }
        e = torify_sx_enc_s5_greeting(s->out, sizeof s->out, &g, s->method);
        if (e == TORIFY_OK && s->method == METHOD_USERPASS)
            e = torify_sx_enc_s5_auth(s->out + g, sizeof s->out - g, &a, user, pass);
        if (e == TORIFY_OK)
            e = torify_sx_enc_s5_request(s->out + g + a, sizeof s->out - g - a, &r, (uint8_t)cmd, target);
        if (e != TORIFY_OK)
            return fail(s, e);
        s->greet_end = (uint16_t)g;
        s->auth_end = (uint16_t)(g + a);
        s->out_len = (uint16_t)(g + a + r);
        if (pipelined(s))
            to_send(s, ST_S5_SEND_ALL, s->out_len);
        else
            to_send(s, ST_S5_SEND_GREET, s->greet_end);
        return TORIFY_OK;

    default:
        return fail(s, TORIFY_E_INVAL_ARGUMENT);
    }
}

enum torify_socks_want torify_socks_want(const struct torify_socks *s)
{
    return s == NULL ? TORIFY_SOCKS_FAILED : want_of(s->state);
}

size_t torify_socks_output(const struct torify_socks *s, const uint8_t **buf)
{
    if (buf != NULL)
        *buf = NULL;
    if (s == NULL || !is_send(s->state) || s->out_end <= s->out_pos)
        return 0;
    if (buf != NULL)
        *buf = s->out + s->out_pos;
    return (size_t)(s->out_end - s->out_pos);
}

torify_err torify_socks_sent(struct torify_socks *s, size_t n)
{
    if (s == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (!is_send(s->state))
        return n == 0 ? TORIFY_OK : TORIFY_E_INVAL_STATE;
    /* Claiming more than was offered is a caller bug; leave the state
     * alone so the caller's own error path sees a consistent codec. */
    if (n > (size_t)(s->out_end - s->out_pos))
        return TORIFY_E_INVAL_ARGUMENT;
    s->out_pos = (uint16_t)(s->out_pos + n);
    if (s->out_pos < s->out_end)
        return TORIFY_OK;

    switch (s->state) {
    case ST_S4_SEND:
        to_read(s, ST_S4_REPLY, TORIFY_SX_S4_REPLY_LEN);
        break;
    case ST_S5_SEND_GREET:
    case ST_S5_SEND_ALL:
        to_read(s, ST_S5_METHOD, TORIFY_SX_S5_METHOD_LEN);
        break;
    case ST_S5_SEND_AUTH:
        to_read(s, ST_S5_AUTH, TORIFY_SX_S5_AUTH_LEN);
        break;
    default: /* ST_S5_SEND_REQ */
        to_read(s, ST_S5_HEAD, TORIFY_SX_S5_HEAD_LEN);
        break;
    }
    return TORIFY_OK;
}

size_t torify_socks_need(const struct torify_socks *s)
{
    if (s == NULL || !is_read(s->state))
        return 0;
    return (size_t)(s->in_need - s->in_len);
}

/* A reply piece is complete in in[]: judge it and move on. */
static torify_err step(struct torify_socks *s)
{
    torify_err e;
    size_t total = 0;

    switch (s->state) {
    case ST_S4_REPLY:
        e = torify_sx_dec_s4_reply(s->in, &s->result);
        if (e != TORIFY_OK)
            return e;
        enter(s, ST_DONE);
        return TORIFY_OK;

    case ST_S5_METHOD:
        /* Tor (seen with 0.4.9.11) parses a pipelined greeting and RFC 1929
         * request in one go and sends only the last reply: the 2-byte
         * method selection never comes, the auth status (version 0x01)
         * does.  Only 0x02 was offered, so the skipped selection can only
         * have chosen it; accept the status in its place.  Unambiguous: a
         * method selection starts with 0x05. */
        if (pipelined(s) && s->method == METHOD_USERPASS && s->in[0] == SX_AUTH_VERSION) {
            e = torify_sx_dec_s5_auth(s->in);
            if (e != TORIFY_OK)
                return e;
            after_auth(s);
            return TORIFY_OK;
        }
        e = torify_sx_dec_s5_method(s->in, s->method);
        if (e != TORIFY_OK)
            return e;
        if (s->method == METHOD_USERPASS) {
            if (pipelined(s))
                to_read(s, ST_S5_AUTH, TORIFY_SX_S5_AUTH_LEN);
            else
                to_send(s, ST_S5_SEND_AUTH, s->auth_end);
        } else {
            after_auth(s);
        }
        return TORIFY_OK;

    case ST_S5_AUTH:
        e = torify_sx_dec_s5_auth(s->in);
        if (e != TORIFY_OK)
            return e;
        after_auth(s);
        return TORIFY_OK;

    case ST_S5_HEAD:
        e = torify_sx_dec_s5_head(s->in, s->cmd, &total);
        if (e != TORIFY_OK)
            return e;
        /* Keep the head in in[] and read exactly the rest after it. */
        enter(s, ST_S5_REST);
        s->in_need = (uint16_t)total;
        return TORIFY_OK;

    case ST_S5_REST:
        e = torify_sx_dec_s5_reply(s->in, s->in_len, &s->result);
        if (e != TORIFY_OK)
            return e;
        enter(s, ST_DONE);
        return TORIFY_OK;

    default:
        return TORIFY_E_INVAL_STATE;
    }
}

torify_err torify_socks_feed(struct torify_socks *s, const uint8_t *buf, size_t n, size_t *used)
{
    size_t taken = 0;
    torify_err e = TORIFY_OK;

    if (used != NULL)
        *used = 0;
    if (s == NULL || (buf == NULL && n > 0))
        return TORIFY_E_INVAL_ARGUMENT;
    if (s->state == ST_FAILED)
        return (torify_err)s->err;
    if (!is_read(s->state))
        return n == 0 ? TORIFY_OK : TORIFY_E_INVAL_STATE;

    /* Several pieces may arrive together (pipelining): go on while the
     * codec still reads.  Once it wants to write or is done, the remaining
     * bytes are not ours. */
    while (taken < n && is_read(s->state)) {
        size_t want = (size_t)(s->in_need - s->in_len);
        size_t k = n - taken < want ? n - taken : want;
        memcpy(s->in + s->in_len, buf + taken, k);
        s->in_len = (uint16_t)(s->in_len + k);
        taken += k;
        if (s->in_len == s->in_need) {
            e = step(s);
            if (e != TORIFY_OK) {
                fail(s, e);
                break;
            }
        }
    }
    if (used != NULL)
        *used = taken;
    return e;
}

torify_err torify_socks_eof(struct torify_socks *s)
{
    if (s == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (s->state == ST_DONE)
        return TORIFY_OK;
    if (s->state == ST_FAILED)
        return (torify_err)s->err;
    if (s->state == ST_NONE)
        return fail(s, TORIFY_E_INVAL_STATE);
    return fail(s, TORIFY_E_PROTO_TRUNCATED);
}

torify_err torify_socks_error(const struct torify_socks *s)
{
    if (s == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (s->state == ST_FAILED)
        return (torify_err)s->err;
    if (s->state == ST_NONE)
        return TORIFY_E_INVAL_STATE;
    return TORIFY_OK;
}

const struct torify_target *torify_socks_result(const struct torify_socks *s)
{
    if (s == NULL || s->state != ST_DONE)
        return NULL;
    return &s->result;
}

torify_err torify_sx_fail(struct torify_socks *s, torify_err e)
{
    if (s->state == ST_FAILED)
        return (torify_err)s->err; /* the first error stays */
    return fail(s, e);
}

const char *torify_socks_state_name(const struct torify_socks *s)
{
    uint8_t st;
    if (s == NULL)
        return "none";
    st = s->state == ST_FAILED ? s->failed_in : s->state;
    if (st >= ST__COUNT)
        return "invalid";
    /* Failed at init (bad input): failed_in is ST_NONE. */
    return st == ST_NONE && s->state == ST_FAILED ? "init" : states[st].name;
}
