/*
 * socks/dial.h — torify's own connections to Tor, the one way in the tree.
 *
 * To talk to Tor as this process, call torify_policy_socks_opts
 * (core/policy.h: protocol, credentials incl. IsolatePID, the timeouts of
 * its table) and then torify_sx_exchange below, with this process's
 * system calls: torify_sx_libc in the launcher and the guard's
 * supervisor, torify_tor_sys (shim/tor.h) inside libtorify.so, whose
 * socket/connect/close are its own wrappers.  A client that speaks
 * something else than SOCKS to Tor (the control port) opens its
 * connection with torify_sx_open.  libtorify-socks' public helpers
 * (torify_socks_dial, _resolve, _resolve_ptr) are these with torify_sx_libc.
 *
 * Deadlines: one for the whole exchange (opts->timeout_ms), and within it
 * one for the connect (opts->connect_timeout_ms), both on torify_sx_now_ms.
 */
#ifndef TORIFY_SOCKS_DIAL_H
#define TORIFY_SOCKS_DIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <torify/socks.h>

/* The system calls a connection to the proxy is opened with. */
struct torify_sx_sys {
    int (*socket)(int domain, int type, int protocol);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*close)(int fd);
};
/* libc's, called by name. */
extern const struct torify_sx_sys torify_sx_libc;

/* Monotonic clock in milliseconds: core/clock.h's torify_now_ms. */
int64_t torify_sx_now_ms(void);

/* The deadlines of an exchange starting now: *all for the whole of it,
 * *conn (<= *all) for the connect to the proxy. */
void torify_sx_deadlines(const struct torify_socks_opts *opts, int64_t *conn, int64_t *all);

/* Connect fd (a stream socket of the proxy's family) to the proxy before
 * deadline_ms, also when fd is non-blocking or a signal interrupts the
 * connect (it goes on in the kernel: waited for).  started: the caller
 * already started this connect, so EISCONN means it is done (on any other
 * socket EISCONN means connected elsewhere: a failure).  Returns TORIFY_OK,
 * TORIFY_E_TIMEOUT (errno ETIMEDOUT), TORIFY_E_PROXY_UNREACHABLE or
 * TORIFY_E_IO; on failure errno is the system's reason (ECONNREFUSED,
 * ENOENT for a missing unix socket...). */
torify_err torify_sx_connect(const struct torify_sx_sys *sys, int fd, const struct sockaddr *proxy,
                             socklen_t len, int64_t deadline_ms, bool started);

/* A new non-blocking, close-on-exec stream socket connected to the proxy
 * before deadline_ms; -1 with *err and errno as torify_sx_connect (bad
 * arguments: TORIFY_E_INVAL_ARGUMENT). */
int torify_sx_open(const struct torify_sx_sys *sys, const struct sockaddr *proxy, socklen_t len,
                   int64_t deadline_ms, torify_err *err);

/* The handshake on fd, already connected (or connecting), before an
 * absolute deadline: the driver between poll() waits.  errno as
 * torify_socks_handshake_fd. */
torify_err torify_sx_handshake(int fd, enum torify_socks_cmd cmd, const struct torify_target *target,
                               const struct torify_socks_opts *opts, struct torify_target *result,
                               int64_t deadline_ms);

/* Open, connect, handshake: the one exchange with the proxy.  A connect
 * that does not finish within opts->connect_timeout_ms (shorter than the
 * whole) is TORIFY_E_PROXY_UNREACHABLE.  Returns the non-blocking socket (after a CONNECT it carries the stream; after a
 * RESOLVE the caller just closes it), or -1 with *err; errno is
 * torify_err_errno(*err) except for TORIFY_E_IO (the system's). */
int torify_sx_exchange(const struct torify_sx_sys *sys, const struct sockaddr *proxy, socklen_t len,
                       enum torify_socks_cmd cmd, const struct torify_target *target,
                       const struct torify_socks_opts *opts, struct torify_target *result, torify_err *err);

#endif
