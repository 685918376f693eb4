/* shim/close.c — close(): release torify's state for the fd.
 *
 * Until torify keeps state for some fd, close() is one indirect jump to
 * libc's close (the dispatch pointer).  The first connection through Tor
 * switches the pointer to close_tracked, which checks one bit of the fd
 * bitmap first.  Neither path locks or allocates, so close() stays safe in
 * signal handlers and after fork.
 */
#include <unistd.h>

#include "core/state.h"
#include "shim/real.h"
#include "shim/shim.h"

#define EXPORT __attribute__((visibility("default")))

static int close_resolve(int fd);
static int close_tracked(int fd);

static torify_close_fn close_dispatch = close_resolve;

static int close_tracked(int fd)
{
    if (torify_fd_tracked(fd))
        torify_fd_clear(fd);
    return torify_real_close(fd);
}

/* First call: find libc's close and install it as the dispatch target,
 * unless tracking was switched on meanwhile. */
static int close_resolve(int fd)
{
    torify_close_fn real = REAL(CLOSE, torify_close_fn);
    if (!real)
        return -1;
    torify_close_fn expected = close_resolve;
    __atomic_compare_exchange_n(&close_dispatch, &expected, real, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&close_dispatch, __ATOMIC_ACQUIRE)(fd);
}

void torify_close_track_on(void)
{
    /* One way: once a process has torified connections, close checks bits. */
    __atomic_store_n(&close_dispatch, close_tracked, __ATOMIC_RELEASE);
}

EXPORT int close(int fd)
{
    return __atomic_load_n(&close_dispatch, __ATOMIC_ACQUIRE)(fd);
}
