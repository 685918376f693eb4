/* core/config.c — see config.h and docs/CONTRACTS.md. */
#include "core/config.h"
#include "core/sys.h"
#include "torify/socks.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (64 * 1024) /* a config file is small; bigger is an error */

static torify_err fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static torify_err fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        if (vsnprintf(err, err_len, fmt, ap) < 0)
            err[0] = '\0';
        va_end(ap);
    }
    return TORIFY_E_REFUSE_CONFIG;
}

static bool copy_str(char *dst, size_t dst_len, const char *src)
{
    size_t n = strlen(src);
    if (n >= dst_len)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

int torify_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(text, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

int torify_cidr_parse(const char *text, struct torify_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!copy_str(buf, sizeof buf, text))
        return -1;
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        if (!isdigit((unsigned char)p[0]) || strlen(p) > 3)
            return -1;
        char *end;
        prefix = strtol(p, &end, 10);
        if (*end)
            return -1;
    }
    struct torify_cidr c;
    memset(&c, 0, sizeof c);
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        if (prefix < 0) prefix = 32;
        if (prefix > 32) return -1;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        if (prefix < 0) prefix = 128;
        if (prefix > 128) return -1;
    } else {
        return -1;
    }
    c.prefix = (uint8_t)prefix;
    /* Clear host bits so comparisons are plain byte compares. */
    size_t nbytes = c.family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < nbytes; i++) {
        long bits = prefix - (long)i * 8;
        if (bits >= 8) continue;
        c.addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xFFu << (8 - bits));
    }
    *out = c;
    return 0;
}

bool torify_cidr_contains(const struct torify_cidr *net, int family, const uint8_t *addr)
{
    if (net->family != family)
        return false;
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
    return (addr[full] & mask) == net->addr[full];
}

const char *const torify_exempt_exe_builtin[] = { "/usr/bin/tor", "/usr/sbin/tor", NULL };

bool torify_config_exe_exempt(const struct torify_config *c, const char *exe)
{
    if (!exe || !exe[0])
        return false;
    for (size_t i = 0; torify_exempt_exe_builtin[i]; i++)
        if (strcmp(exe, torify_exempt_exe_builtin[i]) == 0)
            return true;
    for (size_t i = 0; c && i < c->n_exempt_exe; i++)
        if (strcmp(exe, c->exempt_exe[i]) == 0)
            return true;
    return false;
}

void torify_config_defaults(struct torify_config *c)
{
    memset(c, 0, sizeof *c);
    copy_str(c->tor_address, sizeof c->tor_address, "127.0.0.1");
    c->tor_port = 9050;
    c->proto = TORIFY_SOCKS5;
    torify_cidr_parse("127.192.0.0/10", &c->fake4);
    torify_cidr_parse("100::/64", &c->fake6);
    c->log_level = TORIFY_LOG_QUIET;
    c->optimistic = TORIFY_OPT_DEFAULT;
    (void)torify_config_finish(c, NULL, 0);
}

