/* dns/reverse.c — see reverse.h. */
#include "dns/reverse.h"
#include "core/hex.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static bool suffix(const char *name, size_t n, const char *sfx, size_t *head)
{
    size_t k = strlen(sfx);
    if (n < k || strcasecmp(name + n - k, sfx) != 0)
        return false;
    *head = n - k;
    return true;
}

/* "d.c.b.a." (head bytes, each label ending with its dot). */
static bool parse4(const char *s, size_t n, uint8_t addr[16])
{
    size_t i = 0;
    for (int k = 3; k >= 0; k--) {
        size_t j = i;
        unsigned v = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9' && j - i < 3)
            v = v * 10 + (unsigned)(s[j++] - '0');
        if (j == i || j >= n || s[j] != '.' || v > 255 || (s[i] == '0' && j - i > 1))
            return false;
        addr[k] = (uint8_t)v;
        i = j + 1;
    }
    return i == n;
}

/* 32 "x." nibbles, lowest first. */
static bool parse6(const char *s, size_t n, uint8_t addr[16])
{
    if (n != 64)
        return false;
    memset(addr, 0, 16);
    for (int k = 0; k < 32; k++) {
        int h = torify_hex_digit(s[2 * k]);
        if (h < 0 || s[2 * k + 1] != '.')
            return false;
        int nib = 31 - k; /* first label: last nibble */
        addr[nib / 2] |= (uint8_t)(nib % 2 ? h : h << 4);
    }
    return true;
}

bool torify_dns_reverse_parse(const char *name, int *family, uint8_t addr[16])
{
    if (!name)
        return false;
    size_t n = strlen(name), head;
    if (suffix(name, n, ".in-addr.arpa", &head)) {
        /* head includes the dot before "in-addr": parse4 wants each label dotted */
        if (!parse4(name, head + 1, addr))
            return false;
        *family = AF_INET;
        return true;
    }
    if (suffix(name, n, ".ip6.arpa", &head)) {
        if (!parse6(name, head + 1, addr))
            return false;
        *family = AF_INET6;
        return true;
    }
    return false;
}

char *torify_dns_reverse_name(int family, const uint8_t *addr, char *out, size_t len)
{
    if (!out || !addr)
        return NULL;
    if (family == AF_INET) {
        int r = snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", addr[3], addr[2], addr[1], addr[0]);
        return r > 0 && (size_t)r < len ? out : NULL;
    }
    if (family != AF_INET6 || len < 73)
        return NULL;
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (int nib = 31; nib >= 0; nib--) {
        uint8_t b = addr[nib / 2];
        out[o++] = digits[nib % 2 ? (b & 0xF) : (b >> 4)];
        out[o++] = '.';
    }
    memcpy(out + o, "ip6.arpa", 9);
    return out;
}
