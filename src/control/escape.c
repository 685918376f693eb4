/*
 * control/escape.c — the strings of the control protocol: QuotedString and
 * C-style strings (control-spec 2.1 and 2.1.1), KEYWORD=value pairs, hex.
 *
 * A QuotedString quotes with backslash: "\" CHAR stands for CHAR.  Tor
 * writes some values (PROTOCOLINFO's COOKIEFILE, for one) as C strings,
 * whose escapes mean something: \n \t \r \\ \" \' and octal \ooo (Tor also
 * writes \xHH in esc_for_log).  Both are decoded here into bounded output.
 */
#include <string.h>
#include <torify/control.h>
#include "control/internal.h"
#include "core/hex.h"

/* One C escape after the backslash at in[*i]; *i moves past it. */
static int c_escape(const char *in, size_t len, size_t *i)
{
    char c = in[*i];
    int v = 0, n = 0;

    switch (c) {
    case 'n': (*i)++; return '\n';
    case 't': (*i)++; return '\t';
    case 'r': (*i)++; return '\r';
    case '\\': case '"': case '\'': (*i)++; return c;
    case 'x':
        if (*i + 2 >= len || torify_hex_digit(in[*i + 1]) < 0 || torify_hex_digit(in[*i + 2]) < 0)
            return -1;
        v = torify_hex_digit(in[*i + 1]) * 16 + torify_hex_digit(in[*i + 2]);
        *i += 3;
        return v;
    default:
        while (n < 3 && *i < len && in[*i] >= '0' && in[*i] <= '7') {
            v = v * 8 + (in[*i] - '0');
            (*i)++;
            n++;
        }
        if (n == 0 || v > 255)
            return -1;
        return v;
    }
}

torify_err torify_ctl_unquote(const char *in, size_t len, bool cstring, char *out, size_t cap, size_t *used)
{
    size_t i = 1, o = 0;

    if (in == NULL || out == NULL || cap == 0)
        return TORIFY_E_INVAL_ARGUMENT;
    if (len == 0 || in[0] != '"')
        return TORIFY_E_CTL_MALFORMED;
    while (i < len) {
        int c = (unsigned char)in[i];
        if (c == '"') {
            out[o] = '\0';
            if (used != NULL)
                *used = i + 1;
            return TORIFY_OK;
        }
        if (c == '\\') {
            i++;
            if (i >= len)
                break;
            if (cstring) {
                c = c_escape(in, len, &i);
                if (c < 0)
                    return TORIFY_E_CTL_MALFORMED;
            } else {
                c = (unsigned char)in[i++];
            }
        } else {
            i++;
        }
        if (c == '\0')
            return TORIFY_E_CTL_MALFORMED;
        if (o + 1 >= cap)
            return TORIFY_E_CTL_TOO_LONG;
        out[o++] = (char)c;
    }
    return TORIFY_E_CTL_MALFORMED; /* no closing quote */
}

torify_err torify_ctl_quote(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    if (s == NULL || out == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (cap < 3)
        return TORIFY_E_CTL_TOO_LONG;
    out[o++] = '"';
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n')
            return TORIFY_E_INVAL_ARGUMENT;
        if (*s == '"' || *s == '\\') {
            if (o + 1 >= cap)
                return TORIFY_E_CTL_TOO_LONG;
            out[o++] = '\\';
        }
        if (o + 1 >= cap)
            return TORIFY_E_CTL_TOO_LONG;
        out[o++] = *s;
    }
    if (o + 2 > cap)
        return TORIFY_E_CTL_TOO_LONG;
    out[o++] = '"';
    out[o] = '\0';
    return TORIFY_OK;
}

torify_err torify_ctl_kv_next(const char *text, size_t len, size_t *pos, char *key, size_t key_cap,
                              char *val, size_t val_cap, bool *has_value, bool *found)
{
    size_t i = *pos, k0, klen;

    *found = false;
    *has_value = false;
    if (key_cap == 0 || val_cap == 0)
        return TORIFY_E_INVAL_ARGUMENT;
    while (i < len && text[i] == ' ')
        i++;
    if (i >= len) {
        *pos = i;
        return TORIFY_OK;
    }
    k0 = i;
    while (i < len && text[i] != ' ' && text[i] != '=')
        i++;
    klen = i - k0;
    if (klen == 0)
        return TORIFY_E_CTL_MALFORMED; /* "=value" with no keyword */
    if (klen >= key_cap)
        return TORIFY_E_CTL_TOO_LONG;
    memcpy(key, text + k0, klen);
    key[klen] = '\0';
    val[0] = '\0';
    if (i < len && text[i] == '=') {
        i++;
        *has_value = true;
        if (i < len && text[i] == '"') {
            size_t used;
            /* Tor writes quoted values as C strings (control-spec 2.1.1). */
            torify_err e = torify_ctl_unquote(text + i, len - i, true, val, val_cap, &used);
            if (e != TORIFY_OK)
                return e;
            i += used;
            if (i < len && text[i] != ' ')
                return TORIFY_E_CTL_MALFORMED;
        } else {
            size_t v0 = i;
            while (i < len && text[i] != ' ')
                i++;
            if (i - v0 >= val_cap)
                return TORIFY_E_CTL_TOO_LONG;
            memcpy(val, text + v0, i - v0);
            val[i - v0] = '\0';
        }
    }
    *pos = i;
    *found = true;
    return TORIFY_OK;
}

torify_err torify_ctl_kv_get(const char *text, size_t len, const char *key, char *val, size_t val_cap)
{
    size_t pos = 0;
    char k[64];

    for (;;) {
        bool found, has_value;
        /* A word without '=' is a flag, never ours: skipped whatever its
         * length (a circuit's PATH is one, longer than any keyword). */
        while (pos < len && text[pos] == ' ')
            pos++;
        size_t end = pos;
        while (end < len && text[end] != ' ' && text[end] != '=')
            end++;
        if (end > pos && (end == len || text[end] == ' ')) {
            pos = end;
            continue;
        }
        torify_err e = torify_ctl_kv_next(text, len, &pos, k, sizeof k, val, val_cap, &has_value, &found);
        if (e != TORIFY_OK)
            return e;
        if (!found)
            return TORIFY_E_CTL_MISSING;
        if (has_value && strcmp(k, key) == 0)
            return TORIFY_OK;
    }
}

void torify_ctl_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool torify_ctl_unhex(const char *in, size_t in_len, uint8_t *out, size_t len)
{
    if (in_len != 2 * len)
        return false;
    for (size_t i = 0; i < len; i++) {
        int hi = torify_hex_digit(in[2 * i]), lo = torify_hex_digit(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}
