/* core/fakemap.c — see fakemap.h.
 *
 * Layout of the one shared mapping:
 *   struct torify_fakemap (header, with the process-shared robust mutex)
 *   struct slot slots[capacity]
 *   uint32_t index[index_size]   open addressing, linear probing; 0 = empty,
 *                                else slot + 1.  index_size is a power of two
 *                                >= 2 * capacity, so probes stay short.
 * Everything is addressed by offsets from the header, so the mapping works
 * the same in the parent and in forked children.
 */
#include "core/fakemap.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

struct slot {
    _Atomic uint32_t holds;      /* live connections using this name */
    uint32_t prev, next;         /* LRU list: head is the most recently used */
    uint8_t in_use;
    uint8_t len;
    uint64_t hash;
    char name[TORIFY_FAKEMAP_NAME_MAX + 1];
};

struct torify_fakemap {
    pthread_mutex_t lock;
    size_t map_len;
    uint32_t capacity;
    uint32_t index_mask;
    uint32_t fresh;              /* slots [0, fresh) have been handed out at least once */
    uint32_t count;              /* slots in use */
    uint32_t lru_head, lru_tail; /* TORIFY_FAKEMAP_NO_SLOT when empty */
    struct torify_cidr range4, range6;
    torify_fakemap_hash_fn hash;
    size_t slots_off, index_off;
};

static struct slot *slots_of(const struct torify_fakemap *m)
{
    return (struct slot *)((char *)m + m->slots_off);
}

static uint32_t *index_of(const struct torify_fakemap *m)
{
    return (uint32_t *)((char *)m + m->index_off);
}

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

static void rebuild_index(struct torify_fakemap *m);

static int lock_map(struct torify_fakemap *m)
{
    int r = pthread_mutex_lock(&m->lock);
    if (r == EOWNERDEAD) {
        /* A process died holding the lock, maybe mid-update: the slots are
         * the truth (a slot is marked in_use only once complete), so the
         * index is rebuilt from them. */
        rebuild_index(m);
        pthread_mutex_consistent(&m->lock);
        return 0;
    }
    return r;
}

static void unlock_map(struct torify_fakemap *m)
{
    pthread_mutex_unlock(&m->lock);
}