torify_err torify_config_finish(struct torify_config *c, char *err, size_t err_len)
{
    memset(&c->tor_addr, 0, sizeof c->tor_addr);
    if (c->tor_unix[0]) {
        struct sockaddr_un *un = (struct sockaddr_un *)&c->tor_addr;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, c->tor_unix, strlen(c->tor_unix) + 1);
        c->tor_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(c->tor_unix) + 1);
        return TORIFY_OK;
    }
    const char *a = c->tor_address;
    if (strcasecmp(a, "localhost") == 0)
        a = "127.0.0.1"; /* the only name accepted: resolving would leak */
    struct sockaddr_in *in = (struct sockaddr_in *)&c->tor_addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->tor_addr;
    if (inet_pton(AF_INET, a, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(c->tor_port);
        c->tor_addr_len = sizeof *in;
    } else if (inet_pton(AF_INET6, a, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(c->tor_port);
        c->tor_addr_len = sizeof *in6;
    } else {
        c->tor_addr_len = 0;
        return fail(err, err_len, "TorAddress '%s' is not a numeric IPv4/IPv6 address", c->tor_address);
    }
    return TORIFY_OK;
}

/* One setting, from the file (where = "file:line") or the environment
 * (where = "environment VAR").  Keys are matched case-insensitively. */
enum key_id {
    K_TOR_ADDRESS, K_TOR_PORT, K_TOR_UNIX, K_PROTOCOL, K_USER, K_PASS, K_ISOLATE,
    K_INBOUND, K_LOCALHOST, K_EXEMPT, K_EXEMPT_LIST, K_FAKE4, K_FAKE6, K_LOG_LEVEL, K_LOG_FILE,
    K_EXEMPT_EXE, K_RESOLVE_TOR, K_HIDE_ID, K_PASS_HALF_CLOSE, K_OPTIMISTIC,
    K_CTL_PORT, K_CTL_SOCKET, K_CTL_COOKIE, K_CTL_PASSWORD,
};

static const struct { const char *name; enum key_id id; } file_keys[] = {
    { "TorAddress", K_TOR_ADDRESS },
    { "TorPort", K_TOR_PORT },
    { "TorUnixSocket", K_TOR_UNIX },
    { "Protocol", K_PROTOCOL },
    { "SOCKS5Username", K_USER },
    { "SOCKS5Password", K_PASS },
    { "IsolatePID", K_ISOLATE },
    { "AllowInbound", K_INBOUND },
    { "AllowOutboundLocalhost", K_LOCALHOST },
    { "ExemptNetwork", K_EXEMPT },
    { "OnionAddrRange", K_FAKE4 },
    { "FakeAddrRange", K_FAKE4 },
    { "FakeAddrRange6", K_FAKE6 },
    { "LogLevel", K_LOG_LEVEL },
    { "LogFile", K_LOG_FILE },
    { "ExemptExecutable", K_EXEMPT_EXE },
    { "ResolveThroughTor", K_RESOLVE_TOR },
    { "HideIdentity", K_HIDE_ID },
    { "ControlPort", K_CTL_PORT },
    { "ControlSocket", K_CTL_SOCKET },
    { "CookieAuthFile", K_CTL_COOKIE },
    { "ControlPassword", K_CTL_PASSWORD },
    { "PassHalfClose", K_PASS_HALF_CLOSE },
    { "OptimisticData", K_OPTIMISTIC },
};

static torify_err add_exempt(struct torify_config *c, const char *text, const char *where,
                             char *err, size_t err_len)
{
    if (c->n_exempt >= TORIFY_EXEMPT_MAX)
        return fail(err, err_len, "%s: too many ExemptNetwork entries (at most %d)", where, TORIFY_EXEMPT_MAX);
    if (torify_cidr_parse(text, &c->exempt[c->n_exempt]) != 0)
        return fail(err, err_len, "%s: ExemptNetwork '%s' is not an address or CIDR network", where, text);
    c->n_exempt++;
    return TORIFY_OK;
}

static torify_err parse_log_level(const char *v, enum torify_log_level *out)
{
    if (torify_log_level_parse(v, out) == 0)
        return TORIFY_OK;
    /* torsocks' numeric levels: 1 error ... 5 debug (2 = warn, here error). */
    static const enum torify_log_level numeric[] = {
        TORIFY_LOG_QUIET, TORIFY_LOG_ERROR, TORIFY_LOG_ERROR, TORIFY_LOG_NOTICE, TORIFY_LOG_INFO, TORIFY_LOG_DEBUG,
    };
    if (v[0] >= '0' && v[0] <= '5' && v[1] == '\0') {
        *out = numeric[v[0] - '0'];
        return TORIFY_OK;
    }
    return TORIFY_E_REFUSE_CONFIG;
}

/* ControlPort: "PORT", "ADDR:PORT" or "[V6]:PORT", the address numeric
 * (a name would be resolved outside Tor), 127.0.0.1 when only a port. */
static torify_err set_control_port(struct torify_config *c, const char *key, const char *v, const char *where,
                                   char *err, size_t err_len)
{
    char addr[64];
    const char *port = v, *colon = strrchr(v, ':');
    struct in6_addr tmp;
    size_t n;

    copy_str(addr, sizeof addr, "127.0.0.1");
    if (colon != NULL) {
        const char *a = v;
        n = (size_t)(colon - v);
        if (v[0] == '[' && n >= 2 && v[n - 1] == ']') {
            a = v + 1;
            n -= 2;
        }
        if (n == 0 || n >= sizeof addr)
            return fail(err, err_len, "%s: %s '%s' must be PORT or ADDRESS:PORT", where, key, v);
        memcpy(addr, a, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET, addr, &tmp) != 1 && inet_pton(AF_INET6, addr, &tmp) != 1)
            return fail(err, err_len, "%s: %s '%s' must have a numeric IPv4/IPv6 address (names would be resolved locally)",
                        where, key, v);
        port = colon + 1;
    }
    if (torify_port_parse(port, &c->ctl_port) != TORIFY_OK)
        return fail(err, err_len, "%s: %s '%s' has no port number 1-65535", where, key, v);
    copy_str(c->ctl_address, sizeof c->ctl_address, addr);
    return TORIFY_OK;
}

