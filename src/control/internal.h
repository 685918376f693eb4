/*
 * Private to src/control.  Names start with torify_ctl_ / torify_sha256:
 * global in libtorify-socks.a, so they must not collide with a program's.
 */
#ifndef TORIFY_CONTROL_INTERNAL_H
#define TORIFY_CONTROL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <torify/control.h>

/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for SAFECOOKIE. */
#define TORIFY_SHA256_LEN 32
#define TORIFY_SHA256_BLOCK 64
struct torify_sha256 {
    uint32_t h[8];
    uint64_t bits;
    uint8_t block[TORIFY_SHA256_BLOCK];
    size_t fill;
};
void torify_sha256_init(struct torify_sha256 *s);
void torify_sha256_update(struct torify_sha256 *s, const void *data, size_t len);
void torify_sha256_final(struct torify_sha256 *s, uint8_t out[TORIFY_SHA256_LEN]);
void torify_sha256(const void *data, size_t len, uint8_t out[TORIFY_SHA256_LEN]);
void torify_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[TORIFY_SHA256_LEN]);

/* Equal in time that depends only on len, not on where they differ. */
bool torify_ctl_equal_ct(const uint8_t *a, const uint8_t *b, size_t len);
/* Wipe a secret so the compiler cannot drop the stores. */
void torify_ctl_wipe(void *p, size_t len);

/* Lower-case hex of len bytes into out (2*len+1); decode exactly 2*len hex digits. */
void torify_ctl_hex(const uint8_t *in, size_t len, char *out);
bool torify_ctl_unhex(const char *in, size_t in_len, uint8_t *out, size_t len);

#endif
