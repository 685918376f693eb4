/*
 * control/auth.c — PROTOCOLINFO, the cookie file and AUTHENTICATE
 * (control-spec 3.5, 3.21, 3.24).
 *
 * SAFECOOKIE: we send a random ClientNonce in AUTHCHALLENGE; Tor answers
 * SERVERHASH and SERVERNONCE.  With the cookie as CookieString,
 *   ServerHash = HMAC-SHA256("Tor safe cookie authentication server-to-controller hash",
 *                            CookieString | ClientNonce | ServerNonce)
 *   ClientHash = HMAC-SHA256("Tor safe cookie authentication controller-to-server hash", same)
 * Tor's ServerHash is checked, in constant time, before ClientHash is
 * sent: a program that merely listens where Tor should (and read no
 * cookie) learns nothing that would let it pose as us to the real Tor.
 * That is why SAFECOOKIE is preferred over COOKIE, which hands the cookie
 * itself to whoever answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <torify/control.h>
#include "control/internal.h"

#define NONCE_LEN 32

static const char server_key[] = "Tor safe cookie authentication server-to-controller hash";
static const char client_key[] = "Tor safe cookie authentication controller-to-server hash";

static unsigned method_bit(const char *m, size_t n)
{
    static const struct { const char *name; unsigned bit; } tab[] = {
        { "NULL", TORIFY_CTL_AUTH_NULL },
        { "HASHEDPASSWORD", TORIFY_CTL_AUTH_HASHEDPASSWORD },
        { "COOKIE", TORIFY_CTL_AUTH_COOKIE },
        { "SAFECOOKIE", TORIFY_CTL_AUTH_SAFECOOKIE },
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strlen(tab[i].name) == n && memcmp(tab[i].name, m, n) == 0)
            return tab[i].bit;
    return 0; /* a method of a later Tor: not ours */
}

static torify_err parse_auth_line(const char *text, size_t len, struct torify_ctl_protocolinfo *out)
{
    size_t pos = 0;
    char key[32], val[sizeof out->cookie_file];
    bool has_value, found;

    /* "AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/run/tor/control.authcookie"" */
    pos = 4;
    for (;;) {
        torify_err e = torify_ctl_kv_next(text, len, &pos, key, sizeof key, val, sizeof val, &has_value, &found);
        if (e != TORIFY_OK)
            return e;
        if (!found)
            return TORIFY_OK;
        if (strcmp(key, "METHODS") == 0) {
            const char *m = val;
            while (*m) {
                size_t n = strcspn(m, ",");
                out->methods |= method_bit(m, n);
                m += n;
                if (*m == ',')
                    m++;
            }
        } else if (strcmp(key, "COOKIEFILE") == 0) {
            snprintf(out->cookie_file, sizeof out->cookie_file, "%s", val);
        }
    }
}

torify_err torify_ctl_protocolinfo(struct torify_ctl *c, struct torify_ctl_protocolinfo *out)
{
    const struct torify_ctl_reply *r;
    bool have_auth = false;
    torify_err e;

    memset(out, 0, sizeof *out);
    e = torify_ctl_command(c, "PROTOCOLINFO 1", &r);
    if (e != TORIFY_OK)
        return e;
    for (size_t i = 0; i < r->n_lines; i++) {
        const struct torify_ctl_line *l = &r->lines[i];
        if (strncmp(l->text, "AUTH ", 5) == 0) {
            e = parse_auth_line(l->text, l->text_len, out);
            if (e != TORIFY_OK)
                return e;
            have_auth = true;
        } else if (strncmp(l->text, "VERSION ", 8) == 0) {
            e = torify_ctl_kv_get(l->text + 8, l->text_len - 8, "Tor", out->version, sizeof out->version);
            if (e != TORIFY_OK && e != TORIFY_E_CTL_MISSING)
                return e;
        }
    }
    /* Without its AUTH line the answer is not PROTOCOLINFO's. */
    return have_auth ? TORIFY_OK : TORIFY_E_CTL_MISSING;
}

