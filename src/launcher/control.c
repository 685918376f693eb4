/*
 * launcher/control.c — the launcher's connection to Tor's control port
 * (include/torify/control.h), for --check and --new-identity.
 *
 * Where: ControlSocket, else ControlPort, else where Debian's tor puts it
 * (/run/tor/control, then 127.0.0.1:9051).  The cookie: CookieAuthFile,
 * else the file PROTOCOLINFO names, else /run/tor/control.authcookie.
 * The password (ControlPassword) is a secret: it goes to Tor and nowhere
 * else, no message names it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <torify/control.h>
#include "core/policy.h"
#include "launcher/launcher.h"

#define DEBIAN_CONTROL_SOCKET "/run/tor/control"
#define DEBIAN_COOKIE "/run/tor/control.authcookie"
#define DEBIAN_CONTROL_PORT 9051

bool control_configured(const struct torify_config *cfg)
{
    return cfg->ctl_unix[0] || cfg->ctl_port || cfg->ctl_cookie[0] || cfg->has_ctl_password;
}

static socklen_t unix_addr(struct sockaddr_storage *ss, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    snprintf(un->sun_path, sizeof un->sun_path, "%s", path);
    return (socklen_t)sizeof *un;
}

static socklen_t inet_addr_port(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        return (socklen_t)sizeof *in;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return (socklen_t)sizeof *in6;
    }
    return 0; /* config.c accepts numeric addresses only */
}

static struct torify_ctl *try_open(const struct sockaddr_storage *ss, socklen_t len, torify_err *err, int *eno)
{
    struct torify_ctl *c = torify_ctl_open((const struct sockaddr *)ss, len, TORIFY_TOR_CHECK_MS, err);
    *eno = errno;
    return c;
}

struct torify_ctl *control_connect(const struct torify_config *cfg, struct control_info *info)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct torify_ctl *c = NULL;
    torify_err e = TORIFY_E_CTL_UNREACHABLE;
    int eno = ENOENT;

    memset(info, 0, sizeof *info);
    info->configured = control_configured(cfg);
    if (cfg->ctl_unix[0]) {
        snprintf(info->where, sizeof info->where, "unix:%s", cfg->ctl_unix);
        len = unix_addr(&ss, cfg->ctl_unix);
        c = try_open(&ss, len, &e, &eno);
    } else if (cfg->ctl_port) {
        snprintf(info->where, sizeof info->where, strchr(cfg->ctl_address, ':') ? "[%s]:%u" : "%s:%u",
                 cfg->ctl_address, cfg->ctl_port);
        len = inet_addr_port(&ss, cfg->ctl_address, cfg->ctl_port);
        c = try_open(&ss, len, &e, &eno);
    } else {
        /* Debian's places, the socket first (its permissions say who may). */
        info->defaults = true;
        snprintf(info->where, sizeof info->where, "unix:%s", DEBIAN_CONTROL_SOCKET);
        len = unix_addr(&ss, DEBIAN_CONTROL_SOCKET);
        c = try_open(&ss, len, &e, &eno);
        if (c == NULL) {
            snprintf(info->where, sizeof info->where, "127.0.0.1:%d", DEBIAN_CONTROL_PORT);
            len = inet_addr_port(&ss, "127.0.0.1", DEBIAN_CONTROL_PORT);
            c = try_open(&ss, len, &e, &eno);
        }
    }
    if (c == NULL) {
        info->err = e;
        info->err_errno = eno;
        return NULL;
    }
    info->reachable = true;
    e = torify_ctl_protocolinfo(c, &info->pi);
    if (e == TORIFY_OK) {
        struct torify_ctl_auth auth = { cfg->has_ctl_password ? cfg->ctl_password : NULL, NULL };
        if (cfg->ctl_cookie[0])
            auth.cookie_file = cfg->ctl_cookie;
        else if (info->pi.cookie_file[0] == '\0')
            auth.cookie_file = DEBIAN_COOKIE;
        snprintf(info->cookie, sizeof info->cookie, "%s", auth.cookie_file ? auth.cookie_file : info->pi.cookie_file);
        e = torify_ctl_authenticate(c, &info->pi, &auth, &info->method);
    }
    if (e != TORIFY_OK) {
        info->err = e;
        info->err_errno = errno;
        torify_ctl_close(c);
        return NULL;
    }
    info->authenticated = true;
    return c;
}

const char *control_method_name(unsigned m)
{
    switch (m) {
    case TORIFY_CTL_AUTH_NULL: return "no authentication";
    case TORIFY_CTL_AUTH_SAFECOOKIE: return "SAFECOOKIE";
    case TORIFY_CTL_AUTH_COOKIE: return "COOKIE";
    case TORIFY_CTL_AUTH_HASHEDPASSWORD: return "password";
    default: return "none";
    }
}

/* Why it failed, in one phrase (never a secret). */
const char *control_failure_text(const struct control_info *info, char *buf, size_t len)
{
    if (!info->reachable) {
        snprintf(buf, len, "nothing answers at %s (%s)", info->where, strerror(info->err_errno));
    } else if (info->err == TORIFY_E_CTL_COOKIE) {
        snprintf(buf, len, "cookie %s: %s", info->cookie[0] ? info->cookie : "(none named)",
                 info->err_errno == EINVAL ? "not a file of exactly 32 bytes"
                 : info->err_errno == EPERM ? "writable by group or others, not trusted"
                 : strerror(info->err_errno));
    } else if (info->err == TORIFY_E_CTL_AUTH_UNSUPPORTED) {
        snprintf(buf, len, "%s wants a password (ControlPassword, TORIFY_CONTROL_PASSWORD)", info->where);
    } else {
        snprintf(buf, len, "%s: %s", info->where, torify_strerror(info->err));
    }
    return buf;
}