static torify_err set_key(struct torify_config *c, enum key_id id, const char *key, const char *v,
                          const char *where, char *err, size_t err_len)
{
    bool b;
    switch (id) {
    case K_TOR_ADDRESS: {
        struct in6_addr tmp;
        if (strcasecmp(v, "localhost") != 0 && inet_pton(AF_INET, v, &tmp) != 1 && inet_pton(AF_INET6, v, &tmp) != 1)
            return fail(err, err_len, "%s: %s '%s' must be a numeric IPv4/IPv6 address (names would be resolved locally)",
                        where, key, v);
        if (!copy_str(c->tor_address, sizeof c->tor_address, v))
            return fail(err, err_len, "%s: %s too long", where, key);
        return TORIFY_OK;
    }
    case K_TOR_PORT:
        if (torify_port_parse(v, &c->tor_port) != TORIFY_OK)
            return fail(err, err_len, "%s: %s '%s' is not a port number 1-65535", where, key, v);
        return TORIFY_OK;
    case K_TOR_UNIX:
        if (v[0] != '/')
            return fail(err, err_len, "%s: %s '%s' must be an absolute path", where, key, v);
        if (!copy_str(c->tor_unix, sizeof c->tor_unix, v))
            return fail(err, err_len, "%s: %s path longer than %zu bytes", where, key, sizeof c->tor_unix - 1);
        return TORIFY_OK;
    case K_PROTOCOL:
        if (strcasecmp(v, "socks5") == 0 || strcasecmp(v, "socks5h") == 0)
            c->proto = TORIFY_SOCKS5;
        else if (strcasecmp(v, "socks4a") == 0)
            c->proto = TORIFY_SOCKS4A;
        else
            return fail(err, err_len, "%s: %s '%s' must be socks5 or socks4a", where, key, v);
        return TORIFY_OK;
    case K_USER:
    case K_PASS: {
        size_t n = strlen(v);
        if (n == 0 || n > 255)
            return fail(err, err_len, "%s: %s must be 1-255 bytes", where, key);
        if (id == K_USER) {
            memcpy(c->user, v, n + 1);
            c->has_user = true;
        } else {
            memcpy(c->pass, v, n + 1);
            c->has_pass = true;
        }
        return TORIFY_OK;
    }
    case K_ISOLATE:
    case K_INBOUND:
    case K_LOCALHOST:
    case K_RESOLVE_TOR:
    case K_HIDE_ID:
    case K_PASS_HALF_CLOSE:
        /* torsocks' AllowOutboundLocalhost 2 also allows UDP to localhost;
         * torify never carries UDP, so 2 means what 1 means here. */
        if (id == K_LOCALHOST && strcmp(v, "2") == 0)
            v = "1";
        if (torify_parse_bool(v, &b) != 0)
            return fail(err, err_len, "%s: %s '%s' must be 0 or 1", where, key, v);
        if (id == K_ISOLATE) c->isolate_pid = b;
        else if (id == K_INBOUND) c->allow_inbound = b;
        else if (id == K_RESOLVE_TOR) c->resolve_through_tor = b;
        else if (id == K_HIDE_ID) c->hide_identity = b;
        else if (id == K_PASS_HALF_CLOSE) c->pass_half_close = b;
        else c->allow_localhost = b;
        return TORIFY_OK;
    case K_OPTIMISTIC:
        if (strcasecmp(v, "auto") == 0)
            c->optimistic = TORIFY_OPT_AUTO;
        else if (strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0)
            c->optimistic = TORIFY_OPT_ON;
        else if (strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0)
            c->optimistic = TORIFY_OPT_OFF;
        else
            return fail(err, err_len, "%s: %s '%s' must be auto, on or off", where, key, v);
        return TORIFY_OK;
    case K_CTL_PORT:
        return set_control_port(c, key, v, where, err, err_len);
    case K_CTL_SOCKET:
    case K_CTL_COOKIE: {
        char *dst = id == K_CTL_SOCKET ? c->ctl_unix : c->ctl_cookie;
        size_t cap = id == K_CTL_SOCKET ? sizeof c->ctl_unix : sizeof c->ctl_cookie;
        if (v[0] != '/')
            return fail(err, err_len, "%s: %s '%s' must be an absolute path", where, key, v);
        if (!copy_str(dst, cap, v))
            return fail(err, err_len, "%s: %s path longer than %zu bytes", where, key, cap - 1);
        return TORIFY_OK;
    }
    case K_CTL_PASSWORD: {
        /* The value is a secret: the messages name the key, never it. */
        size_t n = strlen(v);
        if (n == 0 || n > 255 || strpbrk(v, "\r\n") != NULL)
            return fail(err, err_len, "%s: %s must be 1-255 bytes on one line", where, key);
        memcpy(c->ctl_password, v, n + 1);
        c->has_ctl_password = true;
        return TORIFY_OK;
    }
    case K_EXEMPT:
        return add_exempt(c, v, where, err, err_len);
    case K_EXEMPT_LIST: {
        /* The environment replaces the file's list. */
        c->n_exempt = 0;
        char buf[1024];
        if (!copy_str(buf, sizeof buf, v))
            return fail(err, err_len, "%s: list too long", where);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
            torify_err e = add_exempt(c, tok, where, err, err_len);
            if (e) return e;
        }
        return TORIFY_OK;
    }
    case K_FAKE4:
    case K_FAKE6: {
        struct torify_cidr net;
        int fam = id == K_FAKE4 ? AF_INET : AF_INET6;
        int maxp = fam == AF_INET ? 30 : 126;
        if (torify_cidr_parse(v, &net) != 0 || net.family != fam || net.prefix > maxp)
            return fail(err, err_len, "%s: %s '%s' must be an %s CIDR network of at least 4 addresses", where, key, v,
                        fam == AF_INET ? "IPv4" : "IPv6");
        if (id == K_FAKE4) c->fake4 = net; else c->fake6 = net;
        return TORIFY_OK;
    }
    case K_LOG_LEVEL:
        if (parse_log_level(v, &c->log_level) != TORIFY_OK)
            return fail(err, err_len, "%s: %s '%s' must be quiet, error, notice, info or debug", where, key, v);
        c->log_level_set = true;
        return TORIFY_OK;
    case K_LOG_FILE:
        if (!copy_str(c->log_file, sizeof c->log_file, v))
            return fail(err, err_len, "%s: %s path too long", where, key);
        return TORIFY_OK;
    case K_EXEMPT_EXE:
        /* Compared with /proc/self/exe, which is always absolute. */
        if (v[0] != '/')
            return fail(err, err_len, "%s: %s '%s' must be an absolute path", where, key, v);
        if (c->n_exempt_exe >= TORIFY_EXEMPT_EXE_MAX)
            return fail(err, err_len, "%s: too many %s entries (at most %d)", where, key, TORIFY_EXEMPT_EXE_MAX);
        if (!copy_str(c->exempt_exe[c->n_exempt_exe], sizeof c->exempt_exe[0], v))
            return fail(err, err_len, "%s: %s path longer than %d bytes", where, key, TORIFY_EXE_PATH_MAX - 1);
        c->n_exempt_exe++;
        return TORIFY_OK;
    }
    return fail(err, err_len, "%s: internal: unhandled key", where);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

