/*
 * shim/nb.h — non-blocking connects through Tor (docs/DESIGN.md,
 * "Non-blocking connects").
 *
 * connect() on an O_NONBLOCK socket starts the TCP connect to Tor, hands
 * the socket to one helper thread per process and returns EINPROGRESS.
 * The helper runs the SOCKS handshake on its own dup() of the socket.
 * Until the handshake is done the program must not see the socket as
 * writable:
 *   - epoll: while connecting, the program's registrations are recorded
 *     here and a placeholder eventfd (never ready for the events it is
 *     registered with) stands in its epoll sets; at completion the helper
 *     swaps the real fd in with the program's events and data;
 *   - poll/ppoll/select/pselect: a connecting fd is replaced, in a copy of
 *     the set, by the same eventfd, which the helper signals at completion;
 *   - getsockopt(SO_ERROR) and a second connect() report the outcome.
 *
 * Lifetime: connection objects live in a pool that is never unmapped
 * (type-stable memory), so close(), a signal handler or a racing thread can
 * always touch one safely.  Each has a generation (bumped on reuse) and a
 * reference count: one reference for the fd record, one for the helper, one
 * per waiting poll/select call.  Whoever drops the last one recycles it with
 * a compare-and-swap: lock-free and async-signal-safe (close() of the
 * eventfd and atomics only).
 */
#ifndef TORIFY_SHIM_NB_H
#define TORIFY_SHIM_NB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <torify/socks.h>

#include "core/config.h"
#include "shim/state.h"

enum nb_phase {
    NB_FREE = 0,
    NB_RESERVED,    /* being set up by connect() */
    NB_CONNECTING,  /* owned by the helper: TCP connect to Tor, then SOCKS */
    NB_OK,          /* handshake done: application data may flow */
    NB_FAILED,      /* err holds the errno; the socket was disconnected */
    NB_ORPHAN,      /* inherited by a forked child: the parent's helper drives
                       it; the child treats the socket as a plain one */
};

#define NB_REGS 4 /* epoll sets one connecting fd may sit in */

struct nb_reg {
    int epfd;                 /* the program's epoll fd number; -1: slot unused */
    int epdup;                /* our dup of it (a closed or reused number can never mislead us) */
    struct epoll_event ev;    /* the program's events and data */
};

struct nb_conn {
    _Atomic uint64_t gs;      /* generation << 32 | phase */
    _Atomic int refs;
    _Atomic int cancelled;    /* the program closed its fd */
    _Atomic int detached;     /* the program's connect() disconnected the socket
                                 itself (EINTR): the helper must not touch it */
    _Atomic int err;          /* errno of the failure */
    _Atomic int err_taken;    /* already reported by SO_ERROR or connect() */
    _Atomic int ok_taken;     /* a second connect() after success said 0 */
    _Atomic int swapping;     /* the helper is using the program's fd number (see finish) */
    pthread_mutex_t lock;     /* regs[] and the swap at completion */
    int fd;                   /* the program's fd number */
    int dup;                  /* the helper's own reference to the socket */
    int evfd;                 /* placeholder in epoll sets, "done" signal for poll */
    _Atomic int evholds;      /* holds on evfd: the helper's until completion, one
                                 per waiting poll/connect; NB_EV_CLOSED once closed */
    dev_t dev;                /* identity of the socket, to recognise fd reuse */
    ino_t ino;
    int64_t deadline_ms;      /* the whole handshake */
    int64_t connect_deadline_ms; /* the TCP connect to Tor, within it (core/policy.h's table) */
    /* helper-private */
    bool tcp_up;
    bool finished;
    uint32_t interest;
    struct nb_conn *next;
    unsigned slot;            /* its index in the pool (nb_conn.c: the lowest free one is reused first) */
    struct nb_reg regs[NB_REGS];
    char what[300];           /* the target, for log lines */
    struct torify_socks codec;
};

static inline uint32_t nb_gen_of(uint64_t gs) { return (uint32_t)(gs >> 32); }
static inline enum nb_phase nb_phase_of(uint64_t gs) { return (enum nb_phase)(uint32_t)gs; }
static inline uint64_t nb_gs(uint32_t gen, enum nb_phase p) { return (uint64_t)gen << 32 | (uint32_t)p; }

