/* core/fakemap.c — see fakemap.h.
 *
 * Layout of the one shared mapping (a sealed memfd, or anonymous memory
 * when memfd_create is unavailable):
 *   struct shared   header: magic, version, geometry, ranges, the
 *                   lock word, the LRU ends
 *   struct slot     slots[capacity]
 *   uint32_t        index[index_size]   open addressing, linear probing;
 *                   0 = empty, else slot + 1.  index_size is a power of two
 *                   >= 2 * capacity, so probes stay short.
 *
 * The geometry (capacity, offsets, ranges, hash function) lives in the
 * process-local handle, computed from this process's own configuration;
 * the shared header only has to agree with it when a map is attached.
 * Everything else read from the shared memory is untrusted: another
 * process with the same uid may scribble on it.  Every slot number and
 * length read from it is loaded once and bounds-checked before use, and
 * every walk (probe sequence, LRU list) is bounded, so a corrupt map can
 * give wrong names but never make this code touch memory outside the
 * mapping or loop forever.  Detected damage is repaired by rebuilding the
 * index and LRU list from the slots (as after a dead lock holder).
 */
#include "core/fakemap.h"
#include "core/clock.h"
#include "core/sys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAGIC "torifymp"
#define VERSION 3u /* 3: the lock is an owner word (pid) + futex, plus "dirty" */
#define NO_SLOT TORIFY_FAKEMAP_NO_SLOT

/* Relaxed single loads/stores of shared fields: a value is read once, then
 * checked and used from a local, so a concurrent writer cannot change it
 * between the check and the use. */
#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

struct slot {
    _Atomic uint32_t holds;      /* live connections using this name */
    uint32_t prev, next;         /* LRU list: head is the most recently used */
    uint8_t in_use;
    uint8_t len;
    uint64_t hash;
    char name[TORIFY_FAKEMAP_NAME_MAX + 1];
};

struct wire_range {              /* a range as the header stores it: no padding */
    uint8_t addr[16];
    uint8_t prefix;
    uint8_t family4;             /* 1: AF_INET, 0: AF_INET6 */
    uint8_t pad[6];
};

struct shared {
    char magic[8];
    uint32_t version;
    uint32_t capacity;
    uint32_t index_size;
    uint32_t slot_size;
    uint64_t map_len;
    uint64_t slots_off, index_off;
    struct wire_range range4, range6;
    union {
        pthread_mutex_t mutex;   /* a map without a memfd (forked children only) */
        uint32_t owner;          /* a memfd map: pid of the holding process, 0 = free */
    } lock;
    uint32_t fresh;              /* slots [0, fresh) have been handed out at least once */
    uint32_t count;              /* slots in use */
    uint32_t lru_head, lru_tail; /* NO_SLOT when empty */
    uint32_t dirty;              /* set while a holder updates: still set = it died mid-update */
};

/* The process-local handle: trusted geometry and pointers into the mapping. */
struct torify_fakemap {
    struct shared *sh;
    size_t map_len;
    uint32_t capacity;
    uint32_t index_mask;
    struct torify_cidr range4, range6;
    torify_fakemap_hash_fn hash;
    struct slot *slots;
    uint32_t *index;
    int fd;                      /* the memfd, or -1 */
    int lfd;                     /* the memfd (owner-word lock), or -1 (no memfd: robust mutex) */
    dev_t ldev;                  /* its identity: the program may close the number and */
    ino_t lino;                  /* reuse it for a file of its own */
    _Atomic int plock;           /* the lock between this process's threads: 0 or the holder's pid */
};

