/*
 * control/sha256.c — SHA-256 (FIPS 180-4, section 6.2) and HMAC-SHA256
 * (RFC 2104), what SAFECOOKIE needs; torify depends on libc only.
 * Tested with FIPS 180-4's examples and RFC 4231's vectors
 * (tests/unit/test_control_crypto.c).
 */
#include <string.h>
#include "control/internal.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void compress(struct torify_sha256 *s, const uint8_t *b)
{
    uint32_t w[64], a, bb, c, d, e, f, g, h;
    int t;

    for (t = 0; t < 16; t++)
        w[t] = (uint32_t)b[4 * t] << 24 | (uint32_t)b[4 * t + 1] << 16 | (uint32_t)b[4 * t + 2] << 8 | b[4 * t + 3];
    for (t = 16; t < 64; t++) {
        uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    a = s->h[0]; bb = s->h[1]; c = s->h[2]; d = s->h[3];
    e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (t = 0; t < 64; t++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = bb; bb = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += bb; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

void torify_sha256_init(struct torify_sha256 *s)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, iv, sizeof iv);
    s->bits = 0;
    s->fill = 0;
}

void torify_sha256_update(struct torify_sha256 *s, const void *data, size_t len)
{
    const uint8_t *p = data;

    s->bits += (uint64_t)len * 8;
    while (len > 0) {
        size_t n = TORIFY_SHA256_BLOCK - s->fill;
        if (n > len)
            n = len;
        memcpy(s->block + s->fill, p, n);
        s->fill += n;
        p += n;
        len -= n;
        if (s->fill == TORIFY_SHA256_BLOCK) {
            compress(s, s->block);
            s->fill = 0;
        }
    }
}

void torify_sha256_final(struct torify_sha256 *s, uint8_t out[TORIFY_SHA256_LEN])
{
    uint64_t bits = s->bits;
    uint8_t len_be[8];
    static const uint8_t pad[TORIFY_SHA256_BLOCK] = { 0x80 };

    for (int i = 0; i < 8; i++)
        len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    /* 0x80, zeros up to 56 mod 64, then the length (section 5.1.1). */
    torify_sha256_update(s, pad, 1 + ((119 - s->fill) % 64));
    torify_sha256_update(s, len_be, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
    torify_ctl_wipe(s, sizeof *s);
}

void torify_sha256(const void *data, size_t len, uint8_t out[TORIFY_SHA256_LEN])
{
    struct torify_sha256 s;
    torify_sha256_init(&s);
    torify_sha256_update(&s, data, len);
    torify_sha256_final(&s, out);
}

void torify_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[TORIFY_SHA256_LEN])
{
    uint8_t k[TORIFY_SHA256_BLOCK] = { 0 }, pad[TORIFY_SHA256_BLOCK], inner[TORIFY_SHA256_LEN];
    struct torify_sha256 s;

    /* A key longer than a block is hashed first (RFC 2104 section 2). */
    if (key_len > TORIFY_SHA256_BLOCK)
        torify_sha256(key, key_len, k);
    else if (key_len > 0)
        memcpy(k, key, key_len);
    for (int i = 0; i < TORIFY_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    torify_sha256_init(&s);
    torify_sha256_update(&s, pad, sizeof pad);
    torify_sha256_update(&s, msg, msg_len);
    torify_sha256_final(&s, inner);
    for (int i = 0; i < TORIFY_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    torify_sha256_init(&s);
    torify_sha256_update(&s, pad, sizeof pad);
    torify_sha256_update(&s, inner, sizeof inner);
    torify_sha256_final(&s, out);
    torify_ctl_wipe(k, sizeof k);
    torify_ctl_wipe(pad, sizeof pad);
    torify_ctl_wipe(inner, sizeof inner);
}

bool torify_ctl_equal_ct(const uint8_t *a, const uint8_t *b, size_t len)
{
    volatile uint8_t d = 0;
    for (size_t i = 0; i < len; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

void torify_ctl_wipe(void *p, size_t len)
{
    volatile uint8_t *v = p;
    while (len--)
        *v++ = 0;
}
