/*
 * Private to src/socks: the encoders and decoders behind the codec.
 * Names start with torify_sx_: hidden in libtorify.so, but global in
 * libtorify-socks.a, so they must not collide with a program's own symbols
 * (torsocks, for one, uses tsocks_).
 */
#ifndef TORIFY_SOCKS_INTERNAL_H
#define TORIFY_SOCKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <torify/socks.h>

/* The protocol's numbers, by the names of the documents that define them:
 * SOCKS4 and SOCKS4a (Tor's socks-extensions), RFC 1928 (SOCKS5), RFC 1929
 * (username/password).  Command numbers are enum torify_socks_cmd's values;
 * methods are in codec.c. */
enum {
    SX_S4_VERSION = 0x04,        /* VN of a SOCKS4 request */
    SX_S4_REPLY_VERSION = 0x00,  /* VN of a SOCKS4 reply */
    SX_S4_GRANTED = 0x5a,        /* CD: request granted */
    SX_S4_REJECTED = 0x5b,       /* CD: rejected or failed */
    SX_S4_NO_IDENTD = 0x5c,      /* CD: identd unreachable */
    SX_S4_IDENTD_MISMATCH = 0x5d,/* CD: identd says another user */
    SX_S5_VERSION = 0x05,        /* VER of every SOCKS5 message */
    SX_S5_NO_ACCEPTABLE = 0xff,  /* METHOD: none of those offered */
    SX_S5_RSV = 0x00,            /* the reserved byte */
    SX_S5_ATYP_IPV4 = 0x01,
    SX_S5_ATYP_DOMAIN = 0x03,
    SX_S5_ATYP_IPV6 = 0x04,
    SX_S5_TOR_EXTENDED_FIRST = 0xf0, /* REP: Tor's ExtendedErrors start here */
    SX_AUTH_VERSION = 0x01,      /* RFC 1929 subnegotiation version */
    SX_AUTH_SUCCESS = 0x00,      /* RFC 1929 STATUS */
};

/* Longest USERID / RFC 1929 field and hostname. */
#define TORIFY_SX_FIELD_MAX 255u

/* Encoders write into buf[0..cap) and set *len; they validate what they
 * encode and return a TORIFY_E_INVAL_* value on bad input. */
torify_err torify_sx_enc_s4_request(uint8_t *buf, size_t cap, size_t *len, int socks4a, uint8_t cmd,
                                 const struct torify_target *t, const char *user);
torify_err torify_sx_enc_s5_greeting(uint8_t *buf, size_t cap, size_t *len, uint8_t method);
torify_err torify_sx_enc_s5_auth(uint8_t *buf, size_t cap, size_t *len, const char *user, const char *pass);
torify_err torify_sx_enc_s5_request(uint8_t *buf, size_t cap, size_t *len, uint8_t cmd,
                                 const struct torify_target *t);

/* Checks a target struct that a caller may have filled by hand. */
torify_err torify_sx_check_target(const struct torify_target *t);

/* Reply code to error. */
torify_err torify_sx_s4_code(uint8_t cd);
torify_err torify_sx_s5_code(uint8_t rep);

/* Decoders over complete pieces of a reply. */
#define TORIFY_SX_S4_REPLY_LEN 8u
#define TORIFY_SX_S5_METHOD_LEN 2u
#define TORIFY_SX_S5_AUTH_LEN 2u
#define TORIFY_SX_S5_HEAD_LEN 5u

torify_err torify_sx_dec_s4_reply(const uint8_t in[TORIFY_SX_S4_REPLY_LEN], struct torify_target *res);
torify_err torify_sx_dec_s5_method(const uint8_t in[TORIFY_SX_S5_METHOD_LEN], uint8_t offered);
torify_err torify_sx_dec_s5_auth(const uint8_t in[TORIFY_SX_S5_AUTH_LEN]);
/* From the first 5 reply bytes: the total length of the reply, or an error. */
torify_err torify_sx_dec_s5_head(const uint8_t in[TORIFY_SX_S5_HEAD_LEN], uint8_t cmd, size_t *total);
/* The whole reply (len as given by torify_sx_dec_s5_head). */
torify_err torify_sx_dec_s5_reply(const uint8_t *in, size_t len, struct torify_target *res);

/* Fail the codec with e, for an error found outside it (the driver's
 * I/O); a FAILED codec keeps its first error, which is returned. */
torify_err torify_sx_fail(struct torify_socks *s, torify_err e);

/* opts->timeout_ms, or the default 30 s when not positive. */
int torify_sx_timeout_ms(const struct torify_socks_opts *opts);
/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -1 error. */
int torify_sx_wait(int fd, short events, int64_t deadline_ms);

#endif
