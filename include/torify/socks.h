/*
 * torify/socks.h — SOCKS4, SOCKS4a and SOCKS5 client for talking to Tor.
 *
 * Three layers:
 *
 *  1. A sans-IO codec (struct torify_socks).  It never touches a socket and
 *     never allocates: the caller asks what to do next (torify_socks_want),
 *     sends the bytes the codec hands out (torify_socks_output /
 *     torify_socks_sent), reads *at most* the number of bytes the codec asks
 *     for (torify_socks_need) and feeds them back (torify_socks_feed), until
 *     the codec says DONE or FAILED.  Because it never asks for more bytes
 *     than the reply holds, no application data that follows the reply is
 *     ever swallowed.  The same code drives blocking sockets, non-blocking
 *     sockets in an event loop, and fuzzers.
 *
 *  2. The driver: torify_socks_advance runs the codec on a socket as far
 *     as it goes without blocking and says what to wait for.  An event
 *     loop calls it when the socket is ready; nobody needs to write the
 *     send/recv loop again.
 *
 *  3. Blocking helpers over a file descriptor with a timeout, built on the
 *     driver:
 *     torify_socks_handshake_fd, torify_socks_dial, torify_socks_resolve,
 *     torify_socks_resolve_ptr.
 *
 * Protocols and commands:
 *   SOCKS4  — CONNECT to an IPv4 address only (0.0.0.x, x != 0, is refused:
 *             a server would read it as the SOCKS4a marker).
 *   SOCKS4a — CONNECT to a hostname (sent as 0.0.0.1 + name) or IPv4;
 *             RESOLVE (Tor extension) of a hostname.
 *   SOCKS5  — CONNECT / RESOLVE / RESOLVE_PTR with hostname, IPv4 or IPv6,
 *             optional RFC 1929 username/password (Tor uses them to isolate
 *             streams onto distinct circuits).
 *   RESOLVE and RESOLVE_PTR always send port 0 (Tor ignores it).
 *   Exactly one SOCKS5 method is offered: 0x00 without credentials, 0x02
 *   with them, so a server can never silently drop stream isolation.
 *
 * Thread-safety: a codec object belongs to one thread at a time; the
 * functions keep no global state.
 */
#ifndef TORIFY_SOCKS_H
#define TORIFY_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <torify/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum torify_socks_proto {
    TORIFY_SOCKS4  = 4,
    TORIFY_SOCKS4A = 0x4a,
    TORIFY_SOCKS5  = 5,
};

enum torify_socks_cmd {
    TORIFY_SOCKS_CONNECT     = 0x01,
    TORIFY_SOCKS_RESOLVE     = 0xF0, /* Tor: hostname -> address */
    TORIFY_SOCKS_RESOLVE_PTR = 0xF1, /* Tor: address -> hostname (SOCKS5 only) */
};

/* Flags for torify_socks_init. */
#define TORIFY_SOCKS_PIPELINE 0x01u /* SOCKS5: emit greeting, auth and request in one
                                       buffer (one round trip).  Only the one method
                                       we intend to use is offered, so a server can
                                       never pick a method that would make it read
                                       our pipelined bytes wrongly.  Needs a server
                                       that reads its input as a stream: Tor does
                                       (it may then skip the method-selection reply
                                       before the RFC 1929 status, which the codec
                                       accepts); microsocks does not (it drops the
                                       extra bytes and the handshake times out). */

enum torify_target_kind {
    TORIFY_TARGET_NONE = 0,
    TORIFY_TARGET_HOST,
    TORIFY_TARGET_IPV4,
    TORIFY_TARGET_IPV6,
};

/* A destination (or a result): a hostname, IPv4 or IPv6 address, and a port
 * in host byte order.  host is NUL-terminated, at most 255 bytes. */
struct torify_target {
    enum torify_target_kind kind;
    uint16_t port;
    uint8_t addr[16];      /* IPv4 in addr[0..3], IPv6 in addr[0..15], network order */
    uint8_t host_len;
    char host[256];
};

