/*
 * Encoders for the client side of SOCKS4/4a (and Tor's RESOLVE over 4a) and
 * SOCKS5 (RFC 1928 greeting and request, RFC 1929 username/password, Tor's
 * RESOLVE / RESOLVE_PTR).  Pure functions over a caller buffer.
 */
#include <string.h>

#include "internal.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xff);
}

/* Tor ignores the port of RESOLVE / RESOLVE_PTR; send 0 so that nothing the
 * caller happened to leave in the target travels to the proxy. */
static uint16_t wire_port(uint8_t cmd, const struct torify_target *t)
{
    return cmd == TORIFY_SOCKS_CONNECT ? t->port : 0;
}

torify_err torify_sx_enc_s4_request(uint8_t *buf, size_t cap, size_t *len, int socks4a, uint8_t cmd,
                                 const struct torify_target *t, const char *user)
{
    torify_err e;
    size_t ulen = 0;
    size_t need;

    if (buf == NULL || len == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (cmd != TORIFY_SOCKS_CONNECT && cmd != TORIFY_SOCKS_RESOLVE)
        return TORIFY_E_INVAL_ARGUMENT; /* RESOLVE_PTR and anything else: SOCKS5 only */
    e = torify_sx_check_target(t);
    if (e != TORIFY_OK)
        return e;
    if (t->kind == TORIFY_TARGET_IPV6)
        return TORIFY_E_INVAL_TARGET;
    if (t->kind == TORIFY_TARGET_HOST && !socks4a)
        return TORIFY_E_INVAL_TARGET;
    if (cmd == TORIFY_SOCKS_RESOLVE && t->kind != TORIFY_TARGET_HOST)
        return TORIFY_E_INVAL_TARGET;
    /* 0.0.0.x with x != 0 is the SOCKS4a "a name follows" marker: sending it
     * as a plain address would make the server wait for a name. */
    if (t->kind == TORIFY_TARGET_IPV4 && t->addr[0] == 0 && t->addr[1] == 0 && t->addr[2] == 0 &&
        t->addr[3] != 0)
        return TORIFY_E_INVAL_TARGET;
    if (cmd == TORIFY_SOCKS_CONNECT && t->port == 0)
        return TORIFY_E_INVAL_PORT;
    if (user != NULL) {
        ulen = strnlen(user, TORIFY_SX_FIELD_MAX + 1);
        if (ulen > TORIFY_SX_FIELD_MAX)
            return TORIFY_E_INVAL_CREDENTIALS;
    }

    need = 8 + ulen + 1 + (t->kind == TORIFY_TARGET_HOST ? (size_t)t->host_len + 1 : 0);
    if (need > cap)
        return TORIFY_E_INVAL_ARGUMENT;

    buf[0] = SX_S4_VERSION;
    buf[1] = cmd;
    put16(buf + 2, wire_port(cmd, t));
    if (t->kind == TORIFY_TARGET_HOST) {
        /* SOCKS4a (Tor's socks-extensions): fake IP 0.0.0.1 tells the proxy that a
         * hostname follows the user id. */
        buf[4] = 0;
        buf[5] = 0;
        buf[6] = 0;
        buf[7] = 1;
    } else {
        memcpy(buf + 4, t->addr, 4);
    }
    size_t p = 8;
    if (ulen > 0)
        memcpy(buf + p, user, ulen);
    p += ulen;
    buf[p++] = 0;
    if (t->kind == TORIFY_TARGET_HOST) {
        memcpy(buf + p, t->host, t->host_len);
        p += t->host_len;
        buf[p++] = 0;
    }
    *len = p;
    return TORIFY_OK;
}

torify_err torify_sx_enc_s5_greeting(uint8_t *buf, size_t cap, size_t *len, uint8_t method)
{
    if (buf == NULL || len == NULL || cap < 3)
        return TORIFY_E_INVAL_ARGUMENT;
    /* Exactly one method: with pipelining the server must not be able to
     * choose anything else, and without it, offering "no auth" next to
     * username/password would let a server silently drop stream isolation. */
    buf[0] = SX_S5_VERSION;
    buf[1] = 1; /* NMETHODS */
    buf[2] = method;
    *len = 3;
    return TORIFY_OK;
}

torify_err torify_sx_enc_s5_auth(uint8_t *buf, size_t cap, size_t *len, const char *user, const char *pass)
{
    size_t ul, pl;

    if (buf == NULL || len == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (user == NULL || pass == NULL)
        return TORIFY_E_INVAL_CREDENTIALS;
    ul = strnlen(user, TORIFY_SX_FIELD_MAX + 1);
    pl = strnlen(pass, TORIFY_SX_FIELD_MAX + 1);
    /* RFC 1929: both fields are 1..255 bytes. */
    if (ul == 0 || ul > TORIFY_SX_FIELD_MAX || pl == 0 || pl > TORIFY_SX_FIELD_MAX)
        return TORIFY_E_INVAL_CREDENTIALS;
    if (3 + ul + pl > cap)
        return TORIFY_E_INVAL_ARGUMENT;
    buf[0] = SX_AUTH_VERSION;
    buf[1] = (uint8_t)ul;
    memcpy(buf + 2, user, ul);
    buf[2 + ul] = (uint8_t)pl;
    memcpy(buf + 3 + ul, pass, pl);
    *len = 3 + ul + pl;
    return TORIFY_OK;
}

torify_err torify_sx_enc_s5_request(uint8_t *buf, size_t cap, size_t *len, uint8_t cmd,
                                 const struct torify_target *t)
{
    torify_err e;
    size_t p;

    if (buf == NULL || len == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (cmd != TORIFY_SOCKS_CONNECT && cmd != TORIFY_SOCKS_RESOLVE && cmd != TORIFY_SOCKS_RESOLVE_PTR)
        return TORIFY_E_INVAL_ARGUMENT;
    e = torify_sx_check_target(t);
    if (e != TORIFY_OK)
        return e;
    if (cmd == TORIFY_SOCKS_RESOLVE && t->kind != TORIFY_TARGET_HOST)
        return TORIFY_E_INVAL_TARGET;
    if (cmd == TORIFY_SOCKS_RESOLVE_PTR && t->kind == TORIFY_TARGET_HOST)
        return TORIFY_E_INVAL_TARGET;
    if (cmd == TORIFY_SOCKS_CONNECT && t->port == 0)
        return TORIFY_E_INVAL_PORT;
    if (cap < 4 + 1 + TORIFY_SX_FIELD_MAX + 2)
        return TORIFY_E_INVAL_ARGUMENT;

    buf[0] = SX_S5_VERSION;
    buf[1] = cmd;
    buf[2] = SX_S5_RSV;
    switch (t->kind) {
    case TORIFY_TARGET_IPV4:
        buf[3] = SX_S5_ATYP_IPV4;
        memcpy(buf + 4, t->addr, 4);
        p = 8;
        break;
    case TORIFY_TARGET_IPV6:
        buf[3] = SX_S5_ATYP_IPV6;
        memcpy(buf + 4, t->addr, 16);
        p = 20;
        break;
    default: /* HOST, checked above */
        buf[3] = SX_S5_ATYP_DOMAIN;
        buf[4] = t->host_len;
        memcpy(buf + 5, t->host, t->host_len);
        p = 5 + (size_t)t->host_len;
        break;
    }
    put16(buf + p, wire_port(cmd, t));
    *len = p + 2;
    return TORIFY_OK;
}
