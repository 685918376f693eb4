/*
 * shim/state.h — the one place for libtorify.so's process state.
 *
 * Everything the shim keeps for the process lives in one struct,
 * torify_shim (below), and nowhere else; what is kept per thread lives in
 * torify_shim_thread.  Core (src/core/) keeps no process state of its own
 * for the shim: it gets what it needs passed in.
 *
 * Who may touch what, field by field (the tags in the struct):
 *
 *  [once]   written once, inside its pthread_once, read-only after.  glibc's
 *           pthread_once is fork-aware: a child forked during the first call
 *           runs it again instead of waiting forever.
 *  [atomic] read and written with atomics only, never under a lock: these
 *           are what the interposed functions that must stay
 *           async-signal-safe (close, connect, socket) read, also from a
 *           signal handler and in a forked or vfork'ed child.
 *  [helper] only under nb.helper_lock (below), the one lock of the state:
 *           never taken on a path a signal handler can reach, and
 *           re-initialised in a forked child (the fork handler in state.c),
 *           since the thread that held it does not exist there.
 *
 *  - configuration: loaded once per process on first need, never at load
 *    time, and the logger it sets up;
 *  - the fake-address map: created (or attached to the tree's, see
 *    core/fakemap_env.h) on first name lookup; shared with forked children
 *    through its MAP_SHARED mapping;
 *  - the fd table: per-socket state for sockets torify connected.  A bitmap
 *    of "fd has state" lets close() and socket() decide with one atomic load
 *    that there is nothing to do.  Records live in chunks mmap'd on first use
 *    (only from connect, never from close), so close never allocates;
 *  - this process's pid for close() (shim/close.c), whose dispatch pointer
 *    is the one variable beside the struct (torify_shim_close, below);
 *  - the next definitions of the interposed functions (shim/real.h);
 *  - the non-blocking connects' pool, epoll bookkeeping and helper thread
 *    (shim/nb.h);
 *  - optimistic data: the per-fd "reply owed" bytes and their connection
 *    objects (shim/opt.h);
 *  - the process start time for IsolatePID credentials (shim/tor.c);
 *  - the streams table published for `torify --streams` (shim/publish.c,
 *    core/streamtab.h): made on the first connect through Tor, let go of in
 *    a forked child;
 *  - the last explanation of a failed connect from Tor's control port
 *    (shim/explain.c), with its time.
 */
#ifndef TORIFY_SHIM_STATE_H
#define TORIFY_SHIM_STATE_H

#include <netdb.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <torify/socks.h>
#include "core/config.h"
#include "core/fakemap.h"

struct torify_streamtab;

/* The loaded configuration.  Never NULL.  If the file or the environment
 * is broken, config_err is TORIFY_E_REFUSE_CONFIG and the shim fails closed
 * (connects via Tor and name lookups are refused). */
struct torify_state_config {
    struct torify_config cfg;
    torify_err config_err;
    char config_msg[TORIFY_CONFIG_ERR_MAX];
    bool exempt;                      /* pass-through: see torify_state_passthrough */
};

/* ---- fd records ------------------------------------------------------- */

#define TORIFY_FD_CHUNK 256u
#define TORIFY_FD_CHUNKS 4096u
#define TORIFY_FD_MAX (TORIFY_FD_CHUNK * TORIFY_FD_CHUNKS)  /* fds above: untracked */

enum torify_fd_state {
    TORIFY_FD_NONE = 0,
    TORIFY_FD_CONNECTING,   /* non-blocking path: handed to the helper (shim/nb.h); the
                               live outcome is in the connection object */
    TORIFY_FD_CONNECTED,    /* SOCKS handshake done; application data flows */
};

