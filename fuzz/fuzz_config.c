/*
 * libFuzzer target: torify.conf parser, CIDR parser, name classifier and
 * the fake-address map's name handling (src/core/).
 *
 * Input: the whole buffer is a config file text.  Invariants, trapped when
 * broken:
 *  - parsing never reads out of bounds and always NUL-terminates the error;
 *  - an error says "fuzz.conf:<line>: " with a line number within the text;
 *  - success leaves a usable configuration: port 1..65535, protocol socks5
 *    or socks4a, exempt count within its bound, credentials 1..255 bytes,
 *    fake ranges of the right family with room for names;
 *  - each line, taken as a CIDR, parses to a prefix within its family and
 *    contains its own address;
 *  - each line, taken as a host name of a non-numeric kind, gets a fake
 *    address whose reverse lookup gives back the lower-cased name.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/fakemap.h"
#include "core/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) \
    do { \
        if (!(c)) \
            __builtin_trap(); \
    } while (0)

static struct torify_fakemap *map;

static void check_line(const char *line, size_t len)
{
    char buf[300];
    if (len >= sizeof buf)
        return;
    memcpy(buf, line, len);
    buf[len] = '\0';
    struct torify_cidr c;
    if (torify_cidr_parse(buf, &c) == 0) {
        CHECK(c.family == AF_INET || c.family == AF_INET6);
        CHECK(c.prefix <= (c.family == AF_INET ? 32 : 128));
        CHECK(torify_cidr_contains(&c, c.family, c.addr));
    }
    enum torify_name_kind k = torify_policy_name_kind(buf);
    if ((k == TORIFY_NAME_HOST || k == TORIFY_NAME_ONION) && map) {
        uint32_t slot;
        if (torify_fakemap_assign(map, buf, strlen(buf), &slot) == TORIFY_OK) {
            uint8_t a4[4], a6[16];
            char back[256], want[256];
            torify_fakemap_addr4(map, slot, a4);
            torify_fakemap_addr6(map, slot, a6);
            CHECK(torify_fakemap_lookup_addr(map, AF_INET, a4, back, sizeof back, NULL) == TORIFY_OK);
            size_t n = strlen(buf);
            if (n > 1 && buf[n - 1] == '.')
                n--;
            for (size_t i = 0; i < n; i++)
                want[i] = (char)tolower((unsigned char)buf[i]);
            want[n] = '\0';
            CHECK(strcmp(back, want) == 0);
            CHECK(torify_fakemap_lookup_addr(map, AF_INET6, a6, back, sizeof back, NULL) == TORIFY_OK);
            CHECK(strcmp(back, want) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!map) {
        struct torify_fakemap_opts o;
        memset(&o, 0, sizeof o);
        o.capacity = 64; /* small: recycling is exercised constantly */
        if (torify_fakemap_create(&map, &o) != TORIFY_OK)
            map = NULL;
    }
    struct torify_config c;
    torify_config_defaults(&c);
    char err[TORIFY_CONFIG_ERR_MAX];
    memset(err, 'x', sizeof err);
    torify_err e = torify_config_parse(&c, (const char *)data, size, "fuzz.conf", err, sizeof err);
    if (e != TORIFY_OK) {
        CHECK(e == TORIFY_E_REFUSE_CONFIG);
        CHECK(memchr(err, '\0', sizeof err) != NULL);
        unsigned line = 0;
        CHECK(sscanf(err, "fuzz.conf:%u: ", &line) == 1);
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        CHECK(line >= 1 && line <= lines);
    } else {
        CHECK(c.tor_port >= 1);
        CHECK(c.proto == TORIFY_SOCKS5 || c.proto == TORIFY_SOCKS4A);
        CHECK(c.n_exempt <= TORIFY_EXEMPT_MAX);
        if (c.has_user)
            CHECK(strlen(c.user) >= 1 && strlen(c.user) <= 255);
        if (c.has_pass)
            CHECK(strlen(c.pass) >= 1 && strlen(c.pass) <= 255);
        CHECK(c.fake4.family == AF_INET && c.fake4.prefix <= 30);
        CHECK(c.fake6.family == AF_INET6 && c.fake6.prefix <= 126);
        CHECK(c.log_level <= TORIFY_LOG_DEBUG);
        e = torify_config_finish(&c, err, sizeof err);
        CHECK(e == TORIFY_OK || e == TORIFY_E_REFUSE_CONFIG);
        if (e == TORIFY_OK)
            CHECK(c.tor_addr_len > 0);
    }
    /* Every line also as a CIDR and as a host name. */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            if (!memchr(data + start, '\0', i - start))
                check_line((const char *)data + start, i - start);
            start = i + 1;
        }
    }
    return 0;
}