torify_err torify_fakemap_create(struct torify_fakemap **out, const struct torify_fakemap_opts *opts)
{
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (o.range4.family == 0)
        torify_cidr_parse("127.192.0.0/10", &o.range4);
    if (o.range6.family == 0)
        torify_cidr_parse("100::/64", &o.range6);
    if (o.range4.family != AF_INET || o.range6.family != AF_INET6)
        return TORIFY_E_INVAL_ARGUMENT;
    if (!o.hash)
        o.hash = torify_fakemap_hash_default;
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
    size_t slots_off = (sizeof(struct torify_fakemap) + 63) & ~(size_t)63;
    size_t index_off = slots_off + (size_t)cap * sizeof(struct slot);
    size_t len = index_off + (size_t)index_size * sizeof(uint32_t);

    /* MAP_SHARED: forked children see and update the same table.
     * MAP_NORESERVE: pages cost memory only once touched. */
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return TORIFY_E_IO;
    struct torify_fakemap *m = p;
    m->map_len = len;
    m->capacity = (uint32_t)cap;
    m->index_mask = index_size - 1;
    m->range4 = o.range4;
    m->range6 = o.range6;
    m->hash = o.hash;
    m->slots_off = slots_off;
    m->index_off = index_off;
    m->lru_head = m->lru_tail = TORIFY_FAKEMAP_NO_SLOT;

    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        goto fail;
    int r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (r == 0)
        r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (r == 0)
        r = pthread_mutex_init(&m->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (r != 0)
        goto fail;
    *out = m;
    return TORIFY_OK;
fail:
    munmap(p, len);
    return TORIFY_E_IO;
}

void torify_fakemap_destroy(struct torify_fakemap *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    munmap(m, m->map_len);
}

uint32_t torify_fakemap_capacity(const struct torify_fakemap *m)
{
    return m->capacity;
}

uint32_t torify_fakemap_count(struct torify_fakemap *m)
{
    if (lock_map(m) != 0)
        return 0;
    uint32_t n = m->count;
    unlock_map(m);
    return n;
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

static void index_insert(struct torify_fakemap *m, uint32_t s)
{
    uint32_t *idx = index_of(m);
    uint32_t i = (uint32_t)slots_of(m)[s].hash & m->index_mask;
    while (idx[i] != 0)
        i = (i + 1) & m->index_mask;
    idx[i] = s + 1;
}

/* Remove slot s from the index by backward shifting, so no tombstones pile
 * up however often slots are recycled. */
static void index_remove(struct torify_fakemap *m, uint32_t s)
{
    uint32_t *idx = index_of(m);
    struct slot *sl = slots_of(m);
    uint32_t mask = m->index_mask;
    uint32_t p = (uint32_t)sl[s].hash & mask;
    uint32_t guard = 0;
    while (idx[p] != s + 1) {
        if (idx[p] == 0 || ++guard > mask)
            return; /* not indexed (cannot happen when consistent) */
        p = (p + 1) & mask;
    }
    idx[p] = 0;
    for (uint32_t j = (p + 1) & mask; idx[j] != 0; j = (j + 1) & mask) {
        uint32_t k = (uint32_t)sl[idx[j] - 1].hash & mask;
        /* Move idx[j] back to p unless its home k lies cyclically in (p, j]. */
        bool home_between = p <= j ? (k > p && k <= j) : (k > p || k <= j);
        if (!home_between) {
            idx[p] = idx[j];
            idx[j] = 0;
            p = j;
        }
    }
}

/* ---- LRU list (under the lock) ---- */

static void lru_unlink(struct torify_fakemap *m, uint32_t s)
{
    struct slot *sl = slots_of(m);
    if (sl[s].prev != TORIFY_FAKEMAP_NO_SLOT)
        sl[sl[s].prev].next = sl[s].next;
    else
        m->lru_head = sl[s].next;
    if (sl[s].next != TORIFY_FAKEMAP_NO_SLOT)
        sl[sl[s].next].prev = sl[s].prev;
    else
        m->lru_tail = sl[s].prev;
    sl[s].prev = sl[s].next = TORIFY_FAKEMAP_NO_SLOT;
}

static void lru_push_front(struct torify_fakemap *m, uint32_t s)
{
    struct slot *sl = slots_of(m);
    sl[s].prev = TORIFY_FAKEMAP_NO_SLOT;
    sl[s].next = m->lru_head;
    if (m->lru_head != TORIFY_FAKEMAP_NO_SLOT)
        sl[m->lru_head].prev = s;
    m->lru_head = s;
    if (m->lru_tail == TORIFY_FAKEMAP_NO_SLOT)
        m->lru_tail = s;
}

static void lru_touch(struct torify_fakemap *m, uint32_t s)
{
    if (m->lru_head == s)
        return;
    lru_unlink(m, s);
    lru_push_front(m, s);
}

static void rebuild_index(struct torify_fakemap *m)
{
    memset(index_of(m), 0, ((size_t)m->index_mask + 1) * sizeof(uint32_t));
    struct slot *sl = slots_of(m);
    uint32_t n = 0;
    /* The recency order may be torn too: rebuild it in slot order. */
    m->lru_head = m->lru_tail = TORIFY_FAKEMAP_NO_SLOT;
    if (m->fresh > m->capacity)
        m->fresh = m->capacity;
    /* Slots a dead process had taken but not completed go to the tail, so
     * they are the first to be reused instead of being lost. */
    for (uint32_t s = 0; s < m->fresh; s++)
        if (!sl[s].in_use)
            lru_push_front(m, s);
    for (uint32_t s = 0; s < m->fresh; s++) {
        if (sl[s].in_use) {
            index_insert(m, s);
            lru_push_front(m, s);
            n++;
        }
    }
    m->count = n;
}

static uint32_t index_find(struct torify_fakemap *m, uint64_t h, const char *name, size_t len)
{
    uint32_t *idx = index_of(m);
    struct slot *sl = slots_of(m);
    for (uint32_t i = (uint32_t)h & m->index_mask; idx[i] != 0; i = (i + 1) & m->index_mask) {
        struct slot *s = &sl[idx[i] - 1];
        if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0)
            return idx[i] - 1;
    }
    return TORIFY_FAKEMAP_NO_SLOT;
}

/* Least recently used slot that no live connection holds, searched from
 * the tail of the LRU list; bounded by the capacity.  NO_SLOT if every
 * slot is held. */
static uint32_t pick_victim(struct torify_fakemap *m)
{
    struct slot *sl = slots_of(m);
    uint32_t guard = 0;
    for (uint32_t s = m->lru_tail; s != TORIFY_FAKEMAP_NO_SLOT && guard <= m->capacity; s = sl[s].prev, guard++) {
        if (atomic_load(&sl[s].holds) == 0)
            return s;
    }
    return TORIFY_FAKEMAP_NO_SLOT;
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
    struct slot *sl = slots_of(m);
    uint32_t s = index_find(m, h, norm, nlen);
    if (s != TORIFY_FAKEMAP_NO_SLOT) {
        lru_touch(m, s);
        unlock_map(m);
        *slot = s;
        return TORIFY_OK;
    }
    if (m->fresh < m->capacity) {
        s = m->fresh++;
    } else {
        s = pick_victim(m);
        if (s == TORIFY_FAKEMAP_NO_SLOT) {
            unlock_map(m);
            errno = ENOSPC;
            return TORIFY_E_IO;
        }
        lru_unlink(m, s);
        if (sl[s].in_use) { /* (an incomplete slot left by a dead process is not indexed) */
            index_remove(m, s);
            sl[s].in_use = 0;
            m->count--;
        }
    }
    memcpy(sl[s].name, norm, nlen + 1);
    sl[s].len = (uint8_t)nlen;
    sl[s].hash = h;
    atomic_store(&sl[s].holds, 0);
    sl[s].in_use = 1;
    index_insert(m, s);
    lru_push_front(m, s);
    m->count++;
    unlock_map(m);
    *slot = s;
    return TORIFY_OK;
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
            return TORIFY_FAKEMAP_NO_SLOT;
        off = low64(addr) - low64(m->range6.addr);
    }
    if (off == 0 || off - 1 >= m->capacity)
        return TORIFY_FAKEMAP_NO_SLOT;
    return (uint32_t)(off - 1);
}