torify_err torify_config_parse(struct torify_config *c, const char *text, size_t len,
                               const char *fname, char *err, size_t err_len)
{
    size_t pos = 0;
    unsigned lineno = 0;
    if (!fname)
        fname = "(config)";
    while (pos < len) {
        lineno++;
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        char line[1024];
        char where[sizeof c->source + 32];
        snprintf(where, sizeof where, "%s:%u", fname, lineno);
        if (end - pos >= sizeof line)
            return fail(err, err_len, "%s: line too long (at most %zu bytes)", where, sizeof line - 1);
        size_t line_len = end - pos;
        memcpy(line, text + pos, line_len);
        line[line_len] = '\0';
        pos = end + 1;
        if (strlen(line) != line_len)
            return fail(err, err_len, "%s: contains a NUL byte", where);
        /* A comment starts at '#' at the line start or after white space. */
        for (char *h = line; (h = strchr(h, '#')) != NULL; h++) {
            if (h == line || h[-1] == ' ' || h[-1] == '\t') {
                *h = '\0';
                break;
            }
        }
        char *s = trim(line);
        if (*s == '\0')
            continue;
        char *sp = s;
        while (*sp && *sp != ' ' && *sp != '\t' && *sp != '=')
            sp++;
        char *value = sp;
        if (*sp) {
            *sp = '\0';
            value = sp + 1;
        }
        value = trim(value);
        if (*value == '=') /* accept "Key = value" too */
            value = trim(value + 1);
        size_t k;
        for (k = 0; k < sizeof file_keys / sizeof file_keys[0]; k++)
            if (strcasecmp(s, file_keys[k].name) == 0)
                break;
        if (k == sizeof file_keys / sizeof file_keys[0])
            return fail(err, err_len, "%s: unknown key '%s'", where, s);
        if (*value == '\0')
            return fail(err, err_len, "%s: %s needs a value", where, file_keys[k].name);
        torify_err e = set_key(c, file_keys[k].id, file_keys[k].name, value, where, err, err_len);
        if (e)
            return e;
    }
    return TORIFY_OK;
}

