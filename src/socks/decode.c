/*
 * Decoders for the server side of a SOCKS exchange: SOCKS4 reply, SOCKS5
 * method selection, RFC 1929 status, SOCKS5 reply (head, then the whole).
 * Each takes complete bytes; the codec (codec.c) decides how many to read.
 */
#include <string.h>

#include "internal.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

torify_err torify_sx_s4_code(uint8_t cd)
{
    switch (cd) {
    case SX_S4_GRANTED: return TORIFY_OK;
    case SX_S4_REJECTED: return TORIFY_E_S4_REJECTED;
    case SX_S4_NO_IDENTD: return TORIFY_E_S4_NO_IDENTD;
    case SX_S4_IDENTD_MISMATCH: return TORIFY_E_S4_IDENTD_MISMATCH;
    default:   return TORIFY_E_S4_UNKNOWN_REPLY;
    }
}

torify_err torify_sx_s5_code(uint8_t rep)
{
    /* RFC 1928 section 6, then torspec socks-extensions (ExtendedErrors). */
    static const torify_err rfc[] = {
        TORIFY_OK,                    TORIFY_E_S5_GENERAL,         TORIFY_E_S5_NOT_ALLOWED,
        TORIFY_E_S5_NET_UNREACH,      TORIFY_E_S5_HOST_UNREACH,    TORIFY_E_S5_CONN_REFUSED,
        TORIFY_E_S5_TTL_EXPIRED,      TORIFY_E_S5_CMD_UNSUPPORTED, TORIFY_E_S5_ATYP_UNSUPPORTED,
    };
    static const torify_err tor[] = {
        TORIFY_E_TOR_HS_DESC_NOT_FOUND, TORIFY_E_TOR_HS_DESC_INVALID, TORIFY_E_TOR_HS_INTRO_FAILED,
        TORIFY_E_TOR_HS_REND_FAILED,    TORIFY_E_TOR_HS_MISSING_AUTH, TORIFY_E_TOR_HS_WRONG_AUTH,
        TORIFY_E_TOR_HS_BAD_ADDRESS,    TORIFY_E_TOR_HS_INTRO_TIMEOUT,
    };
    if (rep < sizeof rfc / sizeof rfc[0])
        return rfc[rep];
    if (rep >= SX_S5_TOR_EXTENDED_FIRST && rep - (unsigned)SX_S5_TOR_EXTENDED_FIRST < sizeof tor / sizeof tor[0])
        return tor[rep - SX_S5_TOR_EXTENDED_FIRST];
    return TORIFY_E_S5_UNKNOWN_REPLY;
}

torify_err torify_sx_dec_s4_reply(const uint8_t in[TORIFY_SX_S4_REPLY_LEN], struct torify_target *res)
{
    torify_err e;

    /* VN of a reply is 0 (SOCKS4, as Tor's socks-extensions describes it), not 4. */
    if (in[0] != SX_S4_REPLY_VERSION)
        return TORIFY_E_PROTO_VERSION;
    e = torify_sx_s4_code(in[1]);
    if (e != TORIFY_OK)
        return e;
    /* For CONNECT the fields are "not set" (often zero); for Tor's RESOLVE
     * the address is the answer.  Report them as they came. */
    return torify_target_ipv4(res, in + 4, get16(in + 2));
}

torify_err torify_sx_dec_s5_method(const uint8_t in[TORIFY_SX_S5_METHOD_LEN], uint8_t offered)
{
    if (in[0] != SX_S5_VERSION)
        return TORIFY_E_PROTO_VERSION;
    if (in[1] == SX_S5_NO_ACCEPTABLE)
        return TORIFY_E_AUTH_NO_METHOD;
    if (in[1] != offered)
        return TORIFY_E_AUTH_BAD_METHOD;
    return TORIFY_OK;
}

torify_err torify_sx_dec_s5_auth(const uint8_t in[TORIFY_SX_S5_AUTH_LEN])
{
    if (in[0] != SX_AUTH_VERSION)
        return TORIFY_E_PROTO_VERSION;
    if (in[1] != SX_AUTH_SUCCESS)
        return TORIFY_E_AUTH_REJECTED;
    return TORIFY_OK;
}

torify_err torify_sx_dec_s5_head(const uint8_t in[TORIFY_SX_S5_HEAD_LEN], uint8_t cmd, size_t *total)
{
    torify_err e;

    if (in[0] != SX_S5_VERSION)
        return TORIFY_E_PROTO_VERSION;
    /* A failure reply still carries an address, but the connection is dead
     * anyway; the reply code is what the caller needs, so report it before
     * judging the rest. */
    e = torify_sx_s5_code(in[1]);
    if (e != TORIFY_OK)
        return e;
    if (in[2] != SX_S5_RSV)
        return TORIFY_E_PROTO_MALFORMED;
    switch (in[3]) {
    case SX_S5_ATYP_IPV4:
        if (cmd == TORIFY_SOCKS_RESOLVE_PTR)
            return TORIFY_E_PROTO_RESOLVE_TYPE;
        *total = 4 + 4 + 2;
        return TORIFY_OK;
    case SX_S5_ATYP_IPV6:
        if (cmd == TORIFY_SOCKS_RESOLVE_PTR)
            return TORIFY_E_PROTO_RESOLVE_TYPE;
        *total = 4 + 16 + 2;
        return TORIFY_OK;
    case SX_S5_ATYP_DOMAIN:
        if (cmd == TORIFY_SOCKS_RESOLVE)
            return TORIFY_E_PROTO_RESOLVE_TYPE;
        /* An empty name can be no answer to RESOLVE_PTR. */
        if (in[4] == 0 && cmd == TORIFY_SOCKS_RESOLVE_PTR)
            return TORIFY_E_PROTO_MALFORMED;
        *total = 4 + 1 + (size_t)in[4] + 2;
        return TORIFY_OK;
    default:
        return TORIFY_E_PROTO_ATYP;
    }
}

torify_err torify_sx_dec_s5_reply(const uint8_t *in, size_t len, struct torify_target *res)
{
    size_t nlen;

    if (in == NULL || res == NULL || len < TORIFY_SX_S5_HEAD_LEN)
        return TORIFY_E_PROTO_MALFORMED;
    switch (in[3]) {
    case SX_S5_ATYP_IPV4:
        if (len != 10)
            return TORIFY_E_PROTO_MALFORMED;
        return torify_target_ipv4(res, in + 4, get16(in + 8));
    case SX_S5_ATYP_IPV6:
        if (len != 22)
            return TORIFY_E_PROTO_MALFORMED;
        return torify_target_ipv6(res, in + 4, get16(in + 20));
    case SX_S5_ATYP_DOMAIN:
        nlen = in[4];
        if (len != 4 + 1 + nlen + 2)
            return TORIFY_E_PROTO_MALFORMED;
        memset(res, 0, sizeof *res);
        res->kind = TORIFY_TARGET_HOST;
        /* A NUL inside would make the C string differ from the name. */
        if (nlen > 0 && memchr(in + 5, '\0', nlen) != NULL)
            return TORIFY_E_PROTO_MALFORMED;
        memcpy(res->host, in + 5, nlen);
        res->host[nlen] = '\0';
        res->host_len = (uint8_t)nlen;
        res->port = get16(in + 5 + nlen);
        return TORIFY_OK;
    default:
        return TORIFY_E_PROTO_ATYP;
    }
}
