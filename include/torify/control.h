/*
 * torify/control.h — a client for Tor's control port (control-spec, the v1
 * protocol), part of libtorify-socks.a: one archive, one error enum
 * (torify/error.h), one pkg-config file (torify-socks).
 *
 * Two layers, as for SOCKS in torify/socks.h:
 *
 *  - a sans-IO reply codec (torify_ctl_parser): feed it the bytes the
 *    control port sent, get complete replies.  It knows single ("250 "),
 *    mid ("250-") and data ("250+", dot-encoded) lines, tells asynchronous
 *    replies (6xx: events) from the answers to commands, and bounds every
 *    line and every reply by the storage the caller gives it;
 *  - blocking helpers over TCP or a unix socket (struct torify_ctl):
 *    PROTOCOLINFO, AUTHENTICATE (NULL, HASHEDPASSWORD, COOKIE, SAFECOOKIE),
 *    GETINFO, GETCONF, SETCONF, SIGNAL, SETEVENTS, and reading events.
 *
 * Secrets (passwords, cookies) never appear in a reply or an error text
 * this library produces.
 */
#ifndef TORIFY_CONTROL_H
#define TORIFY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <torify/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the reply codec ------------------------------------------------- */

/* Lines of one reply the parser keeps; a longer reply is TORIFY_E_CTL_TOO_BIG. */
#define TORIFY_CTL_LINES_MAX 256

struct torify_ctl_line {
    int code;          /* the three-digit status, e.g. 250, 650, 552 */
    char sep;          /* ' ' last line, '-' mid line, '+' data line */
    const char *text;  /* the line after "250-", NUL-terminated, no CRLF */
    size_t text_len;
    const char *data;  /* '+' lines: the data, dot-decoded, lines joined by "\n"; else NULL */
    size_t data_len;
};

struct torify_ctl_reply {
    int code;          /* the last line's status */
    size_t n_lines;
    struct torify_ctl_line lines[TORIFY_CTL_LINES_MAX];
};

/* 2xx: the command succeeded; 6xx: an asynchronous event. */
static inline bool torify_ctl_reply_ok(const struct torify_ctl_reply *r) { return r->code / 100 == 2; }
static inline bool torify_ctl_reply_is_event(const struct torify_ctl_reply *r) { return r->code / 100 == 6; }

enum torify_ctl_status {
    TORIFY_CTL_NEED_MORE = 0,  /* every byte fed was consumed, no reply complete yet */
    TORIFY_CTL_REPLY,          /* a reply is complete (torify_ctl_parser_reply); call _next before feeding again */
    TORIFY_CTL_ERROR,          /* the stream is broken: see torify_ctl_parser_error */
};

struct torify_ctl_parser {
    /* private: the state machine and the storage the text and data go to */
    int state;
    torify_err err;
    char *buf;
    size_t cap, used;
    size_t line_max, line_len;
    size_t start;        /* offset of the current line's text or data in buf */
    size_t data_lines;   /* data lines of the current '+' line so far */
    int code;
    char sep;
    unsigned digits;
    struct torify_ctl_reply reply;
};

/* Replies are stored in buf[0..cap): a reply larger than cap is
 * TORIFY_E_CTL_TOO_BIG, a line longer than line_max bytes (text or one
 * data line, without its CRLF) TORIFY_E_CTL_TOO_LONG. */
torify_err torify_ctl_parser_init(struct torify_ctl_parser *p, char *buf, size_t cap, size_t line_max);

/* Feed len bytes; *consumed says how many were taken (all of them unless a
 * reply completed or the stream broke: the rest belongs to later replies). */
enum torify_ctl_status torify_ctl_parser_feed(struct torify_ctl_parser *p, const char *in, size_t len,
                                              size_t *consumed);

/* The complete reply (valid until torify_ctl_parser_next), or NULL. */
const struct torify_ctl_reply *torify_ctl_parser_reply(const struct torify_ctl_parser *p);
torify_err torify_ctl_parser_error(const struct torify_ctl_parser *p);

/* Drop the complete reply, ready for the next one. */
void torify_ctl_parser_next(struct torify_ctl_parser *p);

/* ---- strings of the protocol ---------------------------------------- */

/* A QuotedString (control-spec 2.1: DQUOTE *qcontent DQUOTE, a backslash
 * quotes the next character) or, with cstring, a C-style string (\n \t \r
 * \\ \" \' \ooo \xHH), starting at in[0] == '"'.  The decoded value goes to
 * out (NUL-terminated, at most cap-1 bytes; a NUL in the value is
 * TORIFY_E_CTL_MALFORMED), *used says how many input bytes the string took
 * with its quotes. */
torify_err torify_ctl_unquote(const char *in, size_t len, bool cstring, char *out, size_t cap, size_t *used);

/* Write s as a QuotedString ("..." with \ and " escaped) into out; CR, LF and
 * NUL cannot be sent in a command: TORIFY_E_INVAL_ARGUMENT. */
torify_err torify_ctl_quote(const char *s, char *out, size_t cap);

/* KEYWORD=value pairs and flags of a line, in order (PROTOCOLINFO,
 * AUTHCHALLENGE, events).  *pos starts at 0.  A value is a QuotedString
 * (decoded) when it starts with '"', else the word up to the next space;
 * a word without '=' is a flag (empty value, *has_value false).  Returns
 * TORIFY_OK with *found, or TORIFY_E_CTL_MALFORMED / _TOO_LONG. */