/* Read all of fd into buf (cap bytes at most; one more means too big). */
static torify_err read_file(int fd, char *buf, size_t cap, size_t *len, const char *path, char *err, size_t err_len)
{
    *len = 0;
    for (;;) {
        ssize_t n = torify_sys_read(fd, buf + *len, cap + 1 - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        if (n == 0)
            break;
        *len += (size_t)n;
        if (*len == cap + 1)
            return fail(err, err_len, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
    }
    if (memchr(buf, '\0', *len))
        return fail(err, err_len, "%s: contains a NUL byte (not a text file)", path);
    return TORIFY_OK;
}

torify_err torify_config_load_file(struct torify_config *c, const char *path, bool missing_ok,
                                   char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (missing_ok && errno == ENOENT)
            return TORIFY_OK;
        return fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    }
    /* The file's text, in memory of this call's own: not the stack (64 KiB
     * could overflow a small thread stack of the program we are loaded
     * into), not malloc (the shim may load the configuration where a
     * program's malloc must not be entered), not a static buffer (callers
     * and threads would share it). */
    size_t map_len = CONFIG_FILE_MAX + 1;
    char *buf = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        int e = errno;
        torify_sys_close(fd);
        return fail(err, err_len, "%s: cannot read: %s", path, strerror(e));
    }
    size_t len;
    torify_err e = read_file(fd, buf, CONFIG_FILE_MAX, &len, path, err, err_len);
    torify_sys_close(fd);
    if (e == TORIFY_OK) {
        copy_str(c->source, sizeof c->source, path);
        e = torify_config_parse(c, buf, len, path, err, err_len);
    }
    munmap(buf, map_len);
    return e;
}