/* Target constructors; they validate and return TORIFY_OK or a TORIFY_E_INVAL_* value.
 * torify_target_host takes an explicit length so that an embedded NUL is detected. */
TORIFY_API torify_err torify_target_host(struct torify_target *t, const char *name, size_t len, uint16_t port);
TORIFY_API torify_err torify_target_ipv4(struct torify_target *t, const uint8_t addr[4], uint16_t port);
TORIFY_API torify_err torify_target_ipv6(struct torify_target *t, const uint8_t addr[16], uint16_t port);
/* From a struct sockaddr_in / sockaddr_in6. */
TORIFY_API torify_err torify_target_sockaddr(struct torify_target *t, const struct sockaddr *sa, socklen_t len);
/* To a sockaddr (IPv4/IPv6 kinds only); returns the length used, 0 on error. */
TORIFY_API socklen_t torify_target_to_sockaddr(const struct torify_target *t, struct sockaddr_storage *ss);
/* "host:port", "1.2.3.4:port", "[v6]:port" into buf; returns buf. */
TORIFY_API const char *torify_target_format(const struct torify_target *t, char *buf, size_t len);

/* What the caller must do next. */
enum torify_socks_want {
    TORIFY_SOCKS_WANT_WRITE = 1, /* send torify_socks_output() bytes */
    TORIFY_SOCKS_WANT_READ  = 2, /* read up to torify_socks_need() bytes and feed them */
    TORIFY_SOCKS_DONE       = 3, /* success; see torify_socks_result() */
    TORIFY_SOCKS_FAILED     = 4, /* see torify_socks_error() */
};

/* The codec state.  Fixed size, no pointers to caller memory after init
 * (target and credentials are encoded into out[] by torify_socks_init): the
 * fields are private, use the functions below.  A zeroed struct is FAILED
 * with TORIFY_E_INVAL_STATE until initialised. */
struct torify_socks {
    uint8_t state;
    uint8_t proto;
    uint8_t cmd;
    uint8_t flags;
    uint8_t method;      /* the one SOCKS5 method offered */
    uint8_t failed_in;   /* the state a FAILED codec failed in */
    uint16_t err;
    uint16_t out_len;    /* bytes encoded in out[] */
    uint16_t out_pos;    /* bytes already sent */
    uint16_t out_end;    /* end of the part that may be sent now */
    uint16_t greet_end;  /* SOCKS5: end of the greeting in out[] */
    uint16_t auth_end;   /* SOCKS5: end of the RFC 1929 request (== greet_end without auth) */
    uint16_t in_len;     /* bytes of the current reply received */
    uint16_t in_need;    /* bytes the current reply needs in total (so far known) */
    struct torify_target result;
    uint8_t out[1024];   /* greeting 3 + auth 513 + request 262, or SOCKS4a 520 */
    uint8_t in[272];     /* longest reply: SOCKS5 with a 255-byte name, 262 */
};

/* Prepare a handshake.  user/pass may be NULL (no authentication); with
 * SOCKS5 both or neither must be given, each 1..255 bytes (RFC 1929).  With
 * SOCKS4/4a, user (0..255 bytes) is sent as the USERID field and pass must
 * be NULL.  flags: TORIFY_SOCKS_PIPELINE or 0 (no effect on SOCKS4/4a).
 * Returns TORIFY_OK, or a TORIFY_E_INVAL_* value (then the codec is FAILED).
 * Nothing of target/user/pass is referenced after init. */
TORIFY_API torify_err torify_socks_init(struct torify_socks *s, enum torify_socks_proto proto,
                                        enum torify_socks_cmd cmd, const struct torify_target *target,
                                        const char *user, const char *pass, unsigned flags);

TORIFY_API enum torify_socks_want torify_socks_want(const struct torify_socks *s);

/* Bytes to send now (valid until the next call on s); returns their count, 0 if none. */
TORIFY_API size_t torify_socks_output(const struct torify_socks *s, const uint8_t **buf);
/* The caller sent n of those bytes (n may be less than offered: partial writes).
 * n larger than offered: TORIFY_E_INVAL_ARGUMENT; n > 0 while not writing:
 * TORIFY_E_INVAL_STATE.  Such misuse leaves the codec as it was. */
