/*
 * core/state.h — the one place for libtorify's global state.
 *
 *  - configuration: loaded once per process on first need (pthread_once),
 *    never at load time;
 *  - the fake-address map: created on first name lookup (pthread_once);
 *    shared with forked children through its MAP_SHARED mapping;
 *  - the fd table: per-socket state for sockets torify connected.  A bitmap
 *    of "fd has state" lets close() and socket() decide with one atomic load
 *    that there is nothing to do.  Records live in chunks mmap'd on first use
 *    (only from connect, never from close), so close never allocates.
 */
#ifndef TORIFY_CORE_STATE_H
#define TORIFY_CORE_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <torify/socks.h>
#include "core/config.h"
#include "core/fakemap.h"

/* The loaded configuration.  Never NULL.  If the file or the environment
 * is broken, config_err is TORIFY_E_REFUSE_CONFIG and the shim fails closed
 * (connects via Tor and name lookups are refused). */
struct torify_state_config {
    struct torify_config cfg;
    torify_err config_err;
    char config_msg[TORIFY_CONFIG_ERR_MAX];
    bool exempt;                      /* pass-through: see torify_state_passthrough */
};
const struct torify_state_config *torify_state_config(void);

/* ---- exemption (ExemptExecutable, the Tor daemon) ---------------------- */

enum { TORIFY_PASS_UNKNOWN = 0, TORIFY_PASS_NO, TORIFY_PASS_YES };
extern _Atomic int torify_pass_state;

/* Should every interposed call go straight to libc?  True only for a
 * process whose real executable (/proc/self/exe, read once when the
 * configuration is loaded) is exempt, and that was not started by the
 * launcher.  After the first call: one atomic load. */
static inline bool torify_state_passthrough(void)
{
    int v = atomic_load_explicit(&torify_pass_state, memory_order_acquire);
    if (__builtin_expect(v == TORIFY_PASS_UNKNOWN, 0)) {
        (void)torify_state_config();
        v = atomic_load_explicit(&torify_pass_state, memory_order_acquire);
    }
    return v == TORIFY_PASS_YES;
}

/* The pure rule behind it (unit-tested): exe is what readlink of
 * /proc/self/exe gave (NULL when it failed: /proc not mounted), cfg NULL
 * when the configuration is broken (then only the built-in list counts). */
bool torify_state_exempt_rule(const struct torify_config *cfg, bool launched, const char *exe);

/* The environment variable that hands the fake map's memfd to exec'd
 * programs: "<fd>:<inode>" (docs/DESIGN.md, "The fake-address map"). */
#define TORIFY_FAKEMAP_ENV "TORIFY_FAKEMAP_FD"
/* Beside it, the pid of the process that published it: a program that
 * closed the fd can still reopen /proc/<pid>/fd/<fd> while that process
 * lives and holds it (best effort outside the guard; checked like the fd). */
#define TORIFY_FAKEMAP_PID_ENV "TORIFY_FAKEMAP_PID"

/* The fake map, or NULL (with *err) when it could not be created.  Attached
 * to the one named by TORIFY_FAKEMAP_ENV when that one validates (never in
 * AT_SECURE processes), else created and exported through it. */
struct torify_fakemap *torify_state_fakemap(torify_err *err);

/* Make m's memfd survive exec (a high fd without FD_CLOEXEC) and name it in
 * TORIFY_FAKEMAP_ENV.  Calls setenv(): only for a single-threaded caller
 * (the launcher before exec; the shim checks).  0 or -1. */
int torify_state_fakemap_publish(struct torify_fakemap *m);

/* ---- fd table --------------------------------------------------------- */

#define TORIFY_FD_CHUNK 256u
#define TORIFY_FD_CHUNKS 4096u
#define TORIFY_FD_MAX (TORIFY_FD_CHUNK * TORIFY_FD_CHUNKS)  /* fds above: untracked */

enum torify_fd_state {
    TORIFY_FD_NONE = 0,
    TORIFY_FD_CONNECTING,   /* non-blocking path: handed to the helper (shim/nb.h); the
                               live outcome is in the codec's connection object */
    TORIFY_FD_CONNECTED,    /* SOCKS handshake done; application data flows */
};

struct torify_fd_rec {
    enum torify_fd_state state;
    uint32_t fake_slot;                /* TORIFY_FAKEMAP_NO_SLOT when not a fake */
    struct sockaddr_storage peer;      /* what the program connected to (for getpeername) */
    socklen_t peer_len;
    struct torify_target target;       /* what we asked Tor for */
    void *codec;                       /* non-blocking path: its connection (shim/nb.h) or NULL */
    uint32_t codec_gen;                /* generation of that connection object */
};

/* Called by torify_fd_clear for a record with a codec (set once by the
 * shim's non-blocking path).  Must be lock-free and async-signal-safe. */
typedef void (*torify_fd_codec_release_fn)(void *codec, uint32_t gen);
void torify_fd_set_codec_release(torify_fd_codec_release_fn fn);

extern _Atomic uint64_t torify_fd_bits[TORIFY_FD_MAX / 64];

/* Hot path: does fd carry state?  One atomic load. */
static inline bool torify_fd_tracked(int fd)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_FD_MAX)
        return false;
    return (atomic_load_explicit(&torify_fd_bits[(unsigned)fd / 64], memory_order_acquire)
            >> ((unsigned)fd % 64)) & 1u;
}

/* Store state for fd (copies rec).  Returns false when the fd cannot be
 * tracked (too big, or no memory for its chunk). */
bool torify_fd_set(int fd, const struct torify_fd_rec *rec);
/* Copy fd's record out; false when none. */
bool torify_fd_get(int fd, struct torify_fd_rec *out);
/* Drop fd's state (releases a held fake slot).  No locks, no allocation. */
void torify_fd_clear(int fd);

#endif
