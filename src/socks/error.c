/*
 * The message table of the one error enum (include/torify/error.h).
 *
 * errno choices, and why:
 *  - A proxy that says "no" in a way that has a connect(2) errno gets that
 *    errno: conn refused -> ECONNREFUSED, host/net unreachable ->
 *    EHOSTUNREACH/ENETUNREACH, TTL expired -> ETIMEDOUT.
 *  - Refusals we cannot name (SOCKS5 general failure, unassigned reply codes,
 *    SOCKS4 0x5B/unknown CD) are ECONNREFUSED: applications already handle
 *    it as "try later / other address", and it fails closed.
 *  - An unreachable proxy (Tor not running) is ECONNREFUSED too, never a
 *    hint that would make a program fall back to a direct connection.
 *  - Onion-service errors 0xF0..0xF6 are EHOSTUNREACH (the service cannot be
 *    reached); 0xF7 "introduction timed out" is ETIMEDOUT.
 *  - Ruleset / identity / authentication refusals are EACCES (connect(2)
 *    documents it for a firewall rule), local policy refusals of the shim
 *    are EPERM (what a netfilter OUTPUT drop or a missing CAP_NET_RAW gives).
 *  - Address families Tor cannot carry: EAFNOSUPPORT.
 *  - TCP Fast Open with a destination: EOPNOTSUPP, so a program falls back
 *    to an ordinary connect(), which the shim can carry.
 *  - Unguardable paths (io_uring, unknown socket syscalls): ENOSYS, the
 *    errno programs already treat as "feature absent, use the old way".
 *  - Protocol violations are EPROTO, bad caller input EINVAL.
 *  - Control-port errors: what the codec rejects is EPROTO, past a bound
 *    EMSGSIZE, authentication EACCES, a refused command EPERM.
 *  - TORIFY_E_IO maps to EIO, but the blocking helpers leave the system's
 *    own errno in place for it (it says more).
 */
#include <errno.h>
#include <stddef.h>
#include <torify/error.h>

struct err_entry {
    const char *name;
    const char *msg;
    int errnum;
};

#define E(id, eno, text) [id] = { #id, text, eno }