TORIFY_API torify_err torify_socks_sent(struct torify_socks *s, size_t n);

/* The most bytes the caller may read now; reading exactly this many never
 * consumes bytes that follow the SOCKS reply. 0 when not reading. */
TORIFY_API size_t torify_socks_need(const struct torify_socks *s);
/* Consume received bytes.  *used (may be NULL) tells how many were taken;
 * bytes past the reply are never taken, and neither are bytes that arrive
 * while the codec still has to write (non-pipelined SOCKS5): feed those
 * again after writing.  Returns TORIFY_OK while the handshake goes on or is
 * done, else the error (the codec is then FAILED).  Misuse (bytes fed while
 * writing or after DONE: TORIFY_E_INVAL_STATE; buf NULL with n > 0:
 * TORIFY_E_INVAL_ARGUMENT) takes nothing and leaves the codec as it was.
 * Once FAILED, every call returns the first error. */
TORIFY_API torify_err torify_socks_feed(struct torify_socks *s, const uint8_t *buf, size_t n, size_t *used);
/* The server closed the connection: FAILED with TORIFY_E_PROTO_TRUNCATED
 * unless already done. */
TORIFY_API torify_err torify_socks_eof(struct torify_socks *s);

TORIFY_API torify_err torify_socks_error(const struct torify_socks *s);
/* After DONE: CONNECT -> bound address/port as the server reported it;
 * RESOLVE -> the resolved address (IPV4 or IPV6); RESOLVE_PTR -> kind HOST.
 * NULL before DONE or after failure. */
TORIFY_API const struct torify_target *torify_socks_result(const struct torify_socks *s);

/* The current step's name for debug logs ("socks5-read-method", "done"...);
 * for a FAILED codec the step it failed in ("init" when torify_socks_init
 * refused its input).  A static string, never NULL. */
TORIFY_API const char *torify_socks_state_name(const struct torify_socks *s);

/* ---- the driver: the codec over a socket ------------------------------ */

/* Advance the handshake on fd (connected, or with a non-blocking connect
 * in flight) as far as it goes without blocking: send what the codec
 * offers with send(MSG_NOSIGNAL|MSG_DONTWAIT), read at most what it needs
 * with recv(MSG_DONTWAIT) (never a byte past the reply), EINTR retried.
 * Blocking and non-blocking fds alike; the fd's flags are not touched.
 * Returns what is next:
 *   TORIFY_SOCKS_WANT_WRITE  call again once fd is writable (POLLOUT);
 *   TORIFY_SOCKS_WANT_READ   call again once fd is readable (POLLIN);
 *   TORIFY_SOCKS_DONE        fd carries the application's stream now;
 *                            torify_socks_result() tells the answer;
 *   TORIFY_SOCKS_FAILED      torify_socks_error() tells why, and the call
 *                            that failed sets errno: the system's for
 *                            TORIFY_E_IO, else torify_err_errno().
 * A proxy that closes or resets the connection is TORIFY_E_PROTO_TRUNCATED,
 * a refused non-blocking connect TORIFY_E_PROXY_UNREACHABLE, and a send()
 * that returns 0 for a non-empty buffer TORIFY_E_IO with errno EIO (the
 * fd would stay writable without ever taking a byte).  Deadlines are the
 * caller's: give up whenever you like, the codec holds no resource. */
TORIFY_API enum torify_socks_want torify_socks_advance(struct torify_socks *s, int fd);

/* ---- blocking helpers ------------------------------------------------- */

struct torify_socks_opts {
    enum torify_socks_proto proto; /* 0 means TORIFY_SOCKS5 */
    const char *user;              /* NULL: no authentication */
    const char *pass;
    unsigned flags;                /* TORIFY_SOCKS_PIPELINE ... */
    int timeout_ms;                /* whole operation; <= 0 means 30000 */
    int connect_timeout_ms;        /* the connect to the proxy, within timeout_ms
                                      (dial, resolve, resolve_ptr): a proxy not
                                      connected by then is unreachable; <= 0:
                                      only timeout_ms bounds it */
};

