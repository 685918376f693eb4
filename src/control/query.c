/*
 * control/query.c — GETINFO, GETCONF, SETCONF, SIGNAL, SETEVENTS
 * (control-spec 3.1, 3.3, 3.4, 3.7, 3.9).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <torify/control.h>

/* A keyword or signal name goes into a command unquoted: printable, no
 * space, so a caller's string cannot add an argument or a line. */
static bool is_word(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 0x7f)
            return false;
    return true;
}

static torify_err copy_out(const char *s, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return TORIFY_E_CTL_TOO_LONG;
    memcpy(out, s, n);
    out[n] = '\0';
    return TORIFY_OK;
}

torify_err torify_ctl_getinfo(struct torify_ctl *c, const char *key, char *out, size_t cap)
{
    char line[512];
    const struct torify_ctl_reply *r;
    size_t klen;
    torify_err e;

    if (!is_word(key) || out == NULL || cap == 0)
        return TORIFY_E_INVAL_ARGUMENT;
    klen = strlen(key);
    if (snprintf(line, sizeof line, "GETINFO %s", key) >= (int)sizeof line)
        return TORIFY_E_CTL_TOO_LONG;
    e = torify_ctl_command(c, line, &r);
    if (e != TORIFY_OK)
        return e;
    /* "250-key=value" or "250+key=" with the value as data, then "250 OK". */
    for (size_t i = 0; i < r->n_lines; i++) {
        const struct torify_ctl_line *l = &r->lines[i];
        if (l->text_len <= klen || memcmp(l->text, key, klen) != 0 || l->text[klen] != '=')
            continue;
        if (l->sep == '+')
            return copy_out(l->data, l->data_len, out, cap);
        return copy_out(l->text + klen + 1, l->text_len - klen - 1, out, cap);
    }
    return TORIFY_E_CTL_MISSING;
}

torify_err torify_ctl_getconf(struct torify_ctl *c, const char *key, char *out, size_t cap, bool *is_set)
{
    char line[512];
    const struct torify_ctl_reply *r;
    size_t klen;
    torify_err e;

    if (!is_word(key) || out == NULL || cap == 0 || is_set == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    *is_set = false;
    out[0] = '\0';
    klen = strlen(key);
    if (snprintf(line, sizeof line, "GETCONF %s", key) >= (int)sizeof line)
        return TORIFY_E_CTL_TOO_LONG;
    e = torify_ctl_command(c, line, &r);
    if (e != TORIFY_OK)
        return e;
    /* "250 Key=value" for a value, "250 Key" for the default; keys are
     * case-insensitive and Tor answers with its own spelling. */
    for (size_t i = 0; i < r->n_lines; i++) {
        const struct torify_ctl_line *l = &r->lines[i];
        if (l->text_len < klen || strncasecmp(l->text, key, klen) != 0)
            continue;
        if (l->text_len == klen)
            return TORIFY_OK;
        if (l->text[klen] != '=')
            continue;
        *is_set = true;
        return copy_out(l->text + klen + 1, l->text_len - klen - 1, out, cap);
    }
    return TORIFY_E_CTL_MISSING;
}

torify_err torify_ctl_setconf(struct torify_ctl *c, const char *key, const char *value)
{
    char q[4096], line[4600];
    torify_err e;

    if (!is_word(key) || strchr(key, '=') != NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    if (value == NULL) {
        if (snprintf(line, sizeof line, "SETCONF %s", key) >= (int)sizeof line)
            return TORIFY_E_CTL_TOO_LONG;
    } else {
        e = torify_ctl_quote(value, q, sizeof q);
        if (e != TORIFY_OK)
            return e;
        if (snprintf(line, sizeof line, "SETCONF %s=%s", key, q) >= (int)sizeof line)
            return TORIFY_E_CTL_TOO_LONG;
    }
    return torify_ctl_command(c, line, NULL);
}

torify_err torify_ctl_signal(struct torify_ctl *c, const char *name)
{
    char line[128];

    if (!is_word(name))
        return TORIFY_E_INVAL_ARGUMENT;
    if (snprintf(line, sizeof line, "SIGNAL %s", name) >= (int)sizeof line)
        return TORIFY_E_CTL_TOO_LONG;
    return torify_ctl_command(c, line, NULL);
}

torify_err torify_ctl_setevents(struct torify_ctl *c, const char *names)
{
    char line[1024];

    if (names == NULL)
        return TORIFY_E_INVAL_ARGUMENT;
    for (const char *s = names; *s; s++)
        if ((*s < ' ' && *s != '\0') || *s >= 0x7f)
            return TORIFY_E_INVAL_ARGUMENT;
    if (snprintf(line, sizeof line, "SETEVENTS%s%s", names[0] ? " " : "", names) >= (int)sizeof line)
        return TORIFY_E_CTL_TOO_LONG;
    return torify_ctl_command(c, line, NULL);
}
