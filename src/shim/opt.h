/*
 * shim/opt.h — optimistic data (docs/DESIGN.md, "Optimistic data").
 *
 * With OptimisticData on (or auto and the SOCKS server is Tor,
 * shim/opt_probe.c), connect() through Tor sends the whole SOCKS exchange
 * (greeting, credentials, request: one buffer, TORIFY_SOCKS_PIPELINE) and
 * returns 0 without waiting for Tor's reply.  The program's first write
 * goes straight to the kernel and follows the request on the same stream;
 * Tor sends it towards the exit with its BEGIN cell (tor proposal 181).
 *
 * The reply is still owed: until torify has read it the socket is
 * "pending", one byte per fd in torify_shim.opt.flag (shim/state.h), the
 * only thing the interposed read/write calls look at for every other
 * socket (shim/opt_io.c).  On a pending socket:
 *   - a read first reads the reply (exactly its bytes, the codec never
 *     asks for more), waiting for it on a blocking socket, EAGAIN on a
 *     non-blocking one while it is not complete;
 *   - a write reads whatever of the reply has arrived, without waiting,
 *     and then passes (MSG_NOSIGNAL: a stream Tor ended because the
 *     request failed is that failure, not a SIGPIPE);
 *   - poll/ppoll/select (shim/nb_poll.c) and epoll_wait and its kin
 *     (shim/opt_epoll.c) read the reply when the socket
 *     turns readable and report POLLIN only if data follows it.
 * A failed reply makes the socket "failed": every later read, write or
 * poll reports the errno the blocking connect would have returned
 * (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT... torify_err_errno), never data
 * and never a clean EOF, until the program closes it.
 *
 * State per pending socket: a connection object (the codec and its
 * deadline) from a pool of mmap'd chunks that are never unmapped
 * (type-stable, like shim/nb_conn.c's), with a generation so a stale
 * pointer in a closed fd's record can never touch a newer connection.
 */
#ifndef TORIFY_SHIM_OPT_H
#define TORIFY_SHIM_OPT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <torify/socks.h>

#include "core/config.h"
#include "shim/state.h"

enum opt_phase {
    OPT_FREE = 0,
    OPT_PENDING, /* request sent, reply not (all) read */
    OPT_DONE,    /* reply read: a plain socket now */
    OPT_FAILED,  /* err holds the errno, reported by every call */
};

struct opt_conn {
    _Atomic uint64_t gs;        /* generation << 32 | phase */
    _Atomic int lock;           /* 1 while a thread reads the reply: the codec is one thread's */
    int fd;                     /* the program's fd number */
    int err;                    /* OPT_FAILED: the errno */
    _Atomic int err_taken;      /* getsockopt(SO_ERROR) has reported err (once, as the kernel's) */
    _Atomic int refs;           /* fd records holding it: the connected fd and its copies (dup) */
    dev_t dev;                  /* identity of the socket, to recognise a reused number */
    ino_t ino;
    int64_t deadline_ms;        /* the whole handshake (TORIFY_TOR_HANDSHAKE_MS) */
    char what[300];             /* the target, for log lines */
    struct torify_socks codec;
};

/* Is some fd of the process flagged (torify_shim.opt.active != 0)?  The
 * first test of read, write, send... for every fd: a relaxed load of an
 * aligned int.  On x86-64 written as one compare of the variable in memory
 * with 0 and a branch: GCC loads an atomic into a register before testing
 * it, one instruction more on each of those calls, and with it read's
 * pass-through was 21 instructions against the bare call's 17, over the
 * 1.2x budget (docs/DESIGN.md, "Hot paths").  ThreadSanitizer builds and
 * other targets use the plain atomic load. */
static inline bool torify_opt_some_flagged(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
    __asm__ goto("cmpl $0, torify_shim+%c0(%%rip)\n\tjne %l1"
                 : /* asm goto has no outputs */
                 : "i"(offsetof(struct torify_shim_state, opt.active))
                 :
                 : yes);
    return false;
yes:
    return true;
#else
    return atomic_load_explicit(&torify_shim.opt.active, memory_order_relaxed) != 0;
#endif
}