struct nb_conn;
struct opt_conn;
struct torify_fd_rec {
    enum torify_fd_state state;
    uint32_t fake_slot;                /* TORIFY_FAKEMAP_NO_SLOT when not a fake */
    struct sockaddr_storage peer;      /* what the program connected to (for getpeername) */
    socklen_t peer_len;
    struct torify_target target;       /* what we asked Tor for */
    struct nb_conn *codec;             /* non-blocking path: its connection (shim/nb.h) or NULL;
                                          released by torify_fd_clear */
    uint32_t codec_gen;                /* generation of that connection object */
    struct opt_conn *opt;              /* optimistic data: the reply owed (shim/opt.h) or NULL;
                                          released by torify_fd_clear */
    uint32_t opt_gen;
};

enum { TORIFY_PASS_UNKNOWN = 0, TORIFY_PASS_NO, TORIFY_PASS_YES };

/* HideIdentity's netlink filter follows sockets at fds below this. */
#define TORIFY_NL_FD_MAX 4096u

/* Room for shim/real.h's table (it checks that its ids fit). */
#define TORIFY_SHIM_REAL_MAX 64

/* ---- non-blocking connects (shim/nb.h) ---------------------------------- */

#define TORIFY_NB_CHUNK 64u   /* connection objects per mmap'd chunk of the pool */
#define TORIFY_NB_CHUNKS 256u /* at most 16384 connects in flight at once; more fall back to blocking */
#define TORIFY_NB_PRE_MAX 65536u /* fds whose last epoll ADD is remembered (nb_epoll.c) */

/* The helper thread's own fds (nb_helper.c): the epoll set twice (kcmp
 * identity) and the wake-up eventfd with its identity. */
struct torify_nb_fds {
    int ep, ep2;
    int wake;
    dev_t wake_dev;
    ino_t wake_ino;
    unsigned gen;                  /* which helper (nb.gen when it started) */
};

/* [helper]: only under nb.helper_lock.  connect(), async-signal-safe,
 * takes it to start the helper and hand it work (a documented limit for
 * connects through Tor from a signal handler, docs/DESIGN.md), and it is
 * held across pthread_create. */
struct torify_shim_nb {
    _Atomic int active;            /* [atomic] connections the helper drives in this process;
                                      0 lets poll and select take their untouched fast path */
    void *_Atomic chunks[TORIFY_NB_CHUNKS]; /* [atomic] the pool (nb_conn.c): struct nb_conn[TORIFY_NB_CHUNK] each */
    _Atomic unsigned hint;         /* [atomic] where the pool's next search starts: at or below its lowest free object (nb_conn.c) */
    _Atomic int pre_epfd[TORIFY_NB_PRE_MAX]; /* [atomic] epfd + 1 of the last ADD of an untracked fd */

    pthread_mutex_t helper_lock;
    pid_t helper_pid;              /* [helper] process the helper runs in (0: none) */
    struct torify_nb_fds helper;   /* [helper] the current helper's fds, valid while helper_pid */
    struct nb_conn *queue;         /* [helper] submitted, not yet picked up */
    _Atomic unsigned gen;          /* [atomic] bumped for each helper started */
    _Atomic int wake1;             /* [atomic] helper.wake + 1 (0: none), for torify_nb_wake
                                      without the lock; + 1 so the struct starts all zero */
    dev_t wake_dev;                /* written before wake1 is published */
    ino_t wake_ino;
};

/* ---- optimistic data (shim/opt.h) ----------------------------------------- */

#define TORIFY_OPT_CHUNK 64u   /* connection objects per mmap'd chunk */
#define TORIFY_OPT_CHUNKS 256u /* at most 16384 replies owed at once; more wait for theirs in connect */

enum { TORIFY_OPT_FD_NONE = 0, TORIFY_OPT_FD_PENDING, TORIFY_OPT_FD_FAILED };

struct torify_shim_opt {
    /* [atomic] TORIFY_OPT_FD_* per fd: the one byte the interposed
     * read/write calls test for every socket (one load, no lock); 1 MiB of
     * .bss, of which only the pages of fd numbers in use are ever touched. */
    _Atomic uint8_t flag[TORIFY_FD_MAX];
    _Atomic int active;                   /* [atomic] fds flagged now (poll's fast path) */
    void *_Atomic chunks[TORIFY_OPT_CHUNKS]; /* [atomic] struct opt_conn[TORIFY_OPT_CHUNK] each */
    _Atomic unsigned hint;                /* [atomic] where the pool's next search starts */
    _Atomic int is_tor;                   /* [atomic] auto's probe: TORIFY_PASS_UNKNOWN / _NO / _YES */
};