torify_err torify_ctl_kv_next(const char *text, size_t len, size_t *pos, char *key, size_t key_cap,
                              char *val, size_t val_cap, bool *has_value, bool *found);

/* The value of key among the pairs of text; TORIFY_E_CTL_MISSING if absent. */
torify_err torify_ctl_kv_get(const char *text, size_t len, const char *key, char *val, size_t val_cap);

/* ---- the blocking client -------------------------------------------- */

struct torify_ctl;

/* Called for every event (6xx reply) read while waiting for an answer or
 * by torify_ctl_read_event's caller's loop; the reply is valid during the call. */
typedef void (*torify_ctl_event_fn)(void *arg, const struct torify_ctl_reply *event);

/* Connect to the control port at sa (AF_INET, AF_INET6 or AF_UNIX) within
 * timeout_ms (also every later command's bound).  NULL with *err:
 * TORIFY_E_CTL_UNREACHABLE (errno the system's reason), TORIFY_E_TIMEOUT,
 * TORIFY_E_IO. */
struct torify_ctl *torify_ctl_open(const struct sockaddr *sa, socklen_t len, int timeout_ms, torify_err *err);
void torify_ctl_close(struct torify_ctl *c);
int torify_ctl_fd(const struct torify_ctl *c);
void torify_ctl_set_event_handler(struct torify_ctl *c, torify_ctl_event_fn fn, void *arg);

/* Send one command line (no CRLF; it must hold none) and read its reply;
 * events that arrive first go to the event handler.  *reply (may be NULL)
 * stays valid until the next call on c.  TORIFY_OK for a 2xx answer,
 * TORIFY_E_CTL_REFUSED for 4xx/5xx (the reply says why), or the codec's /
 * I/O error (TORIFY_E_CTL_TRUNCATED when Tor closed mid-reply). */
torify_err torify_ctl_command(struct torify_ctl *c, const char *line, const struct torify_ctl_reply **reply);

/* The next event, waiting at most timeout_ms (-1: the connection's bound). */
torify_err torify_ctl_read_event(struct torify_ctl *c, int timeout_ms, const struct torify_ctl_reply **event);

/* PROTOCOLINFO 1. */
enum {
    TORIFY_CTL_AUTH_NULL = 1 << 0,
    TORIFY_CTL_AUTH_HASHEDPASSWORD = 1 << 1,
    TORIFY_CTL_AUTH_COOKIE = 1 << 2,
    TORIFY_CTL_AUTH_SAFECOOKIE = 1 << 3,
};
struct torify_ctl_protocolinfo {
    unsigned methods;        /* TORIFY_CTL_AUTH_* offered */
    char cookie_file[4096];  /* COOKIEFILE, "" if none */
    char version[128];       /* VERSION Tor=..., "" if none */
};
torify_err torify_ctl_protocolinfo(struct torify_ctl *c, struct torify_ctl_protocolinfo *out);

/* The cookie is exactly this long (control-spec, AUTHENTICATE). */
#define TORIFY_CTL_COOKIE_LEN 32

/* Read a cookie file: a regular file of exactly 32 bytes that neither group
 * nor others may write (another user could have put a cookie of theirs
 * there).  TORIFY_E_CTL_COOKIE with errno saying why (EINVAL: wrong size,
 * EPERM: loose permissions, the system's otherwise). */
torify_err torify_ctl_read_cookie(const char *path, uint8_t cookie[TORIFY_CTL_COOKIE_LEN]);

struct torify_ctl_auth {
    const char *password;     /* for HASHEDPASSWORD; NULL: none */
    const char *cookie_file;  /* NULL: PROTOCOLINFO's COOKIEFILE */
};
/* Which method authenticate used (TORIFY_CTL_AUTH_*), for the caller to say. */
/* PROTOCOLINFO (when info is NULL), then the best method offered that we
 * can do: NULL, SAFECOOKIE, COOKIE, HASHEDPASSWORD.  SAFECOOKIE checks
 * Tor's server hash, in constant time, before sending ours: a control port
 * that does not know the cookie is refused (TORIFY_E_CTL_SERVER_HASH)
 * without learning anything.  *used (may be NULL) gets the method tried.
 * TORIFY_E_CTL_AUTH_FAILED when Tor refused, TORIFY_E_CTL_AUTH_UNSUPPORTED
 * when no offered method is possible (no password given, no cookie). */
torify_err torify_ctl_authenticate(struct torify_ctl *c, const struct torify_ctl_protocolinfo *info,
                                   const struct torify_ctl_auth *auth, unsigned *used);

/* GETINFO key: the value (a data reply's lines joined with "\n") into out.
 * TORIFY_E_CTL_TOO_LONG when it does not fit in cap. */
torify_err torify_ctl_getinfo(struct torify_ctl *c, const char *key, char *out, size_t cap);
/* GETCONF key: the first value ("" when unset: *is_set false). */
torify_err torify_ctl_getconf(struct torify_ctl *c, const char *key, char *out, size_t cap, bool *is_set);
/* SETCONF key="value" (value NULL: back to the default). */
torify_err torify_ctl_setconf(struct torify_ctl *c, const char *key, const char *value);
/* SIGNAL name (NEWNYM, RELOAD, ...). */
torify_err torify_ctl_signal(struct torify_ctl *c, const char *name);
/* SETEVENTS names ("STREAM CIRC"; "" for none). */
torify_err torify_ctl_setevents(struct torify_ctl *c, const char *names);

#ifdef __cplusplus
}
#endif
#endif /* TORIFY_CONTROL_H */
