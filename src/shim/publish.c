/*
 * shim/publish.c — publish, per torified socket, what the program asked
 * Tor for, in the process's streams table (core/streamtab.h), so that
 * `torify --streams` can tie a stream in Tor's snapshot to a program.
 *
 * Cost: the first connect through Tor of a process makes the table
 * (memfd_create, ftruncate, mmap: three system calls, once); after that a
 * connect writes one slot of shared memory and reads the vDSO clock — no
 * system call — and a close of a torified socket clears one byte.  Called
 * from the fd table (shim/state.c): torify_fd_set publishes,
 * torify_fd_clear withdraws.  Nothing here locks or allocates after the
 * table exists, so close() stays async-signal-safe.
 *
 * A forked child gets the parent's mapping: the fork handler lets go of it
 * (the child's fds are its own numbers), and the child's first connect
 * through Tor makes the child's own table.  A vfork() child that connects
 * through Tor before exec writes into its parent's table (the memory is
 * shared): `torify --streams` then shows that stream under the parent, or
 * not at all (it checks every slot against the socket at that fd).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/streamtab.h"
#include "shim/publish.h"
#include "shim/real.h"
#include "shim/state.h"

static struct torify_streamtab *table_make(void)
{
    int fd = memfd_create(TORIFY_STREAMTAB_NAME, MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)sizeof(struct torify_streamtab)) == 0 && fstat(fd, &st) == 0)
        p = mmap(NULL, sizeof(struct torify_streamtab), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        torify_real_close(fd);
        return NULL;
    }
    struct torify_streamtab *t = p;
    t->magic = TORIFY_STREAMTAB_MAGIC;
    t->slots = TORIFY_STREAMTAB_SLOTS;
    t->slot_size = (uint32_t)sizeof(struct torify_streamtab_slot);
    struct torify_streamtab *none = NULL;
    if (!atomic_compare_exchange_strong(&torify_shim.pub, &none, t)) {
        /* Another thread's first connect made one first: keep that one. */
        munmap(p, sizeof(struct torify_streamtab));
        torify_real_close(fd);
        return none;
    }
    torify_shim.pub_dev = st.st_dev;
    torify_shim.pub_ino = st.st_ino;
    atomic_store_explicit(&torify_shim.pub_fd1, fd + 1, memory_order_release);
    return t;
}

static struct torify_streamtab_slot *slot_for(int fd, bool create)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_STREAMTAB_SLOTS)
        return NULL;
    struct torify_streamtab *t = atomic_load_explicit(&torify_shim.pub, memory_order_acquire);
    if (t == NULL && create && !atomic_load_explicit(&torify_shim.pub_failed, memory_order_relaxed)) {
        t = table_make();
        if (t == NULL) /* no memfd here: not asked again at every connect */
            atomic_store_explicit(&torify_shim.pub_failed, 1, memory_order_relaxed);
    }
    return t ? &t->slot[fd] : NULL;
}

/* The sequence lock's writer side (core/streamtab.h).  Writers of one slot
 * never overlap: a slot is its fd number's, cleared before libc's close and
 * written only after the kernel hands the number out again.  The acquire in
 * write_begin makes that order visible to the memory model (and to
 * ThreadSanitizer, which cannot see the kernel's): a writer's begin reads
 * the previous writer's release in write_end. */
static void write_begin(struct torify_streamtab_slot *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_acq_rel);
    atomic_thread_fence(memory_order_release);
}

static void write_end(struct torify_streamtab_slot *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
}

void torify_pub_note(int fd, const struct torify_target *t)
{
    struct torify_streamtab_slot *s = slot_for(fd, true);
    if (s == NULL)
        return;
    write_begin(s);
    s->live = 1;
    s->port = t->port;
    s->started_ns = torify_now_ns();
    if (t->kind == TORIFY_TARGET_HOST) {
        s->kind = TORIFY_STREAMTAB_NAME_KIND;
        s->host_len = t->host_len;
        memcpy(s->host, t->host, t->host_len);
    } else {
        s->kind = t->kind == TORIFY_TARGET_IPV4 ? TORIFY_STREAMTAB_IPV4 : TORIFY_STREAMTAB_IPV6;
        s->host_len = 0;
        memcpy(s->addr, t->addr, sizeof s->addr);
    }
    write_end(s);
}

void torify_pub_forget(int fd)
{
    struct torify_streamtab_slot *s = slot_for(fd, false);
    if (s == NULL)
        return;
    write_begin(s);
    s->live = 0;
    write_end(s);
}

void torify_pub_after_fork_child(void)
{
    struct torify_streamtab *t = atomic_exchange(&torify_shim.pub, NULL);
    int fd = atomic_exchange(&torify_shim.pub_fd1, 0) - 1;
    atomic_store(&torify_shim.pub_failed, 0);
    if (t != NULL)
        munmap(t, sizeof *t);
    /* Close the inherited memfd only if the number is still it: the program
     * may have closed it and got the number again for a file of its own. */
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == torify_shim.pub_dev && st.st_ino == torify_shim.pub_ino)
        torify_real_close(fd);
}
