/*
 * core/fakemap.h — hostname <-> fake address map.
 *
 * A name looked up by the program gets a slot; slot i is the address
 * range4.base + 1 + i (IPv4) and range6.base + 1 + i (IPv6).  Address ->
 * slot is arithmetic, name -> slot a hash index: both O(1).
 *
 * The whole table lives in one anonymous MAP_SHARED mapping with a
 * process-shared robust mutex, so threads and forked children (which inherit
 * the mapping) all agree on every name's address.  Memory is bounded by the
 * capacity fixed at creation; when the table is full the least recently used
 * slot that no live connection holds is recycled (an LRU list, O(1)).
 */
#ifndef TORIFY_CORE_FAKEMAP_H
#define TORIFY_CORE_FAKEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <torify/error.h>
#include "core/config.h"

#define TORIFY_FAKEMAP_DEFAULT_CAPACITY 65536u
#define TORIFY_FAKEMAP_NAME_MAX 255
#define TORIFY_FAKEMAP_NO_SLOT UINT32_MAX

struct torify_fakemap;

/* Hash of a normalised (lower-case, no trailing dot) name.  Injectable so
 * tests can force collisions. */
typedef uint64_t (*torify_fakemap_hash_fn)(const char *name, size_t len);

struct torify_fakemap_opts {
    uint32_t capacity;                 /* 0: default; cut to what the ranges hold */
    struct torify_cidr range4;         /* family 0: 127.192.0.0/10 */
    struct torify_cidr range6;         /* family 0: 100::/64 */
    torify_fakemap_hash_fn hash;       /* NULL: FNV-1a 64 */
};

/* Create a map (mmap'd, shared with future children).  Errors:
 * TORIFY_E_INVAL_ARGUMENT (range too small), TORIFY_E_IO (mmap/mutex). */
torify_err torify_fakemap_create(struct torify_fakemap **out, const struct torify_fakemap_opts *opts);
void torify_fakemap_destroy(struct torify_fakemap *m);

uint32_t torify_fakemap_capacity(const struct torify_fakemap *m);
uint32_t torify_fakemap_count(struct torify_fakemap *m);

/* The slot of name, allocating (or recycling) one if needed.  The name is
 * compared case-insensitively and a single trailing dot is ignored.
 * Errors: TORIFY_E_INVAL_HOST_* for bad names; TORIFY_E_IO (errno ENOSPC)
 * when every slot is held by a live connection and none can be recycled. */
torify_err torify_fakemap_assign(struct torify_fakemap *m, const char *name, size_t len, uint32_t *slot);

/* Address of a slot (no check that the slot is in use). */
void torify_fakemap_addr4(const struct torify_fakemap *m, uint32_t slot, uint8_t out[4]);
void torify_fakemap_addr6(const struct torify_fakemap *m, uint32_t slot, uint8_t out[16]);

/* Is addr inside the fake ranges at all (whether or not a name is there)? */
bool torify_fakemap_in_range(const struct torify_fakemap *m, int family, const uint8_t *addr);

/* Address -> name.  Returns TORIFY_OK and copies the name (NUL-terminated,
 * cut to name_len), TORIFY_E_REFUSE_UNKNOWN_FAKE when addr is in range but no
 * name is there, TORIFY_E_INVAL_TARGET when addr is not a fake address.
 * slot (may be NULL) receives the slot index.  Marks the slot recently used. */
torify_err torify_fakemap_lookup_addr(struct torify_fakemap *m, int family, const uint8_t *addr,
                                      char *name, size_t name_len, uint32_t *slot);

/* A live connection holds / releases a slot: held slots are never recycled.
 * Lock-free (safe from close(), even in a signal handler). */
void torify_fakemap_hold(struct torify_fakemap *m, uint32_t slot);
void torify_fakemap_release(struct torify_fakemap *m, uint32_t slot);

/* Test support for the robust lock: take the map's lock and keep it (the
 * caller, a child process, then exits without releasing it). */
torify_err torify_fakemap_lock_and_abandon(struct torify_fakemap *m);

/* The default hash (FNV-1a 64), exposed for tests. */
uint64_t torify_fakemap_hash_default(const char *name, size_t len);

#endif
