/* shim/nb_conn.c — the pool of non-blocking connection objects (see nb.h).
 *
 * Chunks are mmap'ed on demand and never unmapped, so a pointer to an object
 * stays valid forever; the generation in gs tells whether it still means
 * the same connection.  Allocation is a compare-and-swap scan (no lock: a
 * forked child must never find a lock held by a thread that does not exist
 * there); recycling is a compare-and-swap by whoever drops the last
 * reference, and is async-signal-safe (close() of the eventfd, atomics).
 *
 * The scan starts at the hint, kept at (or below) the lowest free object:
 * recycling lowers it, an allocation raises it past what it took.  So the
 * objects in use stay packed at the bottom of the pool and the pages
 * touched are what the peak number of connects in flight needs (a
 * round-robin hint walked every object, ~34 MiB resident, after 16k
 * sequential connects).  A lost update (two threads at once) only makes a
 * scan start a little off; the scan still covers the whole pool.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/state.h"
#include "shim/nb.h"
#include "shim/real.h"

/* Zeroed memory is a valid pool: gs 0 is generation 0, NB_FREE, and
 * glibc's PTHREAD_MUTEX_INITIALIZER is all zeroes. */
static struct nb_conn *chunk_at(unsigned i, bool create)
{
    return torify_shim_chunk(&torify_shim.nb.chunks[i], TORIFY_NB_CHUNK * sizeof(struct nb_conn), create);
}

struct nb_conn *torify_nb_alloc(uint32_t *gen)
{
    unsigned total = TORIFY_NB_CHUNK * TORIFY_NB_CHUNKS;
    unsigned hint = atomic_load_explicit(&torify_shim.nb.hint, memory_order_relaxed);
    unsigned start = hint % total;
    for (unsigned k = 0; k < total; k++) {
        unsigned i = (start + k) % total;
        struct nb_conn *ch = chunk_at(i / TORIFY_NB_CHUNK, true);
        if (!ch)
            return NULL;
        struct nb_conn *c = &ch[i % TORIFY_NB_CHUNK];
        uint64_t w = atomic_load_explicit(&c->gs, memory_order_acquire);
        if (nb_phase_of(w) != NB_FREE)
            continue;
        uint32_t g = nb_gen_of(w) + 1;
        if (!atomic_compare_exchange_strong(&c->gs, &w, nb_gs(g, NB_RESERVED)))
            continue;
        /* Only from the value this scan started at: a recycle that lowered
         * the hint meanwhile wins (everything below i was busy when seen). */
        atomic_compare_exchange_strong_explicit(&torify_shim.nb.hint, &hint, i + 1, memory_order_relaxed,
                                                memory_order_relaxed);
        c->slot = i;
        /* fetch_add, not store: a poll() that raced with the previous
         * generation may still be between its increment and decrement. */
        atomic_fetch_add(&c->refs, 2);
        atomic_store(&c->cancelled, 0);
        atomic_store(&c->detached, 0);
        atomic_store(&c->err, 0);
        atomic_store(&c->err_taken, 0);
        atomic_store(&c->ok_taken, 0);
        atomic_store(&c->swapping, 0);
        c->fd = c->dup = c->evfd = -1;
        atomic_store(&c->evholds, 1); /* the helper's */
        c->tcp_up = c->finished = false;
        c->interest = 0;
        c->next = NULL;
        c->deadline_ms = c->connect_deadline_ms = 0;
        for (int r = 0; r < NB_REGS; r++) {
            c->regs[r].epfd = -1;
            c->regs[r].epdup = -1;
        }
        c->what[0] = '\0';
        *gen = g;
        return c;
    }
    return NULL;
}

