/* shim/opt.c — optimistic data: the request sent at connect, the reply
 * read before the program reads (see opt.h). */
#include "shim/opt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/sys.h"
#include "shim/real.h"

static inline uint32_t gen_of(uint64_t gs) { return (uint32_t)(gs >> 32); }
static inline enum opt_phase phase_of(uint64_t gs) { return (enum opt_phase)(uint32_t)gs; }
static inline uint64_t mk_gs(uint32_t gen, enum opt_phase p) { return (uint64_t)gen << 32 | (uint32_t)p; }

/* ---- the pool ------------------------------------------------------------- */

static struct opt_conn *chunk_at(unsigned i, bool create)
{
    return torify_shim_chunk(&torify_shim.opt.chunks[i], TORIFY_OPT_CHUNK * sizeof(struct opt_conn), create);
}

/* A free object turned PENDING under a new generation, or NULL. */
static struct opt_conn *alloc_conn(uint32_t *gen)
{
    unsigned total = TORIFY_OPT_CHUNK * TORIFY_OPT_CHUNKS;
    unsigned start = atomic_load_explicit(&torify_shim.opt.hint, memory_order_relaxed) % total;
    for (unsigned k = 0; k < total; k++) {
        unsigned i = (start + k) % total;
        struct opt_conn *ch = chunk_at(i / TORIFY_OPT_CHUNK, true);
        if (!ch)
            return NULL;
        struct opt_conn *c = &ch[i % TORIFY_OPT_CHUNK];
        uint64_t w = atomic_load_explicit(&c->gs, memory_order_acquire);
        if (phase_of(w) != OPT_FREE || atomic_load(&c->lock))
            continue;
        uint32_t g = gen_of(w) + 1;
        if (!atomic_compare_exchange_strong(&c->gs, &w, mk_gs(g, OPT_PENDING)))
            continue;
        atomic_store_explicit(&torify_shim.opt.hint, i + 1, memory_order_relaxed);
        c->fd = -1;
        c->err = 0;
        atomic_store(&c->err_taken, 0);
        atomic_store(&c->refs, 1);
        c->what[0] = '\0';
        *gen = g;
        return c;
    }
    return NULL;
}

static void free_conn(struct opt_conn *c, uint32_t gen)
{
    uint64_t w = atomic_load(&c->gs);
    while (gen_of(w) == gen && phase_of(w) != OPT_FREE)
        if (atomic_compare_exchange_weak(&c->gs, &w, mk_gs(gen, OPT_FREE)))
            break;
}

/* The flag byte of fd from one value to another; keeps the count of
 * flagged fds (poll's fast path) right. */
static void set_flag(int fd, uint8_t to)
{
    if ((unsigned)fd >= TORIFY_FD_MAX)
        return;
    uint8_t from = atomic_exchange(&torify_shim.opt.flag[(unsigned)fd], to);
    if (from == TORIFY_OPT_FD_NONE && to != TORIFY_OPT_FD_NONE)
        atomic_fetch_add(&torify_shim.opt.active, 1);
    else if (from != TORIFY_OPT_FD_NONE && to == TORIFY_OPT_FD_NONE)
        atomic_fetch_sub(&torify_shim.opt.active, 1);
}

/* ---- connect ---------------------------------------------------------------- */

typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

