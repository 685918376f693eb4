/*
 * guard/guard.h — the kernel-enforced guard of `torify program args`.
 *
 * LD_PRELOAD only sees calls that go through the dynamic linker.  The guard
 * covers the rest (static binaries, raw syscall(), io_uring, children that
 * drop LD_PRELOAD): the program runs under a seccomp filter that refuses
 * what Tor cannot carry and hands every connect() to a supervisor, the
 * launcher process itself, which performs the connect on the program's
 * behalf (torified through Tor's SOCKS port) and installs the result in the
 * program's fd table.  See docs/GUARD.md.
 *
 * Needs Linux >= 5.9 (SECCOMP_FILTER_FLAG_NEW_LISTENER and
 * SECCOMP_IOCTL_NOTIF_ADDFD), x86_64.
 */
#ifndef TORIFY_GUARD_H
#define TORIFY_GUARD_H

#include <stddef.h>
#include "core/config.h"

/* Set to "1" in the environment of every guarded program, so that a
 * torify started inside the guard knows the listener above it is ours. */
#define TORIFY_GUARD_ENV "TORIFY_GUARDED"

/* Is the guard possible here?  Returns
 *   0  yes: torify_guard_run() will guard the program;
 *   1  this process already runs under a torify guard (a torify inside
 *      `torify --shell`, say): the program is guarded by it, nothing to add
 *      (exec it directly);
 *  -1  no: a one-line reason (no trailing newline) is in why.
 * Forks a short-lived probe child: a seccomp filter cannot be removed once
 * installed. */
int torify_guard_check(char *why, size_t why_len);
/* torify_guard_check before torify_guard_run: the same answers, without the
 * probe child where nothing can be nested (no seccomp filter on this
 * process); the kernel's features are then checked by the program's own
 * child, and torify_guard_run returns -2 if one is missing. */
int torify_guard_check_to_run(char *why, size_t why_len);

/* Can the guard give programs datagram sockets in a sealed network
 * namespace, where torify answers their DNS queries (docs/GUARD.md)?  0 with
 * how ("privileged" / "in a user namespace") in buf, or -1 with why not. */
int torify_guard_dns_check(char *buf, size_t len);

/* Run the program at path (found by the caller; a file without #! runs
 * through /bin/sh, as with execvp) with argv and envp under the guard,
 * supervise it and every descendant, and wait for it.  Signals sent to the
 * launcher (SIGTERM, SIGINT, SIGHUP, ...) are forwarded to the program.
 * Returns the status to exit with: the program's exit code, 128+N when it
 * died of signal N, 127/126 when it could not be executed.  Returns -1 with
 * a message in err when the guard could not be set up, -2 with the reason
 * in err when the kernel lacks what the guard needs (nothing was run in
 * either case).
 * map (may be NULL) is the fake map the launcher published for the tree:
 * connects to fake addresses that bypass the shim are torified by name. */
struct torify_fakemap;
int torify_guard_run(const struct torify_config *cfg, struct torify_fakemap *map, const char *path,
                     char *const argv[], char *const envp[], char *err, size_t err_len);

#endif
