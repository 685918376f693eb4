/*
 * launcher/launcher.h — the parts of build/torify and how they talk.
 *
 * main.c reads the command line (options.c), turns it into the environment
 * libtorify.so reads (env.c), validates the configuration with the core's
 * loader, finds the program (program.c) and the library (preload.c), and
 * runs the program under the kernel guard (src/guard/) when the kernel
 * allows it, else execs it with LD_PRELOAD only.  check.c is `torify --check`, shell.c prints `on`/`off`/`show`.
 */
#ifndef TORIFY_LAUNCHER_H
#define TORIFY_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <torify/control.h>
#include <torify/socks.h>
#include "core/config.h"

/* Exit statuses of the launcher itself (the program's own status passes
 * through exec unchanged).  Distinct so scripts can tell causes apart;
 * documented in torify(1). */
enum {
    EXIT_CHECK_UNREACHABLE = 1,  /* --check: nothing answers at Tor's address */
    EXIT_CHECK_NOT_SOCKS = 2,    /* --check: something answers, not SOCKS */
    EXIT_CHECK_NOT_TOR = 3,      /* --check: SOCKS, but not Tor's extensions */
    EXIT_CHECK_NOT_READY = 4,    /* --check: the control port says Tor cannot build circuits yet */
    EXIT_CONTROL_AUTH = 5,       /* control port: authentication failed (a configured one) */
    EXIT_CONTROL_UNREACHABLE = 6,/* --new-identity: no control port answers */
    EXIT_NEWNYM_DELAYED = 7,     /* --new-identity: Tor rate-limited it (comes later) */
    EXIT_USAGE = 64,             /* bad command line */
    EXIT_NO_LIBRARY = 69,        /* libtorify.so not found or not loadable */
    EXIT_OS = 71,                /* setenv/exec failed for another reason */
    EXIT_UNGUARDABLE = 77,       /* program would ignore LD_PRELOAD (static, set-uid) */
    EXIT_CONFIG = 78,            /* torify.conf or environment broken */
    EXIT_CANNOT_EXEC = 126,      /* program found but not executable */
    EXIT_NOT_FOUND = 127,        /* program not found */
};

enum launcher_action {
    ACTION_RUN = 0,   /* torify [options] program args... */
    ACTION_SHELL,     /* --shell: a torified interactive shell */
    ACTION_ON,        /* print shell code that torifies the current shell */
    ACTION_OFF,       /* print shell code that undoes `on` */
    ACTION_SHOW,      /* describe the effective set-up */
    ACTION_CHECK,     /* --check: is Tor there and really Tor? */
    ACTION_NEW_IDENTITY, /* --new-identity: SIGNAL NEWNYM */
    ACTION_WATCH,     /* --watch: torified programs' streams, from STREAM events */
    ACTION_STREAMS,   /* --streams: the same, the table once */
    ACTION_SYSTEM,    /* --system enable|disable|status: the preload config */
    ACTION_HELP,
    ACTION_VERSION,
};

struct launcher_opts {
    enum launcher_action action;
    const char *address;   /* -a: IP address, or an absolute unix socket path */
    const char *port;      /* -P */
    const char *user;      /* -u */
    const char *pass;      /* -p */
    const char *config;    /* -c */
    const char *log_level; /* -d / -q: "debug" / "quiet", last one wins */
    bool isolate;          /* -i */
    bool resolve_through_tor; /* --resolve-through-tor */
    bool hide_identity;       /* --hide-identity */
    const char *optimistic;   /* --optimistic "on", --no-optimistic "off", NULL: the config's */
    const char *control;      /* --control-port: PORT, ADDR:PORT or a socket path */
    const char *cookie_file;  /* --cookie-file */
    bool no_guard;         /* --no-guard: LD_PRELOAD only, no seccomp supervisor */
    const char *system_cmd;   /* --system: "enable", "disable" or "status" */
    const char *preload_file; /* --preload-file (default /etc/ld.so.preload) */
    const char *library;      /* --library (default <prefix>/lib/torify/libtorify.so) */
    char **argv;           /* program and its arguments (ACTION_RUN) */
    int argc;
};

/* options.c: parse argv.  Returns 0, or EXIT_USAGE after printing one line. */
int options_parse(int argc, char **argv, struct launcher_opts *o);
void options_usage(FILE *out);

/* env.c: put the options into the environment the shim reads (TORIFY_*,
 * TORIFY_LAUNCHED=1, TORIFY_CONF_FILE).  Returns 0 or an exit status. */
int env_apply(const struct launcher_opts *o);
/* Names of every variable env_apply may set (NULL-terminated), for `off`. */
extern const char *const env_launcher_vars[];
/* LD_PRELOAD with lib first and any other copy of a libtorify.so removed
 * (lib NULL: just removed).  Writes into buf; returns false if it does not fit. */
bool env_preload_value(const char *current, const char *lib, char *buf, size_t len);

/* Load the configuration the child will see, through the core's loader.
 * Prints "torify: <file:line: message>" and returns EXIT_CONFIG on error. */
