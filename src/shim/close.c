/* shim/close.c — close(): release torify's state for the fd.
 *
 * Until torify keeps state for some fd, close() is one indirect jump to
 * libc's close (the dispatch pointer).  The first connection through Tor
 * switches the pointer to close_tracked, which checks one bit of the fd
 * bitmap first.  Neither path locks, allocates or calls dlsym, so close()
 * is safe in signal handlers and after fork.
 *
 * libc's close is bound by the dynamic linker at load time through its
 * public alias __close (glibc exports it since 2.2.5), not looked up with
 * dlsym on first use: dlsym may take the loader lock and allocate, which a
 * close() from a signal handler must never do.
 */
#include <pthread.h>
#include <unistd.h>

#include "core/state.h"
#include "shim/real.h"
#include "shim/shim.h"

#if defined(__GLIBC__)
extern int __close(int fd);
#define LIBC_CLOSE __close
#else
/* Other libcs: resolve on first use (see real.c). */
static int close_first(int fd)
{
    return torify_real_close(fd);
}
#define LIBC_CLOSE close_first
#endif

static int close_tracked(int fd);

static torify_close_fn close_dispatch = LIBC_CLOSE;

/* This process's pid, kept by a fork handler.  getpid() differs from it
 * only in a vfork() child (no fork handler runs there), which shares our
 * memory: its close() before exec must not clear the parent's records
 * (that would cancel the parent's handshakes and drop its name holds). */
static _Atomic pid_t self_pid;
static pthread_once_t self_pid_once = PTHREAD_ONCE_INIT;

static void self_pid_after_fork(void)
{
    __atomic_store_n(&self_pid, getpid(), __ATOMIC_RELAXED);
}

static void self_pid_init(void)
{
    __atomic_store_n(&self_pid, getpid(), __ATOMIC_RELAXED);
    (void)pthread_atfork(NULL, NULL, self_pid_after_fork);
}

static int close_tracked(int fd)
{
    if (torify_fd_tracked(fd) && getpid() == __atomic_load_n(&self_pid, __ATOMIC_RELAXED))
        torify_fd_clear(fd);
    return LIBC_CLOSE(fd);
}

void torify_close_track_on(void)
{
    pthread_once(&self_pid_once, self_pid_init);
    /* One way: once a process has torified connections, close checks bits. */
    __atomic_store_n(&close_dispatch, close_tracked, __ATOMIC_RELEASE);
}

EXPORT int close(int fd)
{
    return __atomic_load_n(&close_dispatch, __ATOMIC_ACQUIRE)(fd);
}
