/*
 * guard/fakemap_fd.c — handing the tree's fake map to a guarded process
 * that lost its inherited memfd (core/fakemap_ask.h says why and how the
 * request looks).
 *
 * Only processes under the guard's filter can make a request reach here
 * (the listener hears nobody else), and the answer is always the map the
 * launcher created for this tree (s->map), never a file the caller names.
 * The fd goes in with SECCOMP_ADDFD_FLAG_SEND: installing it and answering
 * the call are one step, so the number lands in the caller only if the
 * call is still waiting, and it is close-on-exec (a program's children ask
 * again rather than inherit a number they do not know).  Any failure
 * answers an error and the caller starts a new map, as without the guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include "core/fakemap.h"
#include "core/fakemap_ask.h"
#include "guard/internal.h"
#include "guard/log.h"

static bool ask_is(const struct seccomp_notif *n, uint32_t flags)
{
    return n->data.nr == TORIFY_FAKEMAP_ASK_NR && (uint32_t)n->data.args[0] == TORIFY_FAKEMAP_ASK_PIDFD &&
           (uint32_t)n->data.args[1] == TORIFY_FAKEMAP_ASK_FD && (uint32_t)n->data.args[2] == flags;
}

bool guard_fakemap_request_is(const struct seccomp_notif *n)
{
    return ask_is(n, TORIFY_FAKEMAP_ASK_FLAGS);
}

void guard_handle_fakemap(struct guard_sup *s, const struct seccomp_notif *n)
{
    /* The filter notifies nothing else under this number; refuse anything
     * that is not exactly the request, as the kernel would (bad flags). */
    if (ask_is(n, TORIFY_UDPNS_ASK_FLAGS)) {
        guard_reply(s, n->id, 0, guard_namespace_ready(s) ? 0 : ENOSYS);
        return;
    }
    if (!guard_fakemap_request_is(n)) {
        guard_reply(s, n->id, -1, EINVAL);
        return;
    }
    int fd = torify_fakemap_fd(s->map);
    if (fd < 0) {
        /* No map (creation failed) or an anonymous one: nothing to hand. */
        guard_reply(s, n->id, -1, EBADF);
        return;
    }
    int r = guard_addfd_send(s, n->id, fd, true);
    if (r >= 0) {
        guard_log(s, TORIFY_LOG_DEBUG, "guard: gave the fake address map to pid %d", (int)n->pid);
        return;
    }
    /* ENOENT: the caller is gone or was interrupted; nothing to answer.
     * Else (EMFILE in the caller, a kernel without FLAG_SEND): an error. */
    if (r != -ENOENT)
        guard_reply(s, n->id, -1, EBADF);
}