/* Run a handshake on fd, already connected to the proxy (a non-blocking
 * connect still in progress is fine: it waits for it).  Uses only
 * send(MSG_NOSIGNAL|MSG_DONTWAIT), recv(MSG_DONTWAIT) and poll, so it is safe
 * inside an interposed connect() and never raises SIGPIPE.  Works on
 * blocking and non-blocking fds alike and leaves the fd's flags untouched;
 * one overall deadline (opts->timeout_ms) bounds the whole exchange, EINTR
 * is retried.  result (may be NULL) receives torify_socks_result().  On
 * failure errno is set to torify_err_errno(), except for TORIFY_E_IO, where
 * the system's errno is kept.  A proxy that closes or resets mid-handshake
 * gives TORIFY_E_PROTO_TRUNCATED, a refused non-blocking connect
 * TORIFY_E_PROXY_UNREACHABLE. */
TORIFY_API torify_err torify_socks_handshake_fd(int fd, enum torify_socks_cmd cmd,
                                                const struct torify_target *target,
                                                const struct torify_socks_opts *opts,
                                                struct torify_target *result);

/* The three helpers below open their own connection with socket() and
 * connect() called by name: inside libtorify.so those are interposed, so
 * the shim never uses them (only torify_socks_handshake_fd and the codec).
 * They are for programs that link libtorify-socks.a.  One deadline
 * (opts->timeout_ms) covers the connect to the proxy and the handshake,
 * and opts->connect_timeout_ms, when set, the connect alone (a proxy on
 * this machine answers at once or not at all, while Tor may need minutes
 * to build a circuit for the handshake).  A proxy that cannot be reached
 * gives TORIFY_E_PROXY_UNREACHABLE (errno ECONNREFUSED), one that does not
 * answer in time TORIFY_E_TIMEOUT. */

/* Connect to the proxy (any family, AF_UNIX too) and CONNECT to target.
 * Returns a connected blocking fd (CLOEXEC) ready for application data, or -1
 * with *err (may be NULL) and errno set. */
TORIFY_API int torify_socks_dial(const struct sockaddr *proxy, socklen_t proxy_len,
                                 const struct torify_target *target,
                                 const struct torify_socks_opts *opts, torify_err *err);

/* Tor RESOLVE: hostname -> address (IPv4 or IPv6 in *out). */
TORIFY_API torify_err torify_socks_resolve(const struct sockaddr *proxy, socklen_t proxy_len,
                                           const char *hostname, const struct torify_socks_opts *opts,
                                           struct torify_target *out);

/* Tor RESOLVE_PTR: address -> hostname (NUL-terminated into name).  SOCKS5
 * only.  A name that does not fit name_len (with its NUL) is not cut:
 * TORIFY_E_INVAL_ARGUMENT and name is left untouched. */
TORIFY_API torify_err torify_socks_resolve_ptr(const struct sockaddr *proxy, socklen_t proxy_len,
                                               const struct torify_target *addr,
                                               const struct torify_socks_opts *opts,
                                               char *name, size_t name_len);

/* Parse "IPv4:PORT", "[IPv6]:PORT", "IPv4", "[IPv6]" or a bare IPv6 (port
 * defaults to 9050), "localhost[:PORT]" (127.0.0.1), "unix:/path" or
 * "unix:@abstract" into a sockaddr, without resolving names: looking the
 * proxy up would itself leak.  PORT is decimal 1..65535.  Returns TORIFY_OK
 * or TORIFY_E_INVAL_ARGUMENT. */
TORIFY_API torify_err torify_sockaddr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* A port as users write it, the one rule for the library, the config file
 * and the launcher's -P: decimal 1..65535, one to five digits, nothing else
 * (no sign, space, "0x" or trailing text), so a typo never silently becomes
 * another port.  Returns TORIFY_OK or TORIFY_E_INVAL_ARGUMENT (*port
 * untouched). */
TORIFY_API torify_err torify_port_parse(const char *text, uint16_t *port);

#ifdef __cplusplus
}
#endif
#endif /* TORIFY_SOCKS_H */
