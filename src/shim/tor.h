/*
 * shim/tor.h — torify's own connections to Tor: made with the real
 * socket/connect (never through our wrappers), blocking, with a timeout.
 */
#ifndef TORIFY_SHIM_TOR_H
#define TORIFY_SHIM_TOR_H

#include <stddef.h>
#include <torify/socks.h>
#include "core/config.h"
#include "core/policy.h"

/* Timeouts: TORIFY_TOR_*_MS in core/policy.h. */

/* Real connect on fd, waiting for completion even if fd is non-blocking or
 * a signal interrupts; 0 or -1 with errno. */
int torify_tor_connect_wait(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms);

/* A new CLOEXEC stream socket connected to Tor; -1 with errno. */
int torify_tor_open(const struct torify_config *c);

/* SOCKS options for this process: protocol, credentials (explicit, or
 * derived from pid and start time with IsolatePID).  user/pass are the
 * caller's buffers of 256 bytes. */
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

/* "host:port" / "1.2.3.4:port" / "[v6]:port" of a sockaddr, for messages. */
const char *torify_tor_fmt_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buf_len);

#endif