torify_err torify_fakemap_lookup_addr(struct torify_fakemap *m, int family, const uint8_t *addr,
                                      char *name, size_t name_len, uint32_t *slot)
{
    if ((family != AF_INET && family != AF_INET6) || !torify_fakemap_in_range(m, family, addr))
        return TORIFY_E_INVAL_TARGET;
    uint32_t s = slot_of_addr(m, family, addr);
    if (s == TORIFY_FAKEMAP_NO_SLOT)
        return TORIFY_E_REFUSE_UNKNOWN_FAKE;
    if (lock_map(m) != 0)
        return TORIFY_E_IO;
    struct slot *sl = slots_of(m);
    if (s >= m->fresh || !sl[s].in_use) {
        unlock_map(m);
        return TORIFY_E_REFUSE_UNKNOWN_FAKE;
    }
    lru_touch(m, s);
    if (name && name_len) {
        size_t n = sl[s].len < name_len - 1 ? sl[s].len : name_len - 1;
        memcpy(name, sl[s].name, n);
        name[n] = '\0';
    }
    unlock_map(m);
    if (slot)
        *slot = s;
    return TORIFY_OK;
}

torify_err torify_fakemap_lock_and_abandon(struct torify_fakemap *m)
{
    return lock_map(m) == 0 ? TORIFY_OK : TORIFY_E_IO;
}

void torify_fakemap_hold(struct torify_fakemap *m, uint32_t slot)
{
    if (slot < m->capacity)
        atomic_fetch_add(&slots_of(m)[slot].holds, 1);
}

void torify_fakemap_release(struct torify_fakemap *m, uint32_t slot)
{
    if (slot >= m->capacity)
        return;
    _Atomic uint32_t *h = &slots_of(m)[slot].holds;
    uint32_t v = atomic_load(h);
    /* Never wrap below zero (a child may close a copy its parent also closes). */
    while (v > 0 && !atomic_compare_exchange_weak(h, &v, v - 1))
        ;
}