/* libc's poll: ours (shim/nb_poll.c) would look at this very fd. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    poll_fn p = REAL(POLL, poll_fn);
    if (!p)
        return -1;
    int64_t left = deadline_ms - torify_now_ms();
    if (left <= 0)
        return 0;
    struct pollfd pf = { .fd = fd, .events = events };
    int r = p(&pf, 1, left > 1000 ? 1000 : (int)left);
    return r < 0 && errno == EINTR ? 1 : r;
}

struct opt_conn *torify_opt_begin(int sock, int fd, const struct torify_target *target,
                                  const struct torify_socks_opts *o, int64_t deadline_ms, uint32_t *gen,
                                  torify_err *e)
{
    *e = TORIFY_OK;
    sendto_fn snd = REAL(SENDTO, sendto_fn);
    struct stat st;
    if (!snd || fstat(sock, &st) != 0)
        return NULL;
    struct opt_conn *c = alloc_conn(gen);
    if (!c)
        return NULL; /* pool exhausted: this one waits for its reply in connect */
    torify_err ie = torify_socks_init(&c->codec, o->proto ? o->proto : TORIFY_SOCKS5, TORIFY_SOCKS_CONNECT,
                                      target, o->user, o->pass, TORIFY_SOCKS_PIPELINE);
    if (ie != TORIFY_OK) {
        free_conn(c, *gen);
        *e = ie;
        errno = torify_err_errno(ie);
        return NULL;
    }
    /* Greeting, credentials and request leave in one write: a fresh
     * socket's buffer takes them whole (at most 1 KiB). */
    while (torify_socks_want(&c->codec) == TORIFY_SOCKS_WANT_WRITE) {
        const uint8_t *out;
        size_t n = torify_socks_output(&c->codec, &out);
        ssize_t w = snd(sock, out, n, MSG_NOSIGNAL | MSG_DONTWAIT, NULL, 0);
        if (w > 0) {
            (void)torify_socks_sent(&c->codec, (size_t)w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(sock, POLLOUT, deadline_ms) >= 0 &&
            torify_now_ms() < deadline_ms)
            continue;
        *e = w < 0 ? TORIFY_E_PROTO_TRUNCATED : TORIFY_E_IO;
        if (w < 0 && errno != EPIPE && errno != ECONNRESET)
            *e = TORIFY_E_IO;
        free_conn(c, *gen);
        if (*e != TORIFY_E_IO)
            errno = torify_err_errno(*e);
        return NULL;
    }
    if (torify_socks_want(&c->codec) != TORIFY_SOCKS_WANT_READ) {
        free_conn(c, *gen); /* cannot be: a CONNECT is answered */
        return NULL;
    }
    c->fd = fd;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->deadline_ms = deadline_ms;
    torify_target_format(target, c->what, sizeof c->what);
    atomic_store(&c->lock, 0);
    return c;
}

void torify_opt_arm(int fd, struct opt_conn *c)
{
    (void)c;
    set_flag(fd, TORIFY_OPT_FD_PENDING);
    torify_log(TORIFY_LOG_DEBUG, "optimistic data: the request for %s is sent, the program may write before Tor's reply",
               c->what);
}

/* ---- the reply ----------------------------------------------------------------- */

/* fd's connection with its generation, if fd still is that socket. */
static struct opt_conn *conn_of(int fd, uint32_t *gen)
{
    struct torify_fd_rec rec;
    if (!torify_fd_get(fd, &rec) || !rec.opt)
        return NULL;
    uint64_t w = atomic_load(&rec.opt->gs);
    if (gen_of(w) != rec.opt_gen || phase_of(w) == OPT_FREE)
        return NULL;
    *gen = rec.opt_gen;
    return rec.opt;
}

static bool try_lock(struct opt_conn *c)
{
    int z = 0;
    return atomic_compare_exchange_strong(&c->lock, &z, 1);
}

static void unlock(struct opt_conn *c)
{
    atomic_store(&c->lock, 0);
}

/* Record the failure; the socket is shut down both ways so no byte of the
 * program's leaves on it after all (Tor has closed it anyway).  fd: the
 * number being read (the connected one or a copy: the same socket); the
 * other copies' flags are brought up to date by their next settle. */
static enum opt_phase fail(struct opt_conn *c, int fd, uint32_t gen, torify_err e, int sys_errno)
{
    c->err = e == TORIFY_E_IO && sys_errno ? sys_errno : torify_err_errno(e);
    uint64_t w = mk_gs(gen, OPT_PENDING);
    atomic_compare_exchange_strong(&c->gs, &w, mk_gs(gen, OPT_FAILED));
    set_flag(fd, TORIFY_OPT_FD_FAILED);
    (void)torify_sys_shutdown(fd, SHUT_RDWR);
    torify_log(TORIFY_LOG_NOTICE, "connect to %s through Tor failed (%s), after the program could write", c->what,
               torify_strerror(e));
    return OPT_FAILED;
}

/* One pass: what has arrived of the reply, never a byte more (the codec
 * asks at most for what the reply still lacks).  Called with c locked. */