void torify_nb_put(struct nb_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    uint64_t w = atomic_load(&c->gs);
    enum nb_phase p = nb_phase_of(w);
    if (p != NB_OK && p != NB_FAILED && p != NB_ORPHAN)
        return; /* a stray hold on a free or fresh object: nothing to recycle */
    if (atomic_load(&c->refs) != 0)
        return;
    /* One winner closes the eventfd (if no one did yet: a connection that
     * never reached the helper); the generation stays until reuse.
     * RESERVED while it does, so no allocator takes the object before its
     * fields are let go (an allocator only takes FREE ones). */
    if (atomic_compare_exchange_strong(&c->gs, &w, nb_gs(nb_gen_of(w), NB_RESERVED))) {
        if (!(atomic_exchange(&c->evholds, NB_EV_CLOSED) & NB_EV_CLOSED) && c->evfd >= 0)
            torify_real_close(c->evfd);
        c->evfd = -1;
        unsigned slot = c->slot;
        atomic_store_explicit(&c->gs, nb_gs(nb_gen_of(w), NB_FREE), memory_order_release);
        /* The lowest free object is where the next scan starts. */
        unsigned h = atomic_load_explicit(&torify_shim.nb.hint, memory_order_relaxed);
        while (slot < h && !atomic_compare_exchange_weak_explicit(&torify_shim.nb.hint, &h, slot,
                                                                  memory_order_relaxed, memory_order_relaxed))
            ;
    }
}

bool torify_nb_ev_hold(struct nb_conn *c)
{
    int v = atomic_load(&c->evholds);
    do {
        if (v & NB_EV_CLOSED)
            return false;
    } while (!atomic_compare_exchange_weak(&c->evholds, &v, v + 1));
    return true;
}

void torify_nb_ev_drop(struct nb_conn *c)
{
    if (atomic_fetch_sub(&c->evholds, 1) != 1)
        return;
    /* Last hold gone; a new one may still race in: whoever wins closes. */
    int zero = 0;
    if (atomic_compare_exchange_strong(&c->evholds, &zero, NB_EV_CLOSED) && c->evfd >= 0)
        torify_real_close(c->evfd);
}

struct nb_conn *torify_nb_get(int fd, enum nb_phase *phase)
{
    struct torify_fd_rec rec;
    if (!torify_fd_get(fd, &rec) || !rec.codec)
        return NULL;
    struct nb_conn *c = rec.codec;
    atomic_fetch_add(&c->refs, 1);
    uint64_t w = atomic_load(&c->gs);
    enum nb_phase p = nb_phase_of(w);
    if (nb_gen_of(w) != rec.codec_gen || p == NB_FREE || p == NB_RESERVED) {
        torify_nb_put(c);
        return NULL;
    }
    /* The number may name another file now (dup2/dup3 over it, close_range,
     * syscall(SYS_close) and a reuse: none of them clears the record).
     * That file is the program's, not this connection. */
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_ino != c->ino || st.st_dev != c->dev) {
        torify_nb_put(c);
        return NULL;
    }
    *phase = p;
    return c;
}

int torify_nb_take_error(struct nb_conn *c)
{
    if (atomic_exchange(&c->err_taken, 1))
        return 0;
    return atomic_load(&c->err);
}

void torify_nb_each(void (*fn)(struct nb_conn *c))
{
    for (unsigned i = 0; i < TORIFY_NB_CHUNKS; i++) {
        struct nb_conn *ch = chunk_at(i, false);
        if (!ch)
            continue;
        for (unsigned j = 0; j < TORIFY_NB_CHUNK; j++)
            fn(&ch[j]);
    }
}

/* The fd record's reference, dropped by close() (torify_fd_clear): mark
 * the connection cancelled so the helper lets go of its dup at once. */
void torify_nb_release_from_record(struct nb_conn *c, uint32_t gen)
{
    uint64_t w = atomic_load(&c->gs);
    if (nb_gen_of(w) == gen) {
        /* Dekker-style with the helper's swap (nb_helper.c, finish): either
         * it sees the cancel and leaves the fd number alone, or we see it
         * at work and let it finish before libc's close frees the number.
         * No lock: the helper runs with signals blocked and never waits
         * for us, so this spin always ends, also in a signal handler. */
        atomic_store(&c->cancelled, 1);
        while (atomic_load(&c->swapping))
            sched_yield();
        if (nb_phase_of(w) == NB_CONNECTING)
            torify_nb_wake();
    }
    torify_nb_put(c);
}