uint64_t torify_fakemap_hash_default(const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* How many host addresses (excluding the network's first one) a range has,
 * capped at limit. */
static uint64_t range_room(const struct torify_cidr *r, uint64_t limit)
{
    unsigned bits = (r->family == AF_INET ? 32u : 128u) - r->prefix;
    if (bits >= 63)
        return limit;
    uint64_t n = (1ull << bits);
    n = n > 2 ? n - 2 : 0; /* skip the network address and the last one */
    return n < limit ? n : limit;
}

static void wire_range(const struct torify_cidr *r, struct wire_range *w)
{
    memset(w, 0, sizeof *w);
    memcpy(w->addr, r->addr, 16);
    w->prefix = r->prefix;
    w->family4 = r->family == AF_INET;
}

/* Geometry of a map for opts: the same computation in the creating process
 * and in one attaching to it, so both must agree byte for byte. */
static torify_err layout(const struct torify_fakemap_opts *opts, struct torify_fakemap *m, struct shared *hdr)
{
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (o.range4.family == 0)
        torify_cidr_parse("127.192.0.0/10", &o.range4);
    if (o.range6.family == 0)
        torify_cidr_parse("100::/64", &o.range6);
    if (o.range4.family != AF_INET || o.range6.family != AF_INET6 || o.range4.prefix > 32 ||
        o.range6.prefix > 128)
        return TORIFY_E_INVAL_ARGUMENT;
    uint64_t cap = o.capacity ? o.capacity : TORIFY_FAKEMAP_DEFAULT_CAPACITY;
    if (cap > (1u << 24))
        cap = 1u << 24; /* memory bound: 16M names is far beyond any program */
    cap = range_room(&o.range4, cap);
    cap = range_room(&o.range6, cap);
    if (cap < 2)
        return TORIFY_E_INVAL_ARGUMENT;
    uint32_t index_size = 1;
    while (index_size < 2 * cap)
        index_size <<= 1;
    size_t slots_off = (sizeof(struct shared) + 63) & ~(size_t)63;
    size_t index_off = slots_off + (size_t)cap * sizeof(struct slot);
    size_t len = index_off + (size_t)index_size * sizeof(uint32_t);

    memset(m, 0, sizeof *m);
    m->map_len = len;
    m->capacity = (uint32_t)cap;
    m->index_mask = index_size - 1;
    m->range4 = o.range4;
    m->range6 = o.range6;
    m->hash = o.hash ? o.hash : torify_fakemap_hash_default;
    m->fd = m->lfd = -1;

    memset(hdr, 0, sizeof *hdr);
    memcpy(hdr->magic, MAGIC, sizeof hdr->magic);
    hdr->version = VERSION;
    hdr->capacity = (uint32_t)cap;
    hdr->index_size = index_size;
    hdr->slot_size = (uint32_t)sizeof(struct slot);
    hdr->map_len = len;
    hdr->slots_off = slots_off;
    hdr->index_off = index_off;
    wire_range(&o.range4, &hdr->range4);
    wire_range(&o.range6, &hdr->range6);
    return TORIFY_OK;
}

static void set_pointers(struct torify_fakemap *m, void *p)
{
    m->sh = p;
    m->slots = (struct slot *)((char *)p + ((sizeof(struct shared) + 63) & ~(size_t)63));
    m->index = (uint32_t *)((char *)m->slots + (size_t)m->capacity * sizeof(struct slot));
}

/* ---- bounds-checked access to shared values ---- */

static bool ok_slot(const struct torify_fakemap *m, uint32_t s)
{
    return s < m->capacity;
}

/* A list link: NO_SLOT or a slot number. */
static bool ok_link(const struct torify_fakemap *m, uint32_t s)
{
    return s == NO_SLOT || s < m->capacity;
}

static uint32_t fresh_of(const struct torify_fakemap *m)
{
    uint32_t f = LD(m->sh->fresh);
    return f < m->capacity ? f : m->capacity;
}

/* ---- index and LRU list (under the lock) ----
 * Each returns false when it meets damage; the caller repairs and retries. */

static bool index_insert(struct torify_fakemap *m, uint32_t s, uint64_t h)
{
    uint32_t i = (uint32_t)h & m->index_mask;
    for (uint32_t n = 0; n <= m->index_mask; n++, i = (i + 1) & m->index_mask) {
        if (LD(m->index[i]) == 0) {
            ST(m->index[i], s + 1);
            return true;
        }
    }
    return false; /* full: cannot happen with at most capacity entries */
}

/* Remove slot s from the index by backward shifting, so no tombstones pile
 * up however often slots are recycled. */
static bool index_remove(struct torify_fakemap *m, uint32_t s, uint64_t h)
{
    uint32_t *idx = m->index;
    uint32_t mask = m->index_mask;
    uint32_t p = (uint32_t)h & mask;
    uint32_t n = 0;
    for (;;) {
        uint32_t e = LD(idx[p]);
        if (e == s + 1)
            break;
        if (e == 0 || ++n > mask)
            return false; /* not indexed: damage */
        p = (p + 1) & mask;
    }
    ST(idx[p], 0);
    n = 0;
    for (uint32_t j = (p + 1) & mask; n <= mask; j = (j + 1) & mask, n++) {
        uint32_t e = LD(idx[j]);
        if (e == 0)
            return true;
        if (!ok_slot(m, e - 1))
            return false;
        uint32_t k = (uint32_t)LD(m->slots[e - 1].hash) & mask;
        /* Move idx[j] back to p unless its home k lies cyclically in (p, j]. */
        bool home_between = p <= j ? (k > p && k <= j) : (k > p || k <= j);
        if (!home_between) {
            ST(idx[p], e);
            ST(idx[j], 0);
            p = j;
        }
    }
    return false;
}

static bool lru_unlink(struct torify_fakemap *m, uint32_t s)
{
    struct slot *sl = m->slots;
    uint32_t prev = LD(sl[s].prev), next = LD(sl[s].next);
    if (!ok_link(m, prev) || !ok_link(m, next))
        return false;
    if (prev != NO_SLOT)
        ST(sl[prev].next, next);
    else
        ST(m->sh->lru_head, next);
    if (next != NO_SLOT)
        ST(sl[next].prev, prev);
    else
        ST(m->sh->lru_tail, prev);
    ST(sl[s].prev, NO_SLOT);
    ST(sl[s].next, NO_SLOT);
    return true;
}

static bool lru_push_front(struct torify_fakemap *m, uint32_t s)
{
    struct slot *sl = m->slots;
    uint32_t head = LD(m->sh->lru_head);
    if (!ok_link(m, head))
        return false;
    ST(sl[s].prev, NO_SLOT);
    ST(sl[s].next, head);
    if (head != NO_SLOT)
        ST(sl[head].prev, s);
    ST(m->sh->lru_head, s);
    if (LD(m->sh->lru_tail) == NO_SLOT)
        ST(m->sh->lru_tail, s);
    return true;
}

static bool lru_touch(struct torify_fakemap *m, uint32_t s)
{
    if (LD(m->sh->lru_head) == s)
        return true;
    return lru_unlink(m, s) && lru_push_front(m, s);
}

/* Rebuild the index, the LRU list and the count from the slots, which are
 * the truth (a slot is marked in_use only once complete).  Used after a
 * process died holding the lock and whenever damage is detected. */
static void rebuild(struct torify_fakemap *m)
{
    memset(m->index, 0, ((size_t)m->index_mask + 1) * sizeof(uint32_t));
    struct slot *sl = m->slots;
    uint32_t fresh = fresh_of(m);
    ST(m->sh->fresh, fresh);
    ST(m->sh->lru_head, NO_SLOT);
    ST(m->sh->lru_tail, NO_SLOT);
    /* Slots a dead process had taken but not completed go to the tail, so
     * they are the first to be reused instead of being lost. */
    for (uint32_t s = 0; s < fresh; s++)
        if (!LD(sl[s].in_use))
            (void)lru_push_front(m, s);
    uint32_t n = 0;
    for (uint32_t s = 0; s < fresh; s++) {
        if (!LD(sl[s].in_use))
            continue;
        if (LD(sl[s].len) > TORIFY_FAKEMAP_NAME_MAX || !index_insert(m, s, LD(sl[s].hash)))
            ST(sl[s].in_use, 0); /* unusable: drop it */
        else
            n++;
        (void)lru_push_front(m, s);
    }
    ST(m->sh->count, n);
}

/* The lock.  Not a pthread mutex in the shared memory: glibc's robust
 * mutex keeps its robust-list links inside the mutex and unlock writes
 * through them, so whoever can write the memfd could make every process
 * write where it likes.  And not a record lock on the memfd: a program
 * that closes all its fds (a daemon's close-all loop after its first
 * lookup) would lose it, and with it every later name lookup.  Instead:
 * an owner word in the header (the holding process's pid, 0 = free) with
 * a shared futex to sleep on, between processes, and an atomic word in
 * this process's own memory between its threads.  A holder that died
 * (kill(pid, 0): ESRCH) is replaced; so is one that holds the word for
 * more than OWNER_PATIENCE_MS (stopped mid-update, or a forged pid from a
 * hostile writer): waiting is bounded, and the damage checks cope with
 * the rare concurrent update that can follow.  "dirty" in the header says
 * the last holder died mid-update (a hostile process setting it only costs
 * a rebuild).  The process-local word holds the holder's pid: in a child
 * forked while a thread of the parent held it, no thread holds it, and
 * the child takes it over.  A map without a memfd is shared only with
 * forked children and keeps the robust mutex. */
#define OWNER_PATIENCE_MS 2000

static void plock_acquire(struct torify_fakemap *m, int me)
{
    for (unsigned spins = 0;; spins++) {
        int cur = 0;
        if (atomic_compare_exchange_weak(&m->plock, &cur, me))
            return;
        if (cur != 0 && cur != me && atomic_compare_exchange_weak(&m->plock, &cur, me))
            return; /* a copy from the process we were forked from */
        if (spins < 64) {
            sched_yield();
        } else {
            struct timespec ts = { 0, 100000 };
            nanosleep(&ts, NULL);
        }
    }
}

static long futex_op(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    /* Shared (no FUTEX_PRIVATE_FLAG): the waiters are other processes. */
    return torify_sys_futex(word, op, val, ts);
}

static void owner_acquire(struct torify_fakemap *m, uint32_t me)
{
    uint32_t *w = &m->sh->lock.owner;
    int saved = errno;
    int64_t start = -1;
    for (;;) {
        uint32_t cur = 0;
        if (__atomic_compare_exchange_n(w, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
        /* Our own pid cannot be a live holder (plock excludes our threads):
         * a stale or forged value, as is one that is no pid at all. */
        bool gone = cur == me || cur > (uint32_t)INT32_MAX || (kill((pid_t)cur, 0) != 0 && errno == ESRCH);
        if (!gone) {
            int64_t t = torify_now_ms();
            if (start < 0)
                start = t;
            gone = t - start > OWNER_PATIENCE_MS;
        }
        if (gone) {
            if (__atomic_compare_exchange_n(w, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                break;
            continue;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        (void)futex_op(w, FUTEX_WAIT, cur, &ts);
    }
    errno = saved;
}

static void owner_release(struct torify_fakemap *m, uint32_t me)
{
    uint32_t *w = &m->sh->lock.owner;
    uint32_t cur = me;
    /* Only our own: a holder that took over from us keeps its lock. */
    if (__atomic_compare_exchange_n(w, &cur, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        int saved = errno;
        (void)futex_op(w, FUTEX_WAKE, 1, NULL);
        errno = saved;
    }
}

static int lock_map(struct torify_fakemap *m)
{
    if (m->lfd < 0) {
        int r = pthread_mutex_lock(&m->sh->lock.mutex);
        if (r == EOWNERDEAD) {
            /* A process died holding the lock, maybe mid-update. */
            rebuild(m);
            pthread_mutex_consistent(&m->sh->lock.mutex);
            return 0;
        }
        return r;
    }
    int me = (int)getpid();
    plock_acquire(m, me);
    owner_acquire(m, (uint32_t)me);
    if (LD(m->sh->dirty))
        rebuild(m); /* a process died holding the lock, maybe mid-update */
    ST(m->sh->dirty, 1);
    return 0;
}

static void unlock_map(struct torify_fakemap *m)
{
    if (m->lfd < 0) {
        pthread_mutex_unlock(&m->sh->lock.mutex);
        return;
    }
    ST(m->sh->dirty, 0);
    owner_release(m, (uint32_t)atomic_load(&m->plock));
    atomic_store(&m->plock, 0);
}

/* ---- creation, attaching ---- */

static torify_err init_shared(struct torify_fakemap *m, void *p, const struct shared *hdr)
{
    set_pointers(m, p);
    struct shared *sh = m->sh;
    memcpy(sh, hdr, offsetof(struct shared, lock));
    sh->lru_head = sh->lru_tail = NO_SLOT;
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return TORIFY_E_IO;
    int r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (r == 0)
        r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (r == 0 && m->lfd < 0)
        r = pthread_mutex_init(&sh->lock.mutex, &a);
    else if (r == 0)
        __atomic_store_n(&sh->lock.owner, 0, __ATOMIC_RELEASE);
    pthread_mutexattr_destroy(&a);
    return r == 0 ? TORIFY_OK : TORIFY_E_IO;
}

/* A sealed memfd of len bytes: its size can never change, so no process can
 * shrink it under another's mapping (which would turn reads into SIGBUS). */
static int make_memfd(size_t len)
{
#ifdef MFD_ALLOW_SEALING
    int fd = memfd_create("torify-fakemap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) != 0 ||
        torify_sys_fcntl_int(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        torify_sys_close(fd);
        return -1;
    }
    return fd;
#else
    (void)len;
    return -1;
#endif
}

torify_err torify_fakemap_create(struct torify_fakemap **out, const struct torify_fakemap_opts *opts)
{
    struct torify_fakemap *m = calloc(1, sizeof *m);
    if (!m)
        return TORIFY_E_IO;
    struct shared hdr;
    torify_err e = layout(opts, m, &hdr);
    if (e) {
        free(m);
        return e;
    }
    /* MAP_SHARED: forked children see and update the same table; the memfd
     * lets an exec'd program attach to it too.  MAP_NORESERVE: pages cost
     * memory only once touched. */
    int fd = make_memfd(m->map_len);
    void *p = fd >= 0 ? mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0)
                      : mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                             -1, 0);
    if (p == MAP_FAILED) {
        if (fd >= 0)
            torify_sys_close(fd);
        free(m);
        return TORIFY_E_IO;
    }
    m->fd = fd;
    m->lfd = fd;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        m->ldev = st.st_dev;
        m->lino = st.st_ino;
    } else {
        m->lfd = -1; /* cannot tell it later: the robust mutex then */
    }
    if (init_shared(m, p, &hdr) != TORIFY_OK) {
        torify_fakemap_destroy(m);
        return TORIFY_E_IO;
    }
    *out = m;
    return TORIFY_OK;
}

torify_err torify_fakemap_attach(struct torify_fakemap **out, int fd, uint64_t ino,
                                 const struct torify_fakemap_opts *opts)
{
    if (fd < 0)
        return TORIFY_E_INVAL_ARGUMENT;
    struct torify_fakemap *m = calloc(1, sizeof *m);
    if (!m)
        return TORIFY_E_IO;
    struct shared want;
    torify_err e = layout(opts, m, &want);
    if (e)
        goto fail;
    e = TORIFY_E_INVAL_ARGUMENT;
    if (m->hash != torify_fakemap_hash_default)
        goto fail; /* another process cannot share a private hash function */
    /* The fd must be the very file the environment names, of the size this
     * process's configuration gives, sealed so that size can never change. */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != ino ||
        st.st_size < 0 || (uint64_t)st.st_size != m->map_len)
        goto fail;
#ifdef F_GET_SEALS
    int seals = torify_sys_fcntl_int(fd, F_GET_SEALS, 0);
    int need = F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
    if (seals < 0 || (seals & need) != need)
        goto fail;
#else
    goto fail;
#endif
    void *p = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        e = TORIFY_E_IO;
        goto fail;
    }
    /* Same magic, version and geometry as this process would create. */
    struct shared got;
    memcpy(&got, p, offsetof(struct shared, lock));
    if (memcmp(&got, &want, offsetof(struct shared, lock)) != 0) {
        munmap(p, m->map_len);
        goto fail;
    }
    set_pointers(m, p);
    m->fd = -1; /* not ours to close: it belongs to the environment's owner */
    m->lfd = fd;
    m->ldev = st.st_dev;
    m->lino = st.st_ino;
    *out = m;
    return TORIFY_OK;
fail:
    free(m);
    return e;
}

int torify_fakemap_fd(const struct torify_fakemap *m)
{
    return m ? m->fd : -1;
}

int torify_fakemap_export(struct torify_fakemap *m, int min_fd, uint64_t *ino)
{
    if (!m || m->fd < 0)
        return -1;
    struct stat st;
    if (fstat(m->fd, &st) != 0)
        return -1;
    int nfd = torify_sys_fcntl_int(m->fd, F_DUPFD, min_fd); /* no FD_CLOEXEC: it must survive exec */
    if (nfd < 0)
        return -1;
    torify_sys_close(m->fd);
    m->fd = m->lfd = nfd;
    *ino = (uint64_t)st.st_ino;
    return nfd;
}

/* Is m->lfd still our memfd?  The program may have closed the number and
 * reused it for a file of its own, which destroy must not close. */
static bool lfd_is_ours(const struct torify_fakemap *m)
{
    struct stat st;
    return fstat(m->lfd, &st) == 0 && st.st_ino == m->lino && st.st_dev == m->ldev;
}

void torify_fakemap_destroy(struct torify_fakemap *m)
{
    if (!m)
        return;
    if (m->sh)
        munmap(m->sh, m->map_len);
    if (m->fd >= 0 && (m->lfd != m->fd || lfd_is_ours(m)))
        torify_sys_close(m->fd); /* not a file of the program's that took the number */
    free(m);
}

uint32_t torify_fakemap_capacity(const struct torify_fakemap *m)
{
    return m->capacity;
}

uint32_t torify_fakemap_count(struct torify_fakemap *m)
{
    if (lock_map(m) != 0)
        return 0;
    uint32_t n = LD(m->sh->count);
    unlock_map(m);
    return n < m->capacity ? n : m->capacity;
}

/* Lower-case, drop one trailing dot: "Example.COM." and "example.com" are one name. */
static torify_err normalise(const char *name, size_t len, char out[TORIFY_FAKEMAP_NAME_MAX + 1], size_t *out_len)
{
    if (!name || len == 0)
        return TORIFY_E_INVAL_HOST_EMPTY;
    if (memchr(name, '\0', len))
        return TORIFY_E_INVAL_HOST_NUL;
    if (len > 1 && name[len - 1] == '.')
        len--;
    if (len > TORIFY_FAKEMAP_NAME_MAX)
        return TORIFY_E_INVAL_HOST_TOO_LONG;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[len] = '\0';
    *out_len = len;
    return TORIFY_OK;
}

/* Slot of a name, or NO_SLOT.  *damaged is set when the probe meets an
 * entry that cannot be right. */
static uint32_t index_find(struct torify_fakemap *m, uint64_t h, const char *name, size_t len, bool *damaged)
{
    uint32_t i = (uint32_t)h & m->index_mask;
    for (uint32_t n = 0; n <= m->index_mask; n++, i = (i + 1) & m->index_mask) {
        uint32_t e = LD(m->index[i]);
        if (e == 0)
            return NO_SLOT;
        if (!ok_slot(m, e - 1)) {
            *damaged = true;
            return NO_SLOT;
        }
        struct slot *s = &m->slots[e - 1];
        /* len <= NAME_MAX, so the compare stays inside the slot. */
        if (LD(s->hash) == h && LD(s->len) == len && memcmp(s->name, name, len) == 0)
            return e - 1;
    }
    *damaged = true; /* an index with no empty entry */
    return NO_SLOT;
}

/* Least recently used slot that no live connection holds, searched from
 * the tail of the LRU list; bounded by the capacity.  NO_SLOT if every
 * slot is held (or the list is damaged: *damaged). */
static uint32_t pick_victim(struct torify_fakemap *m, bool *damaged)
{
    struct slot *sl = m->slots;
    uint32_t s = LD(m->sh->lru_tail);
    for (uint32_t n = 0; s != NO_SLOT && n < m->capacity; n++) {
        if (!ok_slot(m, s)) {
            *damaged = true;
            return NO_SLOT;
        }
        if (atomic_load(&sl[s].holds) == 0)
            return s;
        s = LD(sl[s].prev);
    }
    return NO_SLOT;
}

/* One attempt of assign under the lock: 0 done, 1 damaged (repair and
 * retry), -1 every slot held. */
static int assign_locked(struct torify_fakemap *m, const char *norm, size_t nlen, uint64_t h, uint32_t *slot)
{
    struct slot *sl = m->slots;
    bool damaged = false;
    uint32_t s = index_find(m, h, norm, nlen, &damaged);
    if (damaged)
        return 1;
    if (s != NO_SLOT) {
        if (!lru_touch(m, s))
            return 1;
        *slot = s;
        return 0;
    }
    uint32_t fresh = fresh_of(m);
    if (fresh < m->capacity) {
        s = fresh;
        ST(m->sh->fresh, fresh + 1);
    } else {
        s = pick_victim(m, &damaged);
        if (damaged)
            return 1;
        if (s == NO_SLOT)
            return -1;
        if (!lru_unlink(m, s))
            return 1;
        if (LD(sl[s].in_use)) { /* (an incomplete slot left by a dead process is not indexed) */
            if (!index_remove(m, s, LD(sl[s].hash)))
                return 1;
            ST(sl[s].in_use, 0);
            uint32_t c = LD(m->sh->count);
            ST(m->sh->count, c ? c - 1 : 0);
        }
    }
    memcpy(sl[s].name, norm, nlen + 1);
    ST(sl[s].len, (uint8_t)nlen);
    ST(sl[s].hash, h);
    atomic_store(&sl[s].holds, 0);
    ST(sl[s].in_use, 1);
    if (!index_insert(m, s, h) || !lru_push_front(m, s))
        return 1;
    ST(m->sh->count, LD(m->sh->count) + 1);
    *slot = s;
    return 0;
}

torify_err torify_fakemap_assign(struct torify_fakemap *m, const char *name, size_t len, uint32_t *slot)
{
    char norm[TORIFY_FAKEMAP_NAME_MAX + 1];
    size_t nlen;
    torify_err e = normalise(name, len, norm, &nlen);
    if (e)
        return e;
    uint64_t h = m->hash(norm, nlen);
    if (lock_map(m) != 0)
        return TORIFY_E_IO;
    int r = assign_locked(m, norm, nlen, h, slot);
    if (r == 1) { /* damaged map: repair once and retry */
        rebuild(m);
        r = assign_locked(m, norm, nlen, h, slot);
    }
    unlock_map(m);
    if (r == 0)
        return TORIFY_OK;
    errno = r < 0 ? ENOSPC : EIO;
    return TORIFY_E_IO;
}

void torify_fakemap_addr4(const struct torify_fakemap *m, uint32_t slot, uint8_t out[4])
{
    uint32_t base = (uint32_t)m->range4.addr[0] << 24 | (uint32_t)m->range4.addr[1] << 16 |
                    (uint32_t)m->range4.addr[2] << 8 | m->range4.addr[3];
    uint32_t a = base + 1 + slot;
    out[0] = (uint8_t)(a >> 24);
    out[1] = (uint8_t)(a >> 16);
    out[2] = (uint8_t)(a >> 8);
    out[3] = (uint8_t)a;
}

static uint64_t low64(const uint8_t *a)
{
    uint64_t v = 0;
    for (int i = 8; i < 16; i++)
        v = v << 8 | a[i];
    return v;
}

void torify_fakemap_addr6(const struct torify_fakemap *m, uint32_t slot, uint8_t out[16])
{
    memcpy(out, m->range6.addr, 16);
    uint64_t v = low64(m->range6.addr) + 1 + slot;
    for (int i = 15; i >= 8; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

bool torify_fakemap_in_range(const struct torify_fakemap *m, int family, const uint8_t *addr)
{
    return torify_cidr_contains(family == AF_INET ? &m->range4 : &m->range6, family, addr);
}

/* Address -> slot by arithmetic; NO_SLOT when outside the slot area. */
static uint32_t slot_of_addr(const struct torify_fakemap *m, int family, const uint8_t *addr)
{
    uint64_t off;
    if (family == AF_INET) {
        uint32_t a = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 | addr[3];
        uint32_t base = (uint32_t)m->range4.addr[0] << 24 | (uint32_t)m->range4.addr[1] << 16 |
                        (uint32_t)m->range4.addr[2] << 8 | m->range4.addr[3];
        off = (uint64_t)(a - base);
    } else {
        if (memcmp(addr, m->range6.addr, 8) != 0)
            return NO_SLOT;
        off = low64(addr) - low64(m->range6.addr);
    }
    if (off == 0 || off - 1 >= m->capacity)
        return NO_SLOT;
    return (uint32_t)(off - 1);
}

static torify_err lookup(struct torify_fakemap *m, int family, const uint8_t *addr, char *name, size_t name_len,
                         uint32_t *slot, bool hold)
{
    if ((family != AF_INET && family != AF_INET6) || !torify_fakemap_in_range(m, family, addr))
        return TORIFY_E_INVAL_TARGET;
    uint32_t s = slot_of_addr(m, family, addr);
    if (s == NO_SLOT)
        return TORIFY_E_REFUSE_UNKNOWN_FAKE;
    if (lock_map(m) != 0)
        return TORIFY_E_IO;
    struct slot *sl = m->slots;
    uint32_t len = LD(sl[s].len);
    if (s >= fresh_of(m) || !LD(sl[s].in_use) || len == 0 || len > TORIFY_FAKEMAP_NAME_MAX) {
        unlock_map(m);
        return TORIFY_E_REFUSE_UNKNOWN_FAKE;
    }
    if (!lru_touch(m, s))
        rebuild(m);
    if (name && name_len) {
        size_t n = len < name_len - 1 ? len : name_len - 1;
        memcpy(name, sl[s].name, n);
        name[n] = '\0';
    }
    /* Held under the lock: the slot cannot be recycled between the lookup
     * and the hold. */
    if (hold)
        atomic_fetch_add(&sl[s].holds, 1);
    unlock_map(m);
    if (slot)
        *slot = s;
    return TORIFY_OK;
}

torify_err torify_fakemap_lookup_addr(struct torify_fakemap *m, int family, const uint8_t *addr,
                                      char *name, size_t name_len, uint32_t *slot)
{
    return lookup(m, family, addr, name, name_len, slot, false);
}

torify_err torify_fakemap_lookup_hold(struct torify_fakemap *m, int family, const uint8_t *addr,
                                      char *name, size_t name_len, uint32_t *slot)
{
    return lookup(m, family, addr, name, name_len, slot, true);
}

torify_err torify_fakemap_lock_and_abandon(struct torify_fakemap *m)
{
    return lock_map(m) == 0 ? TORIFY_OK : TORIFY_E_IO;
}

void *torify_fakemap_raw(struct torify_fakemap *m, size_t *len, size_t *lock_off, size_t *lock_len)
{
    *len = m->map_len;
    *lock_off = offsetof(struct shared, lock);
    *lock_len = sizeof m->sh->lock;
    return m->sh;
}

void torify_fakemap_hold(struct torify_fakemap *m, uint32_t slot)
{
    if (slot < m->capacity)
        atomic_fetch_add(&m->slots[slot].holds, 1);
}

void torify_fakemap_release(struct torify_fakemap *m, uint32_t slot)
{
    if (slot >= m->capacity)
        return;
    _Atomic uint32_t *h = &m->slots[slot].holds;
    uint32_t v = atomic_load(h);
    /* Never wrap below zero (a child may close a copy its parent also closes). */
    while (v > 0 && !atomic_compare_exchange_weak(h, &v, v - 1))
        ;
}