static const struct { const char *var; enum key_id id; const char *key; } env_keys[] = {
    /* torify's name first: when both are set, TORIFY_* wins (applied last). */
    { "TORSOCKS_TOR_ADDRESS", K_TOR_ADDRESS, "TorAddress" },
    { "TORIFY_TOR_ADDRESS", K_TOR_ADDRESS, "TorAddress" },
    { "TORSOCKS_TOR_PORT", K_TOR_PORT, "TorPort" },
    { "TORIFY_TOR_PORT", K_TOR_PORT, "TorPort" },
    { "TORIFY_TOR_UNIX", K_TOR_UNIX, "TorUnixSocket" },
    { "TORIFY_PROTOCOL", K_PROTOCOL, "Protocol" },
    { "TORSOCKS_USERNAME", K_USER, "SOCKS5Username" },
    { "TORIFY_USERNAME", K_USER, "SOCKS5Username" },
    { "TORSOCKS_PASSWORD", K_PASS, "SOCKS5Password" },
    { "TORIFY_PASSWORD", K_PASS, "SOCKS5Password" },
    { "TORSOCKS_ISOLATE_PID", K_ISOLATE, "IsolatePID" },
    { "TORIFY_ISOLATE", K_ISOLATE, "IsolatePID" },
    { "TORSOCKS_ALLOW_INBOUND", K_INBOUND, "AllowInbound" },
    { "TORIFY_ALLOW_INBOUND", K_INBOUND, "AllowInbound" },
    { "TORSOCKS_ALLOW_OUTBOUND_LOCALHOST", K_LOCALHOST, "AllowOutboundLocalhost" },
    { "TORIFY_ALLOW_LOCALHOST", K_LOCALHOST, "AllowOutboundLocalhost" },
    { "TORIFY_EXEMPT", K_EXEMPT_LIST, "ExemptNetwork" },
    { "TORIFY_FAKE_RANGE", K_FAKE4, "FakeAddrRange" },
    { "TORIFY_FAKE_RANGE6", K_FAKE6, "FakeAddrRange6" },
    { "TORSOCKS_LOG_LEVEL", K_LOG_LEVEL, "LogLevel" },
    { "TORIFY_LOG_LEVEL", K_LOG_LEVEL, "LogLevel" },
    { "TORSOCKS_LOG_FILE_PATH", K_LOG_FILE, "LogFile" },
    { "TORIFY_LOG_FILE", K_LOG_FILE, "LogFile" },
    { "TORIFY_RESOLVE_THROUGH_TOR", K_RESOLVE_TOR, "ResolveThroughTor" },
    { "TORIFY_HIDE_IDENTITY", K_HIDE_ID, "HideIdentity" },
    { "TORIFY_CONTROL_PORT", K_CTL_PORT, "ControlPort" },
    { "TORIFY_CONTROL_SOCKET", K_CTL_SOCKET, "ControlSocket" },
    { "TORIFY_COOKIE_AUTH_FILE", K_CTL_COOKIE, "CookieAuthFile" },
    { "TORIFY_CONTROL_PASSWORD", K_CTL_PASSWORD, "ControlPassword" },
    { "TORIFY_PASS_HALF_CLOSE", K_PASS_HALF_CLOSE, "PassHalfClose" },
    { "TORIFY_OPTIMISTIC_DATA", K_OPTIMISTIC, "OptimisticData" },
};

/* Was this process started by the launcher (TORIFY_LAUNCHED=1)? */
static bool launched_by(torify_getenv_fn get)
{
    const char *v = get("TORIFY_LAUNCHED");
    return v && strcmp(v, "1") == 0;
}

torify_err torify_config_apply_env(struct torify_config *c, torify_getenv_fn get, char *err, size_t err_len)
{
    if (!get)
        return TORIFY_OK;
    for (size_t i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++) {
        const char *v = get(env_keys[i].var);
        if (!v)
            continue;
        char where[80];
        snprintf(where, sizeof where, "environment %s", env_keys[i].var);
        /* An empty exempt list clears the file's list; other empties are errors. */
        if (*v == '\0' && env_keys[i].id != K_EXEMPT_LIST)
            return fail(err, err_len, "%s: empty value", where);
        torify_err e = set_key(c, env_keys[i].id, env_keys[i].key, v, where, err, err_len);
        if (e)
            return e;
    }
    c->launched = launched_by(get);
    return TORIFY_OK;
}

enum torify_log_level torify_config_log_level(const struct torify_config *c, bool launched)
{
    if (c->log_level_set)
        return c->log_level;
    return launched ? TORIFY_LOG_NOTICE : TORIFY_LOG_QUIET;
}

bool torify_sysconf_is_etc(void)
{
    return strcmp(TORIFY_SYSCONF_FILE, TORIFY_ETC_CONF_FILE) == 0;
}

torify_err torify_config_load(struct torify_config *c, torify_getenv_fn get, bool secure,
                              char *err, size_t err_len)
{
    torify_config_defaults(c);
    if (err && err_len)
        err[0] = '\0';
    const char *named = NULL;
    if (!secure && get) {
        /* Known even when the file below is broken: a launched program
         * that fails closed says why at the launched programs' level. */
        c->launched = launched_by(get);
        named = get("TORIFY_CONF_FILE");
        if (!named || !*named)
            named = get("TORSOCKS_CONF_FILE");
        if (named && !*named)
            named = NULL;
    }
    torify_err e;
    if (named) {
        /* A file the user named must exist: silently using defaults could
         * send traffic somewhere the user did not intend. */
        e = torify_config_load_file(c, named, false, err, err_len);
    } else {
        e = torify_config_load_file(c, TORIFY_ETC_CONF_FILE, true, err, err_len);
        if (e == TORIFY_OK && c->source[0] == '\0' && !torify_sysconf_is_etc())
            e = torify_config_load_file(c, TORIFY_SYSCONF_FILE, true, err, err_len);
    }
    if (e)
        return e;
    if (!secure) {
        e = torify_config_apply_env(c, get, err, err_len);
        if (e)
            return e;
    }
    return torify_config_finish(c, err, err_len);
}

