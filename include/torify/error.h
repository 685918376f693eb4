/*
 * torify/error.h — the one error enum of torify.
 *
 * Every failure anywhere in torify (SOCKS replies, protocol violations, bad
 * input, I/O, and the shim's policy refusals) is one value of torify_err.
 * torify_strerror() gives the human message, torify_err_name() the stable
 * identifier, and torify_err_errno() the errno an intercepted libc call
 * reports for it.  The codec only produces the SOCKS / input / I/O values;
 * the TORIFY_E_REFUSE_* values belong to libtorify.so, TORIFY_E_CTL_* to the
 * control-port client (torify/control.h).
 */
#ifndef TORIFY_ERROR_H
#define TORIFY_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TORIFY_API __attribute__((visibility("default")))
#else
#define TORIFY_API
#endif

typedef enum torify_err {
    TORIFY_OK = 0,

    /* SOCKS5 reply codes, RFC 1928 section 6 (REP 0x01..0x08). */
    TORIFY_E_S5_GENERAL,          /* 0x01 general SOCKS server failure */
    TORIFY_E_S5_NOT_ALLOWED,      /* 0x02 connection not allowed by ruleset */
    TORIFY_E_S5_NET_UNREACH,      /* 0x03 network unreachable */
    TORIFY_E_S5_HOST_UNREACH,     /* 0x04 host unreachable */
    TORIFY_E_S5_CONN_REFUSED,     /* 0x05 connection refused */
    TORIFY_E_S5_TTL_EXPIRED,      /* 0x06 TTL expired */
    TORIFY_E_S5_CMD_UNSUPPORTED,  /* 0x07 command not supported */
    TORIFY_E_S5_ATYP_UNSUPPORTED, /* 0x08 address type not supported */
    TORIFY_E_S5_UNKNOWN_REPLY,    /* any other non-zero REP */

    /* Tor's extended SOCKS5 errors for onion services (socks-extensions,
     * needs "ExtendedErrors" on the SocksPort). */
    TORIFY_E_TOR_HS_DESC_NOT_FOUND,   /* 0xF0 onion service descriptor can not be found */
    TORIFY_E_TOR_HS_DESC_INVALID,     /* 0xF1 onion service descriptor is invalid */
    TORIFY_E_TOR_HS_INTRO_FAILED,     /* 0xF2 onion service introduction failed */
    TORIFY_E_TOR_HS_REND_FAILED,      /* 0xF3 onion service rendezvous failed */
    TORIFY_E_TOR_HS_MISSING_AUTH,     /* 0xF4 onion service missing client authorization */
    TORIFY_E_TOR_HS_WRONG_AUTH,       /* 0xF5 onion service wrong client authorization */
    TORIFY_E_TOR_HS_BAD_ADDRESS,      /* 0xF6 onion service invalid address */
    TORIFY_E_TOR_HS_INTRO_TIMEOUT,    /* 0xF7 onion service introduction timed out */

    /* SOCKS4 / SOCKS4a reply codes (CD 0x5B..0x5D). */
    TORIFY_E_S4_REJECTED,         /* 0x5B request rejected or failed */
    TORIFY_E_S4_NO_IDENTD,        /* 0x5C cannot connect to identd */
    TORIFY_E_S4_IDENTD_MISMATCH,  /* 0x5D identd user id mismatch */
    TORIFY_E_S4_UNKNOWN_REPLY,    /* any other CD */

    /* Authentication (RFC 1928 method selection, RFC 1929). */
    TORIFY_E_AUTH_NO_METHOD,      /* server answered 0xFF: no acceptable method */
    TORIFY_E_AUTH_BAD_METHOD,     /* server chose a method we did not offer */
    TORIFY_E_AUTH_REJECTED,       /* RFC 1929 status != 0 */

    /* Protocol violations by the server. */
    TORIFY_E_PROTO_VERSION,       /* wrong version byte in a reply */
    TORIFY_E_PROTO_ATYP,          /* bound address of unknown type */
    TORIFY_E_PROTO_MALFORMED,     /* reserved byte set, bad length, garbage */
    TORIFY_E_PROTO_TRUNCATED,     /* server closed the connection mid-reply */
    TORIFY_E_PROTO_RESOLVE_TYPE,  /* RESOLVE/RESOLVE_PTR answered with the wrong kind of address */

    /* Bad input from the caller (never sent to the server). */
    TORIFY_E_INVAL_HOST_EMPTY,    /* empty hostname */
    TORIFY_E_INVAL_HOST_TOO_LONG, /* hostname longer than 255 bytes */
    TORIFY_E_INVAL_HOST_NUL,      /* hostname contains a NUL byte */
    TORIFY_E_INVAL_PORT,          /* port 0 for CONNECT */
    TORIFY_E_INVAL_TARGET,        /* target kind not expressible in the protocol (e.g. IPv6 over SOCKS4) */
    TORIFY_E_INVAL_CREDENTIALS,   /* username/password empty-but-set or longer than 255 bytes */
    TORIFY_E_INVAL_ARGUMENT,      /* other invalid argument (NULL, bad protocol/command) */
    TORIFY_E_INVAL_STATE,         /* codec used out of order (e.g. feed after done) */

    /* I/O around the handshake (blocking helpers and the shim). */
    TORIFY_E_TIMEOUT,             /* the handshake or proxy connect timed out */
    TORIFY_E_PROXY_UNREACHABLE,   /* could not connect to the SOCKS proxy (Tor) */
    TORIFY_E_IO,                  /* other I/O error; errno tells more */

    /* Policy refusals of libtorify.so: what cannot be carried over Tor. */
    TORIFY_E_REFUSE_UDP,          /* UDP socket or datagram */
    TORIFY_E_REFUSE_RAW,          /* raw, packet or ICMP socket */
    TORIFY_E_REFUSE_DNS,          /* direct DNS query (res_*) */
    TORIFY_E_REFUSE_FAMILY,       /* address family Tor cannot carry */
    TORIFY_E_REFUSE_INBOUND,      /* listen/accept while inbound is not allowed */
    TORIFY_E_REFUSE_LOCALHOST,    /* outbound to loopback while not allowed */
    TORIFY_E_REFUSE_TFO,          /* TCP Fast Open with a destination */
    TORIFY_E_REFUSE_UNKNOWN_FAKE, /* fake address that maps to no name (stale or forged) */
    TORIFY_E_REFUSE_PATH,         /* a path torify cannot guard (io_uring, unknown syscall) */
    TORIFY_E_REFUSE_CONFIG,       /* configuration is broken: failing closed */

    /* Tor's control port (torify/control.h). */
    TORIFY_E_CTL_UNREACHABLE,     /* could not connect to the control port */
    TORIFY_E_CTL_MALFORMED,       /* a reply that is not control-spec's */
    TORIFY_E_CTL_TOO_LONG,        /* a line (or a value) longer than the limit */
    TORIFY_E_CTL_TOO_BIG,         /* a reply larger than the limit */
    TORIFY_E_CTL_TRUNCATED,       /* the control port closed the connection mid-reply */
    TORIFY_E_CTL_REFUSED,         /* 4xx/5xx: Tor refused the command */
    TORIFY_E_CTL_MISSING,         /* a reply without the keyword asked for */
    TORIFY_E_CTL_AUTH_FAILED,     /* AUTHENTICATE refused */
    TORIFY_E_CTL_AUTH_UNSUPPORTED,/* no offered method we can do (no password, no cookie) */
    TORIFY_E_CTL_SERVER_HASH,     /* SAFECOOKIE: the server does not know the cookie */
    TORIFY_E_CTL_COOKIE,          /* cookie file missing, not 32 bytes, or writable by others */

    TORIFY_E__COUNT
} torify_err;

/* Human-readable message, never NULL ("unknown torify error" when out of range). */
TORIFY_API const char *torify_strerror(torify_err err);

/* Stable identifier such as "TORIFY_E_S5_CONN_REFUSED"; never NULL. */
TORIFY_API const char *torify_err_name(torify_err err);

/* The errno a libc call should report for this error (0 for TORIFY_OK).
 * E.g. S5_CONN_REFUSED -> ECONNREFUSED, S5_HOST_UNREACH -> EHOSTUNREACH,
 * S5_NET_UNREACH -> ENETUNREACH, TIMEOUT/S5_TTL_EXPIRED -> ETIMEDOUT,
 * PROXY_UNREACHABLE -> ECONNREFUSED (fail closed), REFUSE_UDP -> EPERM... */
TORIFY_API int torify_err_errno(torify_err err);

#ifdef __cplusplus
}
#endif
#endif /* TORIFY_ERROR_H */
