/* shim/close.c — close(): release torify's state for the fd.
 *
 * Until torify keeps state for some fd, close() is one indirect jump to
 * libc's close (torify_shim_close, shim/state.h).  The first
 * connection through Tor switches the pointer to close_tracked, which
 * checks one bit of the fd bitmap first.  Neither path locks, allocates or
 * calls dlsym, so close() is safe in signal handlers and after fork.
 * libc's close is TORIFY_LIBC_CLOSE (shim/real.h): bound at load time.
 */
#include <unistd.h>

#include "shim/real.h"
#include "shim/shim.h"
#include "shim/state.h"

/* torify_shim.pid is this process's pid, kept by the fork handler.
 * getpid() differs from it only in a vfork() child (no fork handler runs
 * there), which shares our memory: its close() before exec must not clear
 * the parent's records (that would cancel the parent's handshakes and drop
 * its name holds). */
static int close_tracked(int fd)
{
    if (torify_fd_tracked(fd) && getpid() == atomic_load_explicit(&torify_shim.pid, memory_order_relaxed))
        torify_fd_clear(fd);
    return TORIFY_LIBC_CLOSE(fd);
}

void torify_close_track_on(void)
{
    torify_shim_fork_init();
    /* One way: once a process has torified connections, close checks bits. */
    atomic_store_explicit(&torify_shim_close, close_tracked, memory_order_release);
}

EXPORT int close(int fd)
{
    return atomic_load_explicit(&torify_shim_close, memory_order_acquire)(fd);
}