/* Variables torify reads or sets besides the settings above: the config
 * file's name, and what the launcher hands its children (env.c, the guard's
 * marker in guard/guard.h, the fake map's fd in core/fakemap_env.h). */
static const char *const env_other[] = {
    "TORIFY_CONF_FILE", "TORSOCKS_CONF_FILE", "TORIFY_LAUNCHED", "TORIFY_FAKEMAP_FD", "TORIFY_FAKEMAP_PID",
    "TORIFY_GUARDED", "TORIFY_LIB",
};

#define ENV_N_KEYS (sizeof env_keys / sizeof env_keys[0])
#define ENV_N_OTHER (sizeof env_other / sizeof env_other[0])

static const char *env_known_at(size_t i)
{
    return i < ENV_N_KEYS ? env_keys[i].var : env_other[i - ENV_N_KEYS];
}

/* "TORIFY_A_B=..." -> the length of the name part. */
static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static size_t prefix_len(const char *name, size_t n)
{
    if (n >= 7 && strncmp(name, "TORIFY_", 7) == 0)
        return 7;
    if (n >= 9 && strncmp(name, "TORSOCKS_", 9) == 0)
        return 9;
    return 0;
}

/* Levenshtein distance of two short strings (names: bounded at 64). */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t row[65];
    if (na > 64) na = 64;
    if (nb > 64) nb = 64;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* How many '_'-separated words of a also occur in b. */
static size_t shared_words(const char *a, size_t na, const char *b, size_t nb)
{
    size_t count = 0;
    for (size_t i = 0; i < na;) {
        size_t w = 0;
        while (i + w < na && a[i + w] != '_')
            w++;
        for (size_t j = 0; w > 0 && j < nb;) {
            size_t v = 0;
            while (j + v < nb && b[j + v] != '_')
                v++;
            if (v == w && memcmp(a + i, b + j, w) == 0) {
                count++;
                break;
            }
            j += v + 1;
        }
        i += w + 1;
    }
    return count;
}

bool torify_config_env_known(const char *entry)
{
    size_t n = name_len(entry);
    for (size_t i = 0; i < ENV_N_KEYS + ENV_N_OTHER; i++) {
        const char *k = env_known_at(i);
        if (strlen(k) == n && strncmp(entry, k, n) == 0)
            return true;
    }
    return false;
}

const char *torify_config_env_unknown(const char *entry)
{
    size_t n = name_len(entry);
    size_t p = prefix_len(entry, n);
    if (p == 0 || torify_config_env_known(entry))
        return NULL;
    const char *best = NULL;
    size_t best_shared = 0, best_dist = (size_t)-1;
    bool best_same = false;
    /* Same prefix first (TORIFY_X suggests TORIFY_Y, not TORSOCKS_Y), then
     * most words in common, then the fewest edits of the part after it. */
    for (size_t i = 0; i < ENV_N_KEYS + ENV_N_OTHER; i++) {
        const char *k = env_known_at(i);
        size_t kn = strlen(k), kp = prefix_len(k, kn);
        bool same = kp == p && strncmp(k, entry, p) == 0;
        size_t sh = shared_words(entry + p, n - p, k + kp, kn - kp);
        size_t d = edit_distance(entry + p, n - p, k + kp, kn - kp);
        if (sh == 0 && d * 3 > n - p)
            continue; /* nothing alike: no suggestion is better than a wrong one */
        bool better = !best || (same && !best_same) ||
                      (same == best_same && (sh > best_shared || (sh == best_shared && d < best_dist)));
        if (better) {
            best = k;
            best_same = same;
            best_shared = sh;
            best_dist = d;
        }
    }
    return best ? best : "";
}