static const struct err_entry table[TORIFY_E__COUNT] = {
    E(TORIFY_OK, 0, "success"),

    E(TORIFY_E_S5_GENERAL, ECONNREFUSED, "SOCKS5: general SOCKS server failure"),
    E(TORIFY_E_S5_NOT_ALLOWED, EACCES, "SOCKS5: connection not allowed by ruleset"),
    E(TORIFY_E_S5_NET_UNREACH, ENETUNREACH, "SOCKS5: network unreachable"),
    E(TORIFY_E_S5_HOST_UNREACH, EHOSTUNREACH, "SOCKS5: host unreachable"),
    E(TORIFY_E_S5_CONN_REFUSED, ECONNREFUSED, "SOCKS5: connection refused"),
    E(TORIFY_E_S5_TTL_EXPIRED, ETIMEDOUT, "SOCKS5: TTL expired"),
    E(TORIFY_E_S5_CMD_UNSUPPORTED, EOPNOTSUPP, "SOCKS5: command not supported"),
    E(TORIFY_E_S5_ATYP_UNSUPPORTED, EAFNOSUPPORT, "SOCKS5: address type not supported"),
    E(TORIFY_E_S5_UNKNOWN_REPLY, ECONNREFUSED, "SOCKS5: unassigned reply code"),

    E(TORIFY_E_TOR_HS_DESC_NOT_FOUND, EHOSTUNREACH, "Tor: onion service descriptor can not be found"),
    E(TORIFY_E_TOR_HS_DESC_INVALID, EHOSTUNREACH, "Tor: onion service descriptor is invalid"),
    E(TORIFY_E_TOR_HS_INTRO_FAILED, EHOSTUNREACH, "Tor: onion service introduction failed"),
    E(TORIFY_E_TOR_HS_REND_FAILED, EHOSTUNREACH, "Tor: onion service rendezvous failed"),
    E(TORIFY_E_TOR_HS_MISSING_AUTH, EHOSTUNREACH, "Tor: onion service missing client authorization"),
    E(TORIFY_E_TOR_HS_WRONG_AUTH, EHOSTUNREACH, "Tor: onion service wrong client authorization"),
    E(TORIFY_E_TOR_HS_BAD_ADDRESS, EHOSTUNREACH, "Tor: onion service invalid address"),
    E(TORIFY_E_TOR_HS_INTRO_TIMEOUT, ETIMEDOUT, "Tor: onion service introduction timed out"),

    E(TORIFY_E_S4_REJECTED, ECONNREFUSED, "SOCKS4: request rejected or failed"),
    E(TORIFY_E_S4_NO_IDENTD, EACCES, "SOCKS4: request rejected, server cannot connect to identd"),
    E(TORIFY_E_S4_IDENTD_MISMATCH, EACCES, "SOCKS4: request rejected, identd reports a different user id"),
    E(TORIFY_E_S4_UNKNOWN_REPLY, ECONNREFUSED, "SOCKS4: unknown reply code"),

    E(TORIFY_E_AUTH_NO_METHOD, EACCES, "SOCKS5: server accepts none of the offered authentication methods"),
    E(TORIFY_E_AUTH_BAD_METHOD, EPROTO, "SOCKS5: server chose an authentication method that was not offered"),
    E(TORIFY_E_AUTH_REJECTED, EACCES, "SOCKS5: username/password rejected"),

    E(TORIFY_E_PROTO_VERSION, EPROTO, "SOCKS: wrong version byte in reply"),
    E(TORIFY_E_PROTO_ATYP, EPROTO, "SOCKS5: reply has an unknown address type"),
    E(TORIFY_E_PROTO_MALFORMED, EPROTO, "SOCKS: malformed reply"),
    E(TORIFY_E_PROTO_TRUNCATED, EPROTO, "SOCKS: server closed the connection mid-reply"),
    E(TORIFY_E_PROTO_RESOLVE_TYPE, EPROTO, "SOCKS: resolve answered with the wrong kind of address"),

    E(TORIFY_E_INVAL_HOST_EMPTY, EINVAL, "invalid target: empty hostname"),
    E(TORIFY_E_INVAL_HOST_TOO_LONG, EINVAL, "invalid target: hostname longer than 255 bytes"),
    E(TORIFY_E_INVAL_HOST_NUL, EINVAL, "invalid target: hostname contains a NUL byte"),
    E(TORIFY_E_INVAL_PORT, EINVAL, "invalid target: port 0"),
    E(TORIFY_E_INVAL_TARGET, EINVAL, "invalid target: not expressible in this SOCKS version or command"),
    E(TORIFY_E_INVAL_CREDENTIALS, EINVAL, "invalid credentials: empty, half set, or longer than 255 bytes"),
    E(TORIFY_E_INVAL_ARGUMENT, EINVAL, "invalid argument"),
    E(TORIFY_E_INVAL_STATE, EINVAL, "SOCKS codec used out of order"),

    E(TORIFY_E_TIMEOUT, ETIMEDOUT, "timed out"),
    E(TORIFY_E_PROXY_UNREACHABLE, ECONNREFUSED, "cannot connect to the SOCKS proxy (is Tor running?)"),
    E(TORIFY_E_IO, EIO, "I/O error"),

    E(TORIFY_E_REFUSE_UDP, EPERM, "refused: UDP cannot be carried over Tor"),
    E(TORIFY_E_REFUSE_RAW, EPERM, "refused: raw, packet and ICMP sockets cannot be carried over Tor"),
    E(TORIFY_E_REFUSE_DNS, EPERM, "refused: direct DNS query would leak"),
    E(TORIFY_E_REFUSE_FAMILY, EAFNOSUPPORT, "refused: address family cannot be carried over Tor"),
    E(TORIFY_E_REFUSE_INBOUND, EPERM, "refused: inbound connections are not allowed"),
    E(TORIFY_E_REFUSE_LOCALHOST, EPERM, "refused: outbound connection to localhost is not allowed"),
    E(TORIFY_E_REFUSE_TFO, EOPNOTSUPP, "refused: TCP Fast Open with a destination"),
    E(TORIFY_E_REFUSE_UNKNOWN_FAKE, EHOSTUNREACH, "refused: address maps to no known name"),
    E(TORIFY_E_REFUSE_PATH, ENOSYS, "refused: a path torify cannot guard"),
    E(TORIFY_E_REFUSE_CONFIG, ECONNREFUSED, "refused: torify configuration is broken, failing closed"),

    E(TORIFY_E_CTL_UNREACHABLE, ECONNREFUSED, "cannot connect to Tor's control port"),
    E(TORIFY_E_CTL_MALFORMED, EPROTO, "control port: malformed reply"),
    E(TORIFY_E_CTL_TOO_LONG, EMSGSIZE, "control port: line or value longer than the limit"),
    E(TORIFY_E_CTL_TOO_BIG, EMSGSIZE, "control port: reply larger than the limit"),
    E(TORIFY_E_CTL_TRUNCATED, EPROTO, "control port: connection closed mid-reply"),
    E(TORIFY_E_CTL_REFUSED, EPERM, "control port: command refused"),
    E(TORIFY_E_CTL_MISSING, EPROTO, "control port: the reply lacks the value asked for"),
    E(TORIFY_E_CTL_AUTH_FAILED, EACCES, "control port: authentication failed"),
    E(TORIFY_E_CTL_AUTH_UNSUPPORTED, EACCES, "control port: no authentication method offered that torify can do"),
    E(TORIFY_E_CTL_SERVER_HASH, EACCES, "control port: SAFECOOKIE server hash is wrong (it does not know the cookie)"),
    E(TORIFY_E_CTL_COOKIE, EACCES, "control port: cookie file unreadable, not 32 bytes, or writable by others"),
};

static const struct err_entry *lookup(torify_err err)
{
    /* The enum may be any integer type; compare as unsigned so negative
     * values from a bad cast are out of range too. */
    if ((unsigned)err >= (unsigned)TORIFY_E__COUNT || table[err].name == NULL)
        return NULL;
    return &table[err];
}

const char *torify_strerror(torify_err err)
{
    const struct err_entry *e = lookup(err);
    return e ? e->msg : "unknown torify error";
}

const char *torify_err_name(torify_err err)
{
    const struct err_entry *e = lookup(err);
    return e ? e->name : "TORIFY_E_UNKNOWN";
}

int torify_err_errno(torify_err err)
{
    const struct err_entry *e = lookup(err);
    return e ? e->errnum : EINVAL;
}
