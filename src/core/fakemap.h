/*
 * core/fakemap.h — hostname <-> fake address map.
 *
 * A name looked up by the program gets a slot; slot i is the address
 * range4.base + 1 + i (IPv4) and range6.base + 1 + i (IPv6).  Address ->
 * slot is arithmetic, name -> slot a hash index: both O(1).
 *
 * The whole table lives in one MAP_SHARED mapping of a sealed memfd (fixed
 * size), locked by an owner word and a shared futex (fakemap.c says why
 * not a mutex in the shared memory), so threads and forked children
 * (which inherit the mapping) all agree on every name's address, and an
 * exec'd program can attach to the same memfd (torify_fakemap_attach).
 * Memory is bounded by the capacity fixed at creation; when the table is
 * full the least recently used slot that no live connection holds is
 * recycled (an LRU list, O(1)).  The shared memory is treated as untrusted:
 * a corrupt map may give wrong names, never out-of-bounds accesses.
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

/* Create a map (mmap'd, shared with future children).  Backed by a sealed
 * memfd (O_CLOEXEC; see torify_fakemap_fd) when the kernel has memfd_create,
 * else anonymous shared memory.  Errors: TORIFY_E_INVAL_ARGUMENT (range too
 * small), TORIFY_E_IO (mmap/mutex). */
torify_err torify_fakemap_create(struct torify_fakemap **out, const struct torify_fakemap_opts *opts);

/* Attach to a map another process created, given its memfd and the inode
 * it announced.  Accepted only if fd is that inode, sealed against growing
 * and shrinking, of exactly the size opts give, and its header has the same
 * magic, version, capacity and ranges as a map created here with opts (and
 * the default hash).  Else TORIFY_E_INVAL_ARGUMENT (TORIFY_E_IO if mmap
 * fails) and nothing is kept.  The fd is not closed by destroy. */
torify_err torify_fakemap_attach(struct torify_fakemap **out, int fd, uint64_t ino,
                                 const struct torify_fakemap_opts *opts);

/* The memfd of a map this process created, or -1 (anonymous, attached). */
int torify_fakemap_fd(const struct torify_fakemap *m);

/* Make the memfd survive exec: move it to a number >= min_fd without
 * FD_CLOEXEC.  Returns the new fd and its inode (*ino), or -1 (anonymous
 * map, or no fd free there). */
int torify_fakemap_export(struct torify_fakemap *m, int min_fd, uint64_t *ino);

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

/* lookup_addr that also holds the slot (see below) under the map's lock, so
 * it cannot be recycled between the lookup and the hold. */
torify_err torify_fakemap_lookup_hold(struct torify_fakemap *m, int family, const uint8_t *addr,
                                      char *name, size_t name_len, uint32_t *slot);

/* A live connection holds / releases a slot: held slots are never recycled.
 * Lock-free (safe from close(), even in a signal handler). */
void torify_fakemap_hold(struct torify_fakemap *m, uint32_t slot);
void torify_fakemap_release(struct torify_fakemap *m, uint32_t slot);

/* Test support for the lock's take-over of a dead owner: take the map's lock and keep it (the
 * caller, a child process, then exits without releasing it). */
torify_err torify_fakemap_lock_and_abandon(struct torify_fakemap *m);

/* Test support: the shared mapping itself (to corrupt it on purpose) and
 * where its lock lies (a process that scribbles on the lock can make others
 * wait: that is denial of service, not memory unsafety). */
void *torify_fakemap_raw(struct torify_fakemap *m, size_t *len, size_t *lock_off, size_t *lock_len);

/* The default hash (FNV-1a 64), exposed for tests. */
uint64_t torify_fakemap_hash_default(const char *name, size_t len);

#endif