int config_load_for_child(struct torify_config *cfg);

/* preload.c: find libtorify.so (TORIFY_LIB, next to the executable, then
 * <exe dir>/../lib/torify/).  Returns 0 with the absolute path in buf, or
 * EXIT_NO_LIBRARY after printing why.  how (may be NULL) says where it was found. */
int preload_find(char *buf, size_t len, const char **how);
/* Is path something the dynamic loader will really load into the child?
 * Returns 0 or EXIT_NO_LIBRARY after printing why. */
int preload_check(const char *path);

/* program.c: find argv0 like execvp would (PATH) into buf.  Returns 0,
 * EXIT_NOT_FOUND or EXIT_CANNOT_EXEC after printing why. */
int program_find(const char *argv0, char *buf, size_t len);
/* Would the program ignore LD_PRELOAD (statically linked, Go, set-uid/gid,
 * file capabilities)?  Returns 0 or EXIT_UNGUARDABLE after printing why. */
int program_check_preloadable(const char *path);
/* elf_go.c: does the open file fd carry a Go build mark (a .go.buildinfo
 * section or the Go build-ID note)?  False for anything else, also for a
 * malformed or truncated ELF. */
bool elf_is_go(int fd);

/* check.c: `torify --check`.  Returns 0 only when Tor answered like Tor. */
int check_tor(const struct torify_config *cfg);
/* Is something listening at Tor's address?  1 yes, 0 no, -1 unknown (not a
 * local address).  Asks the kernel's socket table (sockdiag.c, /proc/net
 * without it): no packet is sent. */
int check_tor_listening(const struct torify_config *cfg);
/* Is a TCP socket listening at sa (an IPv4 address also by a dual-stack
 * IPv6 wildcard)?  1 yes (its inode into *inode if not NULL), 0 no, -1
 * cannot tell (no /proc/net, not an IP address). */
int tcp_listening_at(const struct sockaddr *sa, unsigned long *inode);

/* sockdiag.c: a TCP socket in LISTEN state on port at addr (network order,
 * alen 4 for AF_INET, 16 for AF_INET6) or the family's wildcard, asked over
 * NETLINK_SOCK_DIAG.  1 yes (its inode into *inode if not NULL), 0 no, -1
 * cannot tell (netlink refused: the caller reads /proc/net). */
int sockdiag_tcp_listening(int family, const uint8_t *addr, size_t alen, uint16_t port, unsigned long *inode);

/* shell.c: `on`, `off`, `show`. */
int shell_on(const char *lib);
int shell_off(void);
int shell_show(const struct torify_config *cfg, const char *lib, const char *lib_how);
/* The Tor address as text: "127.0.0.1:9050", "[::1]:9050" or "unix:/path". */
const char *tor_address_text(const struct torify_config *cfg, char *buf, size_t len);

/* system.c: `torify --system enable|disable|status` (README, "System-wide
 * mode").  Returns the exit status. */
#define SYSTEM_PRELOAD_FILE "/etc/ld.so.preload"
/* make install's $(PKGLIBDIR): <prefix>/lib/torify by default, the
 * multiarch /usr/lib/<triplet>/torify in the Debian package (debian/rules). */
#ifndef TORIFY_PKGLIBDIR
#define TORIFY_PKGLIBDIR TORIFY_PREFIX "/lib/torify"
#endif
#define SYSTEM_LIBRARY TORIFY_PKGLIBDIR "/libtorify.so"
int system_command(const struct launcher_opts *o);
/* listener.c: the executable (as /proc/PID/exe names it) of the process
 * listening at Tor's TCP address; false when none is found or unknowable. */
bool tor_listener_exe(const struct torify_config *cfg, char *exe, size_t len);
/* The process holding socket inode (its pid and executable), preferring
 * one whose executable's name is not avoid. */
bool proc_socket_owner(unsigned long inode, const char *avoid, long *pid, char *exe, size_t len);
/* watch.c: --watch, the streams of torified programs as Tor reports them. */
int watch_streams(const struct torify_config *cfg);
/* streams.c: --streams, the table once (Tor's stream-status tied to the
 * programs by their published streams tables, socktab.c). */
int streams_table(const struct torify_config *cfg);
/* The table's header and one row (--streams, and --watch on a terminal). */
void streams_print_header(FILE *f, bool isolation);
/* isolation: the SOCKS username column's text, NULL for no such column. */
void streams_print_row(FILE *f, unsigned long id, const char *state, const char *program, const char *dest,
                       unsigned long circ, const char *age, const char *isolation);

/* socktab.c: the torified sockets to Tor's SOCKS listeners and what their
 * programs asked for (the streams tables of core/streamtab.h). */