static enum opt_phase advance(struct opt_conn *c, int fd, uint32_t gen)
{
    recv_fn rcv = REAL(RECV, recv_fn);
    if (!rcv)
        return fail(c, fd, gen, TORIFY_E_IO, ENOSYS);
    for (;;) {
        enum torify_socks_want w = torify_socks_want(&c->codec);
        if (w == TORIFY_SOCKS_DONE) {
            uint64_t g = mk_gs(gen, OPT_PENDING);
            atomic_compare_exchange_strong(&c->gs, &g, mk_gs(gen, OPT_DONE));
            set_flag(fd, TORIFY_OPT_FD_NONE);
            torify_log(TORIFY_LOG_DEBUG, "optimistic data: Tor's reply for %s read", c->what);
            return OPT_DONE;
        }
        if (w != TORIFY_SOCKS_WANT_READ)
            return fail(c, fd, gen, torify_socks_error(&c->codec), 0);
        uint8_t buf[sizeof c->codec.in];
        size_t need = torify_socks_need(&c->codec);
        if (need > sizeof buf)
            need = sizeof buf;
        ssize_t r = rcv(fd, buf, need, MSG_DONTWAIT);
        if (r > 0) {
            size_t used = 0;
            torify_err fe = torify_socks_feed(&c->codec, buf, (size_t)r, &used);
            if (fe != TORIFY_OK)
                return fail(c, fd, gen, fe, 0);
            continue;
        }
        if (r == 0) {
            (void)torify_socks_eof(&c->codec);
            return fail(c, fd, gen, TORIFY_E_PROTO_TRUNCATED, 0);
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (torify_now_ms() >= c->deadline_ms)
                return fail(c, fd, gen, TORIFY_E_TIMEOUT, 0);
            return OPT_PENDING;
        }
        if (errno == ECONNRESET || errno == EPIPE)
            return fail(c, fd, gen, TORIFY_E_PROTO_TRUNCATED, 0);
        return fail(c, fd, gen, TORIFY_E_IO, errno);
    }
}

