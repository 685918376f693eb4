/*
 * core/hex.h — the value of one hexadecimal digit, for the parsers that
 * read hex text: the control port's escapes and cookies (src/control/) and
 * the reverse names of ip6.arpa (src/dns/).  A header, so libtorify-socks
 * still stands alone, without the core's objects (as core/clock.h).
 */
#ifndef TORIFY_CORE_HEX_H
#define TORIFY_CORE_HEX_H

/* 0..15, or -1 for a character that is not a hex digit. */
static inline int torify_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