/* ---- the singleton ------------------------------------------------------ */

struct torify_shim_state {
    /* configuration */
    pthread_once_t config_once;
    struct torify_state_config config;           /* [once] */
    _Atomic int pass;                            /* [atomic] TORIFY_PASS_*, set by the config's once */

    /* the shim's logger (core/log.h), set up with the configuration */
    struct torify_logger log;                    /* [once] set up; its fold has its own lock */

    /* the fake-address map */
    pthread_once_t fakemap_once;
    struct torify_fakemap *_Atomic fakemap;      /* [once], read [atomic] by torify_fd_clear */
    torify_err fakemap_err;                      /* [once] */

    /* the fd table */
    _Atomic uint64_t fd_bits[TORIFY_FD_MAX / 64];                 /* [atomic] */
    void *_Atomic fd_chunks[TORIFY_FD_CHUNKS];   /* [atomic] struct torify_fd_rec[TORIFY_FD_CHUNK] each */

    /* close() (shim/close.c); its dispatch pointer: torify_shim_close below */
    _Atomic pid_t pid;                           /* [atomic] kept by the fork handler */
    pthread_once_t fork_once;                    /* registers the fork handler */

    /* libc's definitions of the interposed functions (shim/real.h) */
    void *_Atomic real[TORIFY_SHIM_REAL_MAX];    /* [atomic] every racer stores the same value */

    /* non-blocking connects: the pool, epoll bookkeeping, the helper thread */
    struct torify_shim_nb nb;

    /* optimistic data: replies owed (shim/opt.h) */
    struct torify_shim_opt opt;

    /* Are this process's datagram sockets made in the guard's sealed
     * network namespace?  The supervisor's answer to the question of
     * core/fakemap_ask.h, asked on the first datagram socket; inherited by
     * forked children (same guard), asked again after exec. */
    _Atomic int udp_sealed;                      /* [atomic] TORIFY_PASS_UNKNOWN / _NO / _YES */

    /* HideIdentity: fds (below TORIFY_NL_FD_MAX) made as NETLINK_ROUTE
     * sockets, whose dumps shim/identity.c filters; checked again (SO_DOMAIN)
     * before filtering, so a stale bit after close never touches other data. */
    _Atomic uint64_t nl_route_bits[TORIFY_NL_FD_MAX / 64];  /* [atomic] */

    /* IsolatePID: this process's start time, and the pid it belongs to */
    _Atomic long start_time_pid;                 /* [atomic] published after start_time */
    _Atomic unsigned long long start_time;       /* [atomic] */

    /* torify --streams: the published streams table (shim/publish.c) */
    struct torify_streamtab *_Atomic pub;        /* [atomic] NULL until the first connect through Tor */
    _Atomic int pub_fd1;                         /* [atomic] its memfd + 1 (0: none) */
    _Atomic int pub_failed;                      /* [atomic] no memfd could be made: not tried again */
    dev_t pub_dev;                               /* the memfd's identity, written before pub_fd1 */
    ino_t pub_ino;

    /* A failed connect's explanation (shim/explain.c): one asker at a time */
    _Atomic int explain_busy;                    /* [atomic] 1 while a thread asks; 0 in a forked child */
    int64_t explain_at_ns;                       /* under explain_busy: when the text was asked */
    char explain_text[300];                      /* under explain_busy: the control port's word, or "" */
};

/* Hidden, also where only declared: the compiler then addresses these
 * directly instead of through the GOT — one instruction less on close()'s
 * and the fd bitmap's hot paths. */
#define TORIFY_SHIM_LOCAL __attribute__((visibility("hidden")))