/* The one check of the hot paths: does fd owe a SOCKS reply or carry a
 * failed one?  First the process-wide count of flagged fds: while no
 * socket is pending or failed (every process without optimistic data, and
 * one with it between connects) that is one load and a branch predicted
 * not taken; then a bounds check and the fd's byte.  No lock.  set_flag
 * (opt.c) counts a flag in before any call can see its fd (connect has not
 * returned yet) and out after clearing it. */
static inline bool torify_opt_flagged(int fd)
{
    return __builtin_expect(torify_opt_some_flagged(), 0) &&
           (unsigned)fd < TORIFY_FD_MAX &&
           atomic_load_explicit(&torify_shim.opt.flag[(unsigned)fd], memory_order_relaxed) != 0;
}

/* Should connects of this process send data optimistically?  on: yes;
 * off: no; auto: when the SOCKS server answers as Tor (opt_probe.c, asked
 * once per process). */
bool torify_opt_wanted(const struct torify_config *c);
bool torify_opt_probe_is_tor(const struct torify_config *c);

/* On sock, connected to Tor: send the whole SOCKS exchange for target
 * (before deadline_ms).  Returns the pending connection (for fd, the
 * program's number), or NULL with *e: TORIFY_OK when optimistic data
 * cannot be used for this one (no pool object, a request that did not go
 * out in one piece: the caller completes the handshake as without it),
 * else the error (errno set). */
struct opt_conn *torify_opt_begin(int sock, int fd, const struct torify_target *target,
                                  const struct torify_socks_opts *o, int64_t deadline_ms, uint32_t *gen,
                                  torify_err *e);
/* Mark fd pending (after its record holds the connection). */
void torify_opt_arm(int fd, struct opt_conn *c);

/* No record could hold c (no memory): wait for the reply now, as without
 * optimistic data, and let c go.  0, or -1 with the failure's errno. */
int torify_opt_wait_unrecorded(struct opt_conn *c, uint32_t gen);

/* Read as much of fd's reply as there is (wait: until it is complete or
 * the deadline).  Returns OPT_DONE (also for an fd with nothing owed),
 * OPT_PENDING (only without wait) or OPT_FAILED with *err. */
enum opt_phase torify_opt_settle(int fd, bool wait, int *err);

/* Before a read-type call on a flagged fd: 0 to go on, or -1 with errno
 * (the failure, or EAGAIN for a non-blocking read while pending).
 * dontwait: the call's own MSG_DONTWAIT / SPLICE_F_NONBLOCK. */
int torify_opt_before_read(int fd, bool dontwait);
/* Before a write-type call on a flagged fd: 0 to go on, -1 with errno. */
int torify_opt_before_write(int fd);
/* After a write-type call on a flagged fd failed with errno: the SOCKS
 * failure's errno instead when that is why (EPIPE, ECONNRESET). */
void torify_opt_after_write_error(int fd);

/* getsockopt(SO_ERROR) on a flagged fd: reads what of the reply has
 * arrived (no wait), then the failure's errno the first time it is asked
 * for this socket, 0 after that (the kernel's SO_ERROR is read once too)
 * and while the reply is owed or was a success.  Every read, write and
 * poll keeps reporting the failure. */
int torify_opt_take_error(int fd);

/* dup/dup2/dup3/fcntl(F_DUPFD) made to a copy of from (shim/dup.c):
 * when from owes a reply or carries a failed one, to shares it (the same
 * connection object, one more reference): a read on either number reads
 * the reply first, a failure shows on both.  Without a record for to, the
 * reply is read now (waiting, up to the handshake's deadline). */
void torify_opt_copy(int from, int to);

/* Before the socket leaves this process's control (fork, exec,
 * SCM_RIGHTS): read every owed reply now, waiting up to each handshake's
 * deadline, so no other process ever reads reply bytes as data.  A reply
 * that fails (or times out) leaves the socket failed and shut down: the
 * other process sees its end, this one the errno.  torify_opt_settle_all:
 * every flagged fd (all: whether it is close-on-exec or not when
 * !skip_cloexec). */
void torify_opt_settle_all(bool skip_cloexec);

/* poll's view of a flagged fd: rev as the kernel reported it for events;
 * the reply alone never makes it readable, a failure is POLLERR|POLLHUP. */
short torify_opt_poll_filter(int fd, short events, short rev);

/* The fd record's reference, dropped by torify_fd_clear (close()):
 * lock-free, async-signal-safe. */
void torify_opt_release_from_record(int fd, struct opt_conn *c, uint32_t gen);

#endif