torify_err torify_ctl_read_cookie(const char *path, uint8_t cookie[TORIFY_CTL_COOKIE_LEN])
{
    struct stat st;
    uint8_t extra;
    ssize_t n;
    size_t got = 0;
    int fd;

    if (path == NULL || path[0] == '\0') {
        errno = ENOENT;
        return TORIFY_E_CTL_COOKIE;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return TORIFY_E_CTL_COOKIE;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return TORIFY_E_CTL_COOKIE;
    }
    if (!S_ISREG(st.st_mode) || st.st_size != TORIFY_CTL_COOKIE_LEN) {
        close(fd);
        errno = EINVAL;
        return TORIFY_E_CTL_COOKIE;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        close(fd);
        errno = EPERM;
        return TORIFY_E_CTL_COOKIE;
    }
    while (got < TORIFY_CTL_COOKIE_LEN) {
        n = read(fd, cookie + got, TORIFY_CTL_COOKIE_LEN - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    /* The size is checked again by reading: the file may change under us. */
    n = got == TORIFY_CTL_COOKIE_LEN ? read(fd, &extra, 1) : 0;
    close(fd);
    if (got != TORIFY_CTL_COOKIE_LEN || n != 0) {
        torify_ctl_wipe(cookie, TORIFY_CTL_COOKIE_LEN);
        errno = EINVAL;
        return TORIFY_E_CTL_COOKIE;
    }
    return TORIFY_OK;
}

/* AUTHENTICATE with its argument; Tor's 515 "Authentication failed" (or
 * any refusal) is ours to name. */
static torify_err authenticate(struct torify_ctl *c, const char *arg)
{
    char line[600];
    int n = snprintf(line, sizeof line, "AUTHENTICATE%s%s", arg[0] ? " " : "", arg);
    torify_err e;

    if (n < 0 || (size_t)n >= sizeof line) {
        torify_ctl_wipe(line, sizeof line);
        return TORIFY_E_CTL_TOO_LONG;
    }
    e = torify_ctl_command(c, line, NULL);
    torify_ctl_wipe(line, sizeof line);
    if (e == TORIFY_E_CTL_REFUSED)
        return TORIFY_E_CTL_AUTH_FAILED;
    return e;
}

static torify_err safecookie(struct torify_ctl *c, const uint8_t cookie[TORIFY_CTL_COOKIE_LEN])
{
    uint8_t msg[TORIFY_CTL_COOKIE_LEN + 2 * NONCE_LEN], expect[TORIFY_SHA256_LEN], got[TORIFY_SHA256_LEN];
    char hex[2 * TORIFY_SHA256_LEN + 1], line[128], val[2 * NONCE_LEN + 2];
    const struct torify_ctl_reply *r;
    torify_err e;
    size_t off = 0;

    memcpy(msg, cookie, TORIFY_CTL_COOKIE_LEN);
    while (off < NONCE_LEN) {
        ssize_t n = getrandom(msg + TORIFY_CTL_COOKIE_LEN + off, NONCE_LEN - off, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = TORIFY_E_IO;
            goto out;
        }
        off += (size_t)n;
    }
    torify_ctl_hex(msg + TORIFY_CTL_COOKIE_LEN, NONCE_LEN, hex);
    snprintf(line, sizeof line, "AUTHCHALLENGE SAFECOOKIE %s", hex);
    e = torify_ctl_command(c, line, &r);
    if (e == TORIFY_E_CTL_REFUSED)
        e = TORIFY_E_CTL_AUTH_FAILED;
    if (e != TORIFY_OK)
        goto out;
    /* "250 AUTHCHALLENGE SERVERHASH=<64 hex> SERVERNONCE=<64 hex>" */
    if (r->n_lines != 1 || strncmp(r->lines[0].text, "AUTHCHALLENGE ", 14) != 0) {
        e = TORIFY_E_CTL_MALFORMED;
        goto out;
    }
    e = torify_ctl_kv_get(r->lines[0].text, r->lines[0].text_len, "SERVERNONCE", val, sizeof val);
    if (e != TORIFY_OK || !torify_ctl_unhex(val, strlen(val), msg + TORIFY_CTL_COOKIE_LEN + NONCE_LEN, NONCE_LEN)) {
        e = e == TORIFY_OK || e == TORIFY_E_CTL_TOO_LONG ? TORIFY_E_CTL_MALFORMED : e;
        goto out;
    }
    e = torify_ctl_kv_get(r->lines[0].text, r->lines[0].text_len, "SERVERHASH", val, sizeof val);
    if (e != TORIFY_OK || !torify_ctl_unhex(val, strlen(val), got, sizeof got)) {
        e = e == TORIFY_OK || e == TORIFY_E_CTL_TOO_LONG ? TORIFY_E_CTL_MALFORMED : e;
        goto out;
    }
    torify_hmac_sha256(server_key, sizeof server_key - 1, msg, sizeof msg, expect);
    if (!torify_ctl_equal_ct(expect, got, sizeof got)) {
        e = TORIFY_E_CTL_SERVER_HASH;
        goto out;
    }
    torify_hmac_sha256(client_key, sizeof client_key - 1, msg, sizeof msg, expect);
    torify_ctl_hex(expect, sizeof expect, hex);
    e = authenticate(c, hex);
out:
    torify_ctl_wipe(msg, sizeof msg);
    torify_ctl_wipe(expect, sizeof expect);
    torify_ctl_wipe(hex, sizeof hex);
    return e;
}

torify_err torify_ctl_authenticate(struct torify_ctl *c, const struct torify_ctl_protocolinfo *info,
                                   const struct torify_ctl_auth *auth, unsigned *used)
{
    struct torify_ctl_protocolinfo own;
    uint8_t cookie[TORIFY_CTL_COOKIE_LEN];
    const char *password = auth != NULL ? auth->password : NULL;
    const char *cookie_file = auth != NULL && auth->cookie_file != NULL && auth->cookie_file[0] ? auth->cookie_file : NULL;
    torify_err e, cookie_err = TORIFY_OK;
    int cookie_errno = 0;

    if (used != NULL)
        *used = 0;
    if (info == NULL) {
        e = torify_ctl_protocolinfo(c, &own);
        if (e != TORIFY_OK)
            return e;
        info = &own;
    }
    if (info->methods & TORIFY_CTL_AUTH_NULL) {
        if (used != NULL)
            *used = TORIFY_CTL_AUTH_NULL;
        return authenticate(c, "");
    }
    if (info->methods & (TORIFY_CTL_AUTH_SAFECOOKIE | TORIFY_CTL_AUTH_COOKIE)) {
        cookie_err = torify_ctl_read_cookie(cookie_file != NULL ? cookie_file : info->cookie_file, cookie);
        cookie_errno = errno;
        if (cookie_err == TORIFY_OK) {
            if (info->methods & TORIFY_CTL_AUTH_SAFECOOKIE) {
                if (used != NULL)
                    *used = TORIFY_CTL_AUTH_SAFECOOKIE;
                e = safecookie(c, cookie);
            } else {
                char hex[2 * TORIFY_CTL_COOKIE_LEN + 1];
                if (used != NULL)
                    *used = TORIFY_CTL_AUTH_COOKIE;
                torify_ctl_hex(cookie, sizeof cookie, hex);
                e = authenticate(c, hex);
                torify_ctl_wipe(hex, sizeof hex);
            }
            torify_ctl_wipe(cookie, sizeof cookie);
            return e;
        }
    }
    if ((info->methods & TORIFY_CTL_AUTH_HASHEDPASSWORD) && password != NULL) {
        char q[520];
        if (used != NULL)
            *used = TORIFY_CTL_AUTH_HASHEDPASSWORD;
        e = torify_ctl_quote(password, q, sizeof q);
        if (e == TORIFY_OK)
            e = authenticate(c, q);
        torify_ctl_wipe(q, sizeof q);
        return e;
    }
    /* Say the cookie's trouble when a cookie was the only way. */
    if (cookie_err != TORIFY_OK) {
        errno = cookie_errno;
        return cookie_err;
    }
    return TORIFY_E_CTL_AUTH_UNSUPPORTED;
}