extern struct torify_shim_state torify_shim TORIFY_SHIM_LOCAL;

/* close()'s dispatch pointer (shim/close.c) [atomic]: libc's close, then
 * close_tracked.  The one piece of state whose first value is not zero, so
 * it stands beside torify_shim instead of in it: one initialised member
 * would move the whole struct (160 KiB of bitmap and chunk table, zero
 * until used) from .bss into the library file's .data, and a NULL meaning
 * "libc's" would cost close() a test and a branch on its hot path. */
extern int (*_Atomic torify_shim_close)(int) TORIFY_SHIM_LOCAL;

/* What the shim keeps per thread: the result buffers of the non-reentrant
 * gethostbyname/gethostbyaddr (shim/hostent.c), so threads never share one
 * static result. */
struct torify_shim_thread {
    struct hostent he;
    alignas(char *) char he_buf[NI_MAXHOST + 64];
};
extern __thread struct torify_shim_thread torify_shim_thread TORIFY_SHIM_LOCAL;

/* Register the fork handler (once; from the first path that keeps state a
 * child must see fresh: close tracking, the helper thread).  In the child it
 * records the child's pid and has the helper forgotten (its lock anew).  No fork handler runs in a vfork()
 * child: that one shares our memory, and close() tells it by its pid. */
void torify_shim_fork_init(void);

/* Memory the state grows into: the chunk in *slot, or (create) a new
 * zeroed one of len bytes installed there with a compare-and-swap — the
 * loser of a race unmaps its own.  mmap, not malloc: this may run inside a
 * program's own malloc-free paths; chunks are never freed, so a pointer
 * into one stays valid for ever.  NULL: none yet (!create), or no memory. */
void *torify_shim_chunk(void *_Atomic *slot, size_t len, bool create);

/* ---- configuration and exemption --------------------------------------- */

const struct torify_state_config *torify_state_config(void);

/* Should every interposed call go straight to libc?  True only for a
 * process whose real executable (/proc/self/exe, read once when the
 * configuration is loaded) is exempt, and that was not started by the
 * launcher.  After the first call: one atomic load. */
static inline bool torify_state_passthrough(void)
{
    int v = atomic_load_explicit(&torify_shim.pass, memory_order_acquire);
    if (__builtin_expect(v == TORIFY_PASS_UNKNOWN, 0)) {
        (void)torify_state_config();
        v = atomic_load_explicit(&torify_shim.pass, memory_order_acquire);
    }
    return v == TORIFY_PASS_YES;
}

/* The pure rule behind it (unit-tested): exe is what readlink of
 * /proc/self/exe gave (NULL when it failed: /proc not mounted), cfg NULL
 * when the configuration is broken (then only the built-in list counts). */
bool torify_state_exempt_rule(const struct torify_config *cfg, bool launched, const char *exe);

/* ---- fake map ----------------------------------------------------------- */

/* The fake map, or NULL (with *err) when it could not be created.  Attached
 * to the tree's (core/fakemap_env.h) when that one validates (never in
 * AT_SECURE processes), else created and exported to exec'd programs. */
struct torify_fakemap *torify_state_fakemap(torify_err *err);

/* ---- fd table ----------------------------------------------------------- */

/* Hot path: does fd carry state?  One atomic load. */
static inline bool torify_fd_tracked(int fd)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_FD_MAX)
        return false;
    return (atomic_load_explicit(&torify_shim.fd_bits[(unsigned)fd / 64], memory_order_acquire)
            >> ((unsigned)fd % 64)) & 1u;
}

/* Store state for fd (copies rec).  Returns false when the fd cannot be
 * tracked (too big, or no memory for its chunk). */
bool torify_fd_set(int fd, const struct torify_fd_rec *rec);
/* Copy fd's record out; false when none. */
bool torify_fd_get(int fd, struct torify_fd_rec *out);
/* Drop fd's state: releases a held fake slot and the record's reference
 * to its connection object.  No locks, no allocation: async-signal-safe. */
void torify_fd_clear(int fd);

#endif
