/*
 * core/policy.h — the decisions of libtorify.so, as pure functions of the
 * configuration and the call's arguments (no I/O), so they are unit-tested
 * without interposing anything.
 */
#ifndef TORIFY_CORE_POLICY_H
#define TORIFY_CORE_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <torify/error.h>
#include "core/config.h"

/* socket(domain, type, protocol): TORIFY_OK (pass) or a TORIFY_E_REFUSE_*. */
torify_err torify_policy_socket(int domain, int type, int protocol);

enum torify_connect_action {
    TORIFY_CONNECT_DIRECT = 1,  /* real connect: AF_UNIX, AF_UNSPEC, Tor itself, exempt, allowed loopback */
    TORIFY_CONNECT_FAKE,        /* fake address: SOCKS request with the mapped hostname */
    TORIFY_CONNECT_TOR_IP,      /* real IP: SOCKS request with the IP */
    TORIFY_CONNECT_REFUSE,      /* see the error */
};

/* An IPv4/IPv6 address of a sockaddr, IPv4-mapped IPv6 folded to IPv4. */
struct torify_ip {
    int family;                 /* AF_INET / AF_INET6, 0 if none */
    uint8_t addr[16];
    uint16_t port;              /* host order */
};
/* Returns 0 or -1 (not IP or too short). */
int torify_ip_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct torify_ip *out);

bool torify_ip_is_loopback(const struct torify_ip *ip);     /* 127/8, ::1 */
bool torify_ip_is_unspecified(const struct torify_ip *ip);  /* 0.0.0.0/8, :: */

/* connect(fd of type sock_type, sa).  *err is set for REFUSE. */
enum torify_connect_action torify_policy_connect(const struct torify_config *c, int sock_type,
                                                 const struct sockaddr *sa, socklen_t len,
                                                 torify_err *err);

/* listen on a socket bound to sa (from getsockname); accept uses the same. */
torify_err torify_policy_listen(const struct torify_config *c, const struct sockaddr *sa, socklen_t len);

/* sendto/sendmsg with a destination on a socket of this type. dest may be
 * NULL (no destination: always passes). */
torify_err torify_policy_send(int sock_type, int flags, const struct sockaddr *dest, socklen_t len);

enum torify_name_kind {
    TORIFY_NAME_NUMERIC = 1,    /* IPv4 (inet_aton forms) or IPv6 literal */
    TORIFY_NAME_LOCALHOST,      /* localhost, *.localhost, localhost.localdomain, ip6-localhost... */
    TORIFY_NAME_ONION,          /* *.onion */
    TORIFY_NAME_HOST,           /* any other name: becomes a fake address */
    TORIFY_NAME_INVALID,        /* empty, too long, control characters */
};
enum torify_name_kind torify_policy_name_kind(const char *name);
/* The same, knowing the machine's own name (gethostname; NULL or empty:
 * unknown): that name is LOCALHOST too, so a program that looks itself up
 * gets loopback, not a fake address for a name no exit can resolve. */
enum torify_name_kind torify_policy_name_kind_on(const char *name, const char *hostname);

/* Where the name of an address comes from in a reverse lookup, the one
 * rule for getnameinfo, gethostbyaddr and DNS PTR answers: a fake address
 * (fake: inside the fake ranges) gives the name in the map, loopback gives
 * "localhost", any other address is Tor's to answer (RESOLVE_PTR), never
 * local DNS.  IPv4-mapped IPv6 must already be folded (torify_ip does). */
enum torify_reverse_kind {
    TORIFY_REVERSE_FAKE = 1,
    TORIFY_REVERSE_LOCALHOST,
    TORIFY_REVERSE_TOR,
};
enum torify_reverse_kind torify_policy_reverse_kind(const struct torify_ip *ip, bool fake);

/* The SOCKS5 credentials for this process: explicit user/pass win; with
 * isolate_pid, "torify-<pid>-<start>" / "isolate" so Tor's IsolateSOCKSAuth
 * puts each process on its own circuits.  Returns false when none. */
bool torify_policy_credentials(const struct torify_config *c, long pid, unsigned long long start_time,
                               char *user, size_t user_len, char *pass, size_t pass_len);

/* ---- talking to Tor as this process -------------------------------------
 *
 * To talk to Tor as this process, call torify_policy_socks_opts below for
 * what to say (protocol, credentials, timeouts), then socks/dial.h's
 * torify_sx_exchange for the connection (libtorify.so: through shim/tor.h,
 * with the real system calls).  Every torify component does so, so they
 * agree on circuits and on how long Tor is waited for. */

/* How long torify waits for Tor, the one table for the shim, the guard and
 * the launcher.  Tor needs time to build circuits: its own SocksTimeout is
 * 2 minutes. */
#define TORIFY_TOR_HANDSHAKE_MS 120000
/* Tor runs locally: reaching its port is quick or fails at once.  Bounds
 * the connect within each of the other timeouts. */
#define TORIFY_TOR_CONNECT_MS 10000
/* Reverse lookups are an extra; do not hang a program long for one. */
#define TORIFY_TOR_PTR_MS 15000
/* torify --check: connect and RESOLVE of a literal, which Tor answers at
 * once; a person is waiting for the answer. */
#define TORIFY_TOR_CHECK_MS 5000

/* The SOCKS options for a connection of process pid (started at
 * start_time, for IsolatePID) to Tor, the same in the shim and the guard so
 * both put a process on the same circuits: protocol, credentials (SOCKS4a:
 * the user id only), timeout_ms for the whole exchange and the connect
 * bounded by TORIFY_TOR_CONNECT_MS within it.  user/pass are the caller's
 * buffers of TORIFY_POLICY_CRED_MAX bytes that *o points into. */
#define TORIFY_POLICY_CRED_MAX 256
struct torify_socks_opts;
void torify_policy_socks_opts(const struct torify_config *c, long pid, unsigned long long start_time,
                              int timeout_ms, char *user, char *pass, struct torify_socks_opts *o);

/* The way out of a refusal: the torify.conf key and the environment
 * variable that would allow what was refused, for the refusals a setting
 * can lift (NULL for the others: UDP, raw sockets... are never allowed).
 * One table, so the shim's and the guard's lines name the same setting. */
struct torify_policy_allow {
    torify_err why;
    const char *key;   /* torify.conf key, e.g. "AllowOutboundLocalhost" */
    const char *var;   /* environment variable, e.g. "TORIFY_ALLOW_LOCALHOST" */
};
const struct torify_policy_allow *torify_policy_allow_for(torify_err why);

/* The "(<why>)" text of a refusal line: torify_strerror(why) without its
 * "refused: " start, then "; allowed by <key> 1 in torify.conf or <var>=1"
 * when a setting can lift it.  Always NUL-terminated; returns buf. */
const char *torify_policy_refusal_text(torify_err why, char *buf, size_t len);

/* How loudly a refusal is reported.  Refusals of calls that send nothing
 * and that programs make only to probe (socket() for UDP: curl's IPv6
 * check, resolvers that then fall back) are not news at the default level;
 * what the program then really tries (sendto, connect) still is. */
enum torify_log_level torify_policy_refusal_level(torify_err why, bool probe);

/* Could Tor answer a DNS query of this type (A, AAAA, PTR: its RESOLVE and
 * RESOLVE_PTR)?  A refused res_query of another type (SRV, MX, TXT) is a
 * probe in the sense above: getaddrinfo would not have helped either. */
bool torify_policy_dns_type_carried(int type);

#endif
