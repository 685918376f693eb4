/*
 * core/config.h — torify.conf and the environment (docs/CONTRACTS.md).
 *
 * The parser is pure: text in, struct out, errors as "file:line: message".
 * The environment comes through an injectable getenv function and the
 * AT_SECURE flag is a parameter, so tests drive every path.
 */
#ifndef TORIFY_CORE_CONFIG_H
#define TORIFY_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <torify/error.h>
#include <torify/socks.h>
#include "core/log.h"

/* An IPv4 or IPv6 network: family AF_INET/AF_INET6, addr in network order. */
struct torify_cidr {
    int family;
    uint8_t addr[16];
    uint8_t prefix;
};

#define TORIFY_EXEMPT_MAX 32
#define TORIFY_EXEMPT_EXE_MAX 16
#define TORIFY_EXE_PATH_MAX 256
#define TORIFY_CONFIG_ERR_MAX 512

enum torify_optimistic { TORIFY_OPT_AUTO = 0, TORIFY_OPT_ON, TORIFY_OPT_OFF };
/* OptimisticData's default (docs/DESIGN.md, "Optimistic data", says why). */
#define TORIFY_OPT_DEFAULT TORIFY_OPT_OFF

struct torify_config {
    /* Where Tor listens: tor_addr is AF_INET/AF_INET6 from TorAddress/TorPort,
     * or AF_UNIX when TorUnixSocket is set (it wins). */
    char tor_address[64];
    uint16_t tor_port;
    char tor_unix[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct sockaddr_storage tor_addr;
    socklen_t tor_addr_len;

    enum torify_socks_proto proto;     /* TORIFY_SOCKS5 or TORIFY_SOCKS4A */
    bool has_user, has_pass;
    char user[256];
    char pass[256];
    bool isolate_pid;
    bool allow_inbound;
    bool allow_localhost;
    /* ResolveThroughTor: a program's own DNS queries (res_*, and the
     * guard's responder) get real addresses from Tor's RESOLVE and
     * RESOLVE_PTR instead of fake ones (.onion stays fake). */
    bool resolve_through_tor;
    /* HideIdentity: the program sees the host name "localhost", only the
     * loopback interface, UTC and the C.UTF-8 locale (docs/IDENTITY.md). */
    bool hide_identity;
    /* PassHalfClose: shutdown(SHUT_WR) on a stream through Tor goes to Tor
     * (which then ends the stream both ways) instead of being held
     * (shim/shutdown.c). */
    bool pass_half_close;
    /* OptimisticData: may a program's first bytes follow its SOCKS request
     * before Tor's reply (shim/opt.h)?  AUTO: only when the SOCKS server
     * answers as Tor does (the shim's probe, shim/opt_probe.c). */
    enum torify_optimistic optimistic;

    /* Tor's control port (launcher/control.c): ControlSocket wins over
     * ControlPort; neither set: Debian's places are tried.  ctl_port 0:
     * unset.  The password is a secret: never printed, not at debug. */
    char ctl_address[64];
    uint16_t ctl_port;
    char ctl_unix[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char ctl_cookie[256];
    bool has_ctl_password;
    char ctl_password[256];

    struct torify_cidr exempt[TORIFY_EXEMPT_MAX];
    size_t n_exempt;

    /* Executables that run untouched (pure pass-through): ExemptExecutable
     * lines, on top of the built-in torify_exempt_exe_builtin. */
    char exempt_exe[TORIFY_EXEMPT_EXE_MAX][TORIFY_EXE_PATH_MAX];
    size_t n_exempt_exe;

    struct torify_cidr fake4;          /* default 127.192.0.0/10 */
    struct torify_cidr fake6;          /* default 100::/64 */

    bool log_level_set;                /* LogLevel given explicitly */
    enum torify_log_level log_level;
    char log_file[256];                /* empty: stderr */
    bool launched;                     /* TORIFY_LAUNCHED=1 */

    char source[256];                  /* file that was read, empty if none */
};

typedef const char *(*torify_getenv_fn)(const char *name);

void torify_config_defaults(struct torify_config *c);

/* Parse a whole file's text.  fname is used in error messages only.  On
 * error returns TORIFY_E_REFUSE_CONFIG and writes "fname:line: message" to
 * err (if not NULL). */
torify_err torify_config_parse(struct torify_config *c, const char *text, size_t len,
                               const char *fname, char *err, size_t err_len);

/* Read and parse a file.  missing_ok: a file that does not exist is not an
 * error (the default search path); otherwise it is. */
torify_err torify_config_load_file(struct torify_config *c, const char *path, bool missing_ok,
                                   char *err, size_t err_len);

/* Apply TORIFY_* / TORSOCKS_* environment overrides through get. */
torify_err torify_config_apply_env(struct torify_config *c, torify_getenv_fn get,
                                   char *err, size_t err_len);

/* The system configuration files, in the order they are tried: /etc's
 * always, then the one of the install's sysconfdir (make install's
 * $(SYSCONFDIR): <prefix>/etc by default) when that is another file. */
#ifndef TORIFY_PREFIX
#define TORIFY_PREFIX "/usr/local"
#endif
#ifndef TORIFY_SYSCONFDIR
#define TORIFY_SYSCONFDIR TORIFY_PREFIX "/etc"
#endif
#define TORIFY_ETC_CONF_FILE "/etc/torify.conf"
#define TORIFY_SYSCONF_FILE TORIFY_SYSCONFDIR "/torify.conf"
/* true when the sysconfdir file is /etc's (a package's layout): one file. */
bool torify_sysconf_is_etc(void);

/* The whole procedure: defaults, the first config file of the search path,
 * then the environment unless secure (AT_SECURE: set-uid and the like, where
 * only the system file counts).  get may be NULL (no environment). */
torify_err torify_config_load(struct torify_config *c, torify_getenv_fn get, bool secure,
                              char *err, size_t err_len);

/* Recompute tor_addr from tor_unix / tor_address / tor_port. */
/* The log level a process runs at: LogLevel when given, else notice for a
 * program started by the launcher (and for the launcher and its guard
 * themselves: pass launched true), else quiet — a program that merely has
 * the library preloaded (system-wide mode) says nothing unasked. */
enum torify_log_level torify_config_log_level(const struct torify_config *c, bool launched);

torify_err torify_config_finish(struct torify_config *c, char *err, size_t err_len);

/* CIDR helpers.  Parse "a.b.c.d/n", "v6/n" or a bare address (host route).
 * Host bits below the prefix are cleared.  Return 0 or -1. */
int torify_cidr_parse(const char *text, struct torify_cidr *out);
bool torify_cidr_contains(const struct torify_cidr *net, int family, const uint8_t *addr);

/* Always exempt, whatever the file says: Debian's tor daemon.  A torified
 * Tor would send its own connections to its own SocksPort. */
extern const char *const torify_exempt_exe_builtin[];

/* Is exe (the real executable, as /proc/self/exe names it) exempt?  Exact
 * string match against the built-in list and, when c is not NULL, the
 * ExemptExecutable entries.  exe NULL or empty: not exempt. */
bool torify_config_exe_exempt(const struct torify_config *c, const char *exe);

/* Environment variables by name ("NAME" or a whole "NAME=value" entry).
 * known: one torify reads or sets (every TORIFY_ and TORSOCKS_ setting of
 * docs/CONTRACTS.md, TORIFY_CONF_FILE, and what the launcher hands its
 * children).  unknown: for a TORIFY_* / TORSOCKS_* name that is not known,
 * the nearest known one ("" when none is alike); NULL for a known name or
 * one of another prefix.  Pure: the caller decides whether to warn. */
bool torify_config_env_known(const char *entry);
const char *torify_config_env_unknown(const char *entry);

/* Booleans in config and environment: 1/0, yes/no, true/false, on/off. */
int torify_parse_bool(const char *text, bool *out);

#endif
