/*
 * guard/listen.c — one listen() of the guarded program.
 *
 * A program that listens on a non-loopback address answers whoever
 * connects, from the machine's real address.  The shim refuses that unless
 * AllowInbound (core/policy.c, torify_policy_listen); this applies the same
 * rule to what the shim cannot see.  listen() takes no pointer, and the
 * address a socket is bound to cannot change once bound, so the supervisor
 * checks the program's socket (a duplicate got with pidfd_getfd) and calls
 * listen() on that same duplicate: whatever another thread does with the fd
 * number meanwhile, the socket checked is the socket that listens.  An
 * unbound socket would be bound to the wildcard address by listen():
 * getsockname shows 0.0.0.0:0 and the rule refuses it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "core/policy.h"
#include "guard/internal.h"
#include "guard/log.h"

void guard_handle_listen(struct guard_sup *s, const struct seccomp_notif *n)
{
    const pid_t tid = (pid_t)n->pid;
    const int fd = (int)n->data.args[0];
    const int backlog = (int)n->data.args[1];
    int pidfd = guard_pidfd_open_thread(tid);
    int dup = pidfd >= 0 ? guard_pidfd_getfd(pidfd, fd) : pidfd;
    if (!guard_notif_valid(s, n->id))
        goto out;
    if (dup < 0) {
        guard_reply(s, n->id, -1, dup == -ESRCH ? EBADF : -dup);
        goto out;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len = sizeof ss;
    int r;
    if (getsockname(dup, (struct sockaddr *)&ss, &len) != 0) {
        r = -errno; /* ENOTSOCK for a non-socket, as listen() says */
    } else {
        torify_err why = torify_policy_listen(&s->cfg, (const struct sockaddr *)&ss, len);
        if (why != TORIFY_OK) {
            r = -torify_err_errno(why);
            atomic_fetch_add(&s->n_refused, 1);
            char why_text[TORIFY_LOG_LINE_MAX];
            guard_log(s, TORIFY_LOG_NOTICE, "refused listen on a non-loopback address (%s)",
                      torify_policy_refusal_text(why, why_text, sizeof why_text));
        } else {
            r = listen(dup, backlog) == 0 ? 0 : -errno;
        }
    }
    guard_reply(s, n->id, r < 0 ? -1 : 0, r < 0 ? -r : 0);
out:
    if (dup >= 0)
        close(dup);
    if (pidfd >= 0)
        close(pidfd);
}