/* The state of all this (the pool, the epoll bookkeeping, the helper
 * thread, the count of connections in flight) is torify_shim.nb
 * (shim/state.h). */

/* ---- nb_conn.c: pool, references ---------------------------------------- */

/* A connection object in phase NB_RESERVED with two references (record and
 * helper), or NULL when the pool is exhausted. */
struct nb_conn *torify_nb_alloc(uint32_t *gen);
/* Drop one reference; the last one recycles the object. */
void torify_nb_put(struct nb_conn *c);
/* The fd record's reference, dropped by torify_fd_clear (close()): marks
 * the connection cancelled so the helper lets go at once.  Lock-free and
 * async-signal-safe. */
void torify_nb_release_from_record(struct nb_conn *c, uint32_t gen);
/* fd's connection, with a reference taken, and its phase; NULL when fd has
 * none (or it belongs to an older generation, or fd is no longer the
 * socket: fstat identity). */
struct nb_conn *torify_nb_get(int fd, enum nb_phase *phase);
/* The eventfd is needed only while the handshake is in flight: it is
 * closed when the helper and every waiter have let go, not kept for the
 * socket's lifetime (a program with many long-lived sockets would pay one
 * fd each).  A waiter (with a reference on c) takes a hold before using
 * c->evfd; false: already closed, the connection is done. */
#define NB_EV_CLOSED (1 << 30)
bool torify_nb_ev_hold(struct nb_conn *c);
void torify_nb_ev_drop(struct nb_conn *c);
/* Cheap look, no reference and no fstat (the pool's memory is
 * type-stable): might fd's connection be in flight?  A filter before
 * torify_nb_get, which checks for real; most tracked fds are long done. */
static inline bool torify_nb_maybe_connecting(int fd)
{
    struct torify_fd_rec rec;
    if (fd < 0 || !torify_fd_get(fd, &rec) || !rec.codec)
        return false;
    return nb_phase_of(atomic_load(&rec.codec->gs)) == NB_CONNECTING;
}
/* After NB_FAILED: the errno, the first time; later 0 (SO_ERROR) */
int torify_nb_take_error(struct nb_conn *c);
/* Walk every object of the pool (fork handling). */
void torify_nb_each(void (*fn)(struct nb_conn *c));

/* torify's own fds at numbers >= 256 when possible (the program's lowest-free
 * numbering is left alone), close-on-exec.  dup_high: a duplicate (at any
 * number if none is free up there), or -1.  move_high: fd itself moved up
 * (the old number closed), or fd unchanged if it cannot move; fd < 0 is
 * passed through. */
int torify_nb_dup_high(int fd);
int torify_nb_move_high(int fd);

/* ---- nb_helper.c: the helper thread -------------------------------------- */

/* Start the helper in this process if needed; false when it cannot run
 * (then connect() keeps the blocking path). */
bool torify_nb_helper_ensure(void);
/* Set up c for fd (connect to Tor already started): dup, eventfd, codec,
 * existing epoll registrations of fd.  false: c is released (fallback). */
bool torify_nb_prepare(struct nb_conn *c, uint32_t gen, int fd, const struct torify_config *cfg,
                       const struct torify_target *target, int timeout_ms);
/* Hand c to the helper (phase NB_CONNECTING). */
void torify_nb_submit(struct nb_conn *c);
/* Wake the helper (after a cancel).  Async-signal-safe. */
void torify_nb_wake(void);
/* In a forked child (shim/state.c's fork handler): the parent's helper does
 * not exist here; forget its fds and orphan what it was driving. */
void torify_nb_after_fork_child(void);

/* ---- nb_epoll.c ------------------------------------------------------------ */

/* Move fd's existing registrations (epoll_ctl ADD before connect) onto c's
 * placeholder.  Called by torify_nb_prepare with c locked. */
void torify_nb_take_epoll_regs(struct nb_conn *c);

#endif
