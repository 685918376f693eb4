/*
 * shim/tor.h — libtorify.so's own connections to Tor: socks/dial.h's, made
 * with the real socket/connect/close (never through our wrappers) and the
 * credentials of this process.
 */
#ifndef TORIFY_SHIM_TOR_H
#define TORIFY_SHIM_TOR_H

#include <stddef.h>
#include <torify/socks.h>
#include "core/config.h"
#include "core/policy.h"
#include "socks/dial.h"

/* Timeouts: TORIFY_TOR_*_MS in core/policy.h. */

/* The system calls socks/dial.h opens connections with, inside
 * libtorify.so: libc's real socket/connect/close. */
extern const struct torify_sx_sys torify_tor_sys;

/* SOCKS options for this process: torify_policy_socks_opts with this
 * process's pid and start time (IsolatePID).  user/pass are the caller's
 * buffers of TORIFY_POLICY_CRED_MAX bytes. */
void torify_tor_opts(const struct torify_config *c, struct torify_socks_opts *o, int timeout_ms,
                     char *user, char *pass);

/* Tor RESOLVE_PTR for ip (SOCKS5 only).  name gets a NUL-terminated name. */
torify_err torify_tor_resolve_ptr(const struct torify_config *c, const struct torify_ip *ip,
                                  char *name, size_t name_len);

/* Tor RESOLVE for name: the address of family (AF_INET / AF_INET6) into
 * addr; TORIFY_E_PROTO_RESOLVE_TYPE when Tor's answer is of the other one
 * (dns/tor.h).  The res_* answers with ResolveThroughTor. */
torify_err torify_tor_resolve(const struct torify_config *c, const char *name, int family, uint8_t addr[16]);

/* The name of an address for reverse lookups (gethostbyaddr, getnameinfo):
 * a fake address gives its name from the map, loopback gives "localhost",
 * any other address is asked of Tor (RESOLVE_PTR) -- never local DNS.
 * name is "" when there is none. */
void torify_tor_reverse_name(const struct torify_ip *ip, char *name, size_t name_len);

/* The line for a connect to target (its text) that failed because Tor's
 * address did not answer (why: the errno), the same on the blocking path
 * and the helper's. */
void torify_tor_log_unreachable(const struct torify_config *c, const char *target, int why);

/* "host:port" / "1.2.3.4:port" / "[v6]:port" of a sockaddr, for messages. */
const char *torify_tor_fmt_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buf_len);

#endif