enum opt_phase torify_opt_settle(int fd, bool wait, int *err)
{
    for (;;) {
        uint32_t gen;
        struct opt_conn *c = conn_of(fd, &gen);
        if (!c) {
            /* Closed or another file at this number now: nothing owed. */
            set_flag(fd, TORIFY_OPT_FD_NONE);
            return OPT_DONE;
        }
        enum opt_phase ph = phase_of(atomic_load(&c->gs));
        if (ph == OPT_FAILED) {
            /* Perhaps read through a copy (dup): this number shows it too. */
            set_flag(fd, TORIFY_OPT_FD_FAILED);
            *err = c->err;
            return OPT_FAILED;
        }
        if (ph != OPT_PENDING) {
            set_flag(fd, TORIFY_OPT_FD_NONE); /* read through a copy */
            return OPT_DONE;
        }
        struct stat st;
        if (fstat(fd, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino) {
            /* dup2 over it, close_range...: the number names another
             * file, which owes no reply. */
            torify_fd_clear(fd);
            return OPT_DONE;
        }
        if (try_lock(c)) {
            if (gen_of(atomic_load(&c->gs)) == gen) {
                ph = advance(c, fd, gen);
                if (ph == OPT_FAILED)
                    *err = c->err;
            }
            unlock(c);
            if (ph != OPT_PENDING || !wait)
                return ph;
            if (wait_fd(fd, POLLIN, c->deadline_ms) < 0) {
                *err = errno;
                return OPT_FAILED;
            }
            continue;
        }
        /* Another thread reads the reply: wait for it to finish. */
        if (!wait)
            return OPT_PENDING;
        sched_yield();
    }
}

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

int torify_opt_before_read(int fd, bool dontwait)
{
    int err = 0;
    enum opt_phase ph = torify_opt_settle(fd, !dontwait && !nonblocking(fd), &err);
    if (ph == OPT_FAILED) {
        errno = err ? err : ECONNREFUSED;
        return -1;
    }
    if (ph == OPT_PENDING) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

int torify_opt_before_write(int fd)
{
    int err = 0;
    if (torify_opt_settle(fd, false, &err) == OPT_FAILED) {
        errno = err ? err : ECONNREFUSED;
        return -1;
    }
    return 0;
}

void torify_opt_after_write_error(int fd)
{
    int saved = errno;
    if (saved != EPIPE && saved != ECONNRESET)
        return;
    /* Tor ends the stream right after a failed reply: the reply is in the
     * receive buffer by now. */
    int err = 0;
    errno = torify_opt_settle(fd, false, &err) == OPT_FAILED && err ? err : saved;
}

int torify_opt_take_error(int fd)
{
    int err = 0;
    if (torify_opt_settle(fd, false, &err) != OPT_FAILED)
        return 0;
    uint32_t gen;
    struct opt_conn *c = conn_of(fd, &gen);
    if (!c || atomic_exchange(&c->err_taken, 1))
        return 0;
    return err ? err : ECONNREFUSED;
}

short torify_opt_poll_filter(int fd, short events, short rev)
{
    (void)events;
    if (!(rev & (POLLIN | POLLRDNORM | POLLHUP | POLLERR)))
        return rev;
    int err = 0;
    enum opt_phase ph = torify_opt_settle(fd, false, &err);
    if (ph == OPT_FAILED)
        return (short)(rev | POLLERR | POLLHUP);
    if (ph == OPT_PENDING)
        return (short)(rev & ~(POLLIN | POLLRDNORM));
    if (rev & (POLLIN | POLLRDNORM)) {
        /* The reply is read: readable only if data (or the end) follows. */
        recv_fn rcv = REAL(RECV, recv_fn);
        char b;
        if (rcv && rcv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            rev = (short)(rev & ~(POLLIN | POLLRDNORM));
    }
    return rev;
}

void torify_opt_release_from_record(int fd, struct opt_conn *c, uint32_t gen)
{
    uint64_t w = atomic_load(&c->gs);
    if (gen_of(w) != gen)
        return;
    set_flag(fd, TORIFY_OPT_FD_NONE);
    /* A copy (dup) still holds it: the socket lives on there. */
    if (atomic_fetch_sub(&c->refs, 1) > 1)
        return;
    /* A reader holding the lock works on a socket being closed under it:
     * let it finish with the codec before the object may be reused (it
     * never waits while holding the lock). */
    while (atomic_load(&c->lock))
        sched_yield();
    free_conn(c, gen);
}

int torify_opt_wait_unrecorded(struct opt_conn *c, uint32_t gen)
{
    enum opt_phase ph;
    while (atomic_exchange(&c->lock, 1))
        sched_yield();
    while ((ph = advance(c, c->fd, gen)) == OPT_PENDING)
        if (wait_fd(c->fd, POLLIN, c->deadline_ms) < 0)
            ph = fail(c, c->fd, gen, TORIFY_E_IO, errno);
    int err = c->err;
    set_flag(c->fd, TORIFY_OPT_FD_NONE);
    unlock(c);
    free_conn(c, gen);
    if (ph == OPT_FAILED) {
        errno = err ? err : ECONNREFUSED;
        return -1;
    }
    return 0;
}

/* ---- copies: dup, fork, exec, SCM_RIGHTS ------------------------------------------ */

void torify_opt_copy(int from, int to)
{
    if (from == to || !torify_opt_flagged(from))
        return;
    struct torify_fd_rec rec;
    uint32_t gen;
    struct opt_conn *c = conn_of(from, &gen);
    if (!c || !torify_fd_get(from, &rec)) {
        set_flag(from, TORIFY_OPT_FD_NONE);
        return;
    }
    /* from's record holds a reference, so c stays this generation. */
    atomic_fetch_add(&c->refs, 1);
    struct torify_fd_rec copy;
    memset(&copy, 0, sizeof copy);
    copy.state = TORIFY_FD_CONNECTED;
    copy.fake_slot = TORIFY_FAKEMAP_NO_SLOT; /* from's record holds the name */
    copy.peer = rec.peer;
    copy.peer_len = rec.peer_len;
    copy.target = rec.target;
    copy.opt = c;
    copy.opt_gen = gen;
    if (!torify_fd_set(to, &copy)) {
        /* No record for the copy: no reply may be owed on it. */
        (void)atomic_fetch_sub(&c->refs, 1);
        int err;
        (void)torify_opt_settle(from, true, &err);
        return;
    }
    enum opt_phase ph = phase_of(atomic_load(&c->gs));
    set_flag(to, ph == OPT_FAILED ? TORIFY_OPT_FD_FAILED : ph == OPT_PENDING ? TORIFY_OPT_FD_PENDING
                                                                             : TORIFY_OPT_FD_NONE);
}

void torify_opt_settle_all(bool skip_cloexec)
{
    if (!torify_opt_some_flagged())
        return;
    int saved = errno;
    /* Flagged fds have records: walk the bitmap's set bits. */
    for (unsigned w = 0; w < TORIFY_FD_MAX / 64; w++) {
        uint64_t bits = atomic_load_explicit(&torify_shim.fd_bits[w], memory_order_acquire);
        while (bits) {
            int fd = (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
            bits &= bits - 1;
            if (!torify_opt_flagged(fd))
                continue;
            if (skip_cloexec) {
                int fl = fcntl(fd, F_GETFD);
                if (fl >= 0 && (fl & FD_CLOEXEC))
                    continue;
            }
            int err;
            (void)torify_opt_settle(fd, true, &err);
        }
        if (!torify_opt_some_flagged())
            break;
    }
    errno = saved;
}