struct tcp_end { int family; uint8_t addr[16]; uint16_t port; };   /* addr in network order */
struct sock_rec {
    long pid;
    char exe[256];
    enum torify_target_kind kind;  /* TORIFY_TARGET_HOST, _IPV4, _IPV6 */
    char host[256];                /* the name, or the address as text */
    uint8_t addr[16];
    uint16_t port;
    char asked[300];               /* "host:port" as the program asked */
    int64_t started_ns;            /* CLOCK_MONOTONIC */
};
/* Records into out (at most cap); *unpublished: sockets to Tor for which
 * no record was found (another user's, or not made by libtorify.so). */
size_t socktab_collect(const struct tcp_end *ls, size_t n_ls, struct sock_rec *out, size_t cap, size_t *unpublished);

/* streams_match.c: which socket each stream of Tor's stream-status is.  A
 * stream's target is what the program asked until Tor's exit resolved a
 * name (REMAP): then the address it resolved to. */
#define STREAM_PIDS_MAX 4
struct stream_row {
    unsigned long id, circ;
    char status[32];
    char target[300];              /* Tor's */
    long rec;                      /* the record (index) it is, or -1 */
    long pid;                      /* its process, or 0: not decided */
    char asked[300];               /* as the program asked, or "": not decided */
    size_t n_pids;                 /* distinct processes of the candidates (0: none) */
    long pids[STREAM_PIDS_MAX];
};
/* Could this stream be this record's?  Port equal, and the same name or
 * address, or a name (not .onion) that Tor may have replaced by an address. */
bool stream_may_be(const char *target, const struct sock_rec *r);
void streams_match(struct stream_row *s, size_t ns, const struct sock_rec *r, size_t nr);

/* circs.c: circuits from circuit-status, CIRC and CIRC_MINOR ("ID STATUS
 * [PATH] [KEY=VALUE...]" without the event's name); path as nicknames. */
#define CIRC_PATH_TEXT 256
void circs_line(const char *t);
/* Path ("-" unknown) and purpose ("" unknown); false when not known. */
bool circs_get(unsigned long id, const char **path, const char **purpose);
/* GETINFO circuit-status into the table. */
torify_err circs_load(struct torify_ctl *c);
/* fn for every line of the data lines of r (a GETINFO's "250+key="). */
void ctl_each_data_line(const struct torify_ctl_reply *r, void (*fn)(const char *line, void *arg), void *arg);
/* One line for `show`: "enabled (/etc/ld.so.preload lists PATH)" or "disabled". */
const char *system_state_text(char *buf, size_t len);

/* preload_file.c: the text of a preload file, edited purely (text in,
 * text out; glibc's format: entries separated by white space or ':', '#'
 * to the end of the line is a comment). */
#define PRELOAD_ENTRY_MAX 4096
/* Is this entry a torify library (its last path component libtorify.so)? */
bool preload_entry_is_torify(const char *entry, size_t n);
/* Is path where AppArmor lets every confined program map libraries from
 * (/usr/lib, /lib and their 32/64 forms)? */
bool preload_path_in_system_libs(const char *path);
/* Does text list path as an entry? */
bool preload_text_lists(const char *text, size_t len, const char *path);
/* The torify entries of text (at most max copied); returns how many there are. */
size_t preload_text_torify_entries(const char *text, size_t len, char out[][PRELOAD_ENTRY_MAX], size_t max);
/* text with path listed once: other torify entries removed, path kept where
 * it is or appended as a line of its own.  Writes out (NUL-terminated),
 * returns its length, or -1 when out is too small; *changed says whether
 * it differs from text. */
long preload_text_add(const char *text, size_t len, const char *path, char *out, size_t out_len, bool *changed);
/* text without any torify entry, nor drop (NULL: none), except keep (NULL:
 * none kept).  Lines left without entries or comment disappear; other
 * lines are kept byte for byte. */
long preload_text_remove(const char *text, size_t len, const char *keep, const char *drop, char *out,
                         size_t out_len, bool *changed);

/* control.c: the connection to Tor's control port (ControlSocket,
 * ControlPort, else Debian's places), authenticated. */
struct control_info {
    bool configured;          /* a Control* key or option was given */
    bool defaults;            /* Debian's places were tried */
    bool reachable, authenticated;
    char where[300];          /* "unix:/run/tor/control", "127.0.0.1:9051" */
    char cookie[4096];        /* the cookie file used or tried ("" none) */
    unsigned method;          /* TORIFY_CTL_AUTH_* used */
    struct torify_ctl_protocolinfo pi;
    torify_err err;
    int err_errno;
};
bool control_configured(const struct torify_config *cfg);
/* NULL with info saying why (nothing answers, authentication). */
struct torify_ctl *control_connect(const struct torify_config *cfg, struct control_info *info);
const char *control_method_name(unsigned method);
const char *control_failure_text(const struct control_info *info, char *buf, size_t len);
/* check_control.c: --check's control-port facts; returns the exit status
 * given the SOCKS check's (socks_rc). */
int check_control(const struct torify_config *cfg, int socks_rc);
/* newnym.c: --new-identity. */
int new_identity(const struct torify_config *cfg);

/* identity.c: HideIdentity's TZ and locale variables, set for the program. */
int identity_env_apply(void);

#endif
