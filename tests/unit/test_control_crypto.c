/*
 * SHA-256 against FIPS 180-4's examples (and the million-'a' message of
 * its companion test vectors), HMAC-SHA256 against RFC 4231's test cases,
 * and the constant-time comparison SAFECOOKIE's server hash goes through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "control/internal.h"

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    torify_ctl_hex(d, n, out);
}

static void assert_sha(const void *msg, size_t len, const char *want)
{
    uint8_t h[32];
    char hex[65];
    torify_sha256(msg, len, h);
    hex_of(h, 32, hex);
    assert_string_equal(hex, want);
}

static void test_sha256_fips_examples(void **state)
{
    assert_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
               112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_sha256_million_a_fed_in_odd_pieces(void **state)
{
    static char a[1000000];
    struct torify_sha256 s;
    uint8_t h[32];
    char hex[65];
    size_t off = 0, step = 1;

    memset(a, 'a', sizeof a);
    torify_sha256_init(&s);
    /* Pieces of 1, 2, 3 ... bytes: every fill level of the block buffer. */
    while (off < sizeof a) {
        size_t n = step < sizeof a - off ? step : sizeof a - off;
        torify_sha256_update(&s, a + off, n);
        off += n;
        step = step % 131 + 1;
    }
    torify_sha256_final(&s, h);
    hex_of(h, 32, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_lengths_around_the_padding_boundary(void **state)
{
    /* 55 bytes leave room for the length in one block, 56 do not, 64 fill it. */
    char m[65];
    memset(m, 'x', sizeof m);
    assert_sha(m, 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
    assert_sha(m, 56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
    assert_sha(m, 63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2");
    assert_sha(m, 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
    assert_sha(m, 65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9");
}

struct hmac_case {
    const char *key_hex;
    const char *data;      /* text, or NULL: data_hex */
    const char *data_hex;
    const char *mac_hex;   /* may be a prefix (case 5: 128 bits) */
};

static size_t unhex_any(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    assert_true(torify_ctl_unhex(hex, 2 * n, out, n));
    return n;
}

static void test_hmac_sha256_rfc4231(void **state)
{
    static const struct hmac_case cases[] = {
        { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", NULL,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { "4a656665", "what do ya want for nothing?", NULL,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
          "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { "0102030405060708090a0b0c0d0e0f10111213141516171819", NULL,
          "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "Test With Truncation", NULL,
          "a3b6167473100ee06e0c796c2955552b" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "Test Using Larger Than Block-Size Key - Hash Key First", NULL,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
          NULL, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t key[200], data[200], mac[32];
        char hex[65];
        size_t klen = unhex_any(cases[i].key_hex, key, sizeof key), dlen;
        if (cases[i].data != NULL) {
            dlen = strlen(cases[i].data);
            memcpy(data, cases[i].data, dlen);
        } else {
            dlen = unhex_any(cases[i].data_hex, data, sizeof data);
        }
        torify_hmac_sha256(key, klen, data, dlen, mac);
        hex_of(mac, 32, hex);
        hex[strlen(cases[i].mac_hex)] = '\0';
        if (strcmp(hex, cases[i].mac_hex) != 0)
            fail_msg("RFC 4231 test case %zu: got %s", i + 1, hex);
    }
}

static void test_equal_ct_finds_a_difference_anywhere(void **state)
{
    uint8_t a[32], b[32];
    memset(a, 7, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(torify_ctl_equal_ct(a, b, sizeof a));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        assert_false(torify_ctl_equal_ct(a, b, sizeof a));
        b[i] ^= 0x80;
    }
}

static void test_hex_round_trip_and_bad_digits(void **state)
{
    uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
    char hex[9];
    torify_ctl_hex(in, 4, hex);
    assert_string_equal(hex, "00ab7fff");
    assert_true(torify_ctl_unhex("00AB7FFF", 8, out, 4));
    assert_memory_equal(in, out, 4);
    assert_false(torify_ctl_unhex("00ab7ff", 7, out, 4));
    assert_false(torify_ctl_unhex("00ab7fgf", 8, out, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips_examples),
        cmocka_unit_test(test_sha256_million_a_fed_in_odd_pieces),
        cmocka_unit_test(test_sha256_lengths_around_the_padding_boundary),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_equal_ct_finds_a_difference_anywhere),
        cmocka_unit_test(test_hex_round_trip_and_bad_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
