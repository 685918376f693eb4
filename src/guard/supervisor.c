/*
 * guard/supervisor.c — the notification loop.
 *
 * One thread receives notifications; each connect is handled in a thread
 * of its own, so one slow Tor handshake never stalls the connects of other
 * threads or processes of the guarded tree.  Above GUARD_MAX_BUSY handlers
 * the receiving thread handles the next one itself (back-pressure instead
 * of unbounded threads).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "guard/internal.h"
#include "guard/log.h"

#define GUARD_MAX_BUSY 256
#define GUARD_HANDLER_STACK (256 * 1024)

int guard_reply(const struct guard_sup *s, uint64_t id, int64_t val, int err)
{
    /* Allocated at the kernel's size: a newer kernel may know more fields. */
    size_t sz = s->resp_size > sizeof(struct seccomp_notif_resp) ? s->resp_size
                                                                  : sizeof(struct seccomp_notif_resp);
    struct seccomp_notif_resp *r = calloc(1, sz);
    if (!r)
        return -ENOMEM;
    r->id = id;
    r->val = err ? 0 : val;
    r->error = err ? -err : 0;
    r->flags = 0;
    int rc = ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SEND, r) == 0 ? 0 : -errno;
    free(r);
    return rc;
}

bool guard_notif_valid(const struct guard_sup *s, uint64_t id)
{
    uint64_t v = id;
    return ioctl(s->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &v) == 0;
}

struct job {
    struct guard_sup *s;
    struct seccomp_notif *n;
};

static void handle(struct guard_sup *s, const struct seccomp_notif *n)
{
    if (n->data.nr == __NR_connect) {
        guard_handle_connect(s, n);
        return;
    }
    if (n->data.nr == __NR_listen) {
        guard_handle_listen(s, n);
        return;
    }
    /* The filter notifies only connect and listen; anything else is a bug: refuse. */
    guard_reply(s, n->id, -1, ENOSYS);
}

static void *handler_main(void *arg)
{
    struct job *j = arg;
    handle(j->s, j->n);
    atomic_fetch_sub(&j->s->busy, 1);
    free(j->n);
    free(j);
    return NULL;
}

static void dispatch(struct guard_sup *s, struct seccomp_notif *n)
{
    if (atomic_fetch_add(&s->busy, 1) < GUARD_MAX_BUSY) {
        struct job *j = malloc(sizeof *j);
        pthread_attr_t attr;
        pthread_t t;
        if (j && pthread_attr_init(&attr) == 0) {
            j->s = s;
            j->n = n;
            int ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                     pthread_attr_setstacksize(&attr, GUARD_HANDLER_STACK) == 0 &&
                     pthread_create(&t, &attr, handler_main, j) == 0;
            pthread_attr_destroy(&attr);
            if (ok)
                return;
        }
        free(j);
    }
    /* Busy or out of threads: handle it here. */
    handle(s, n);
    atomic_fetch_sub(&s->busy, 1);
    free(n);
}

static void *loop_main(void *arg)
{
    struct guard_sup *s = arg;
    size_t sz = s->notif_size > sizeof(struct seccomp_notif) ? s->notif_size : sizeof(struct seccomp_notif);
    for (;;) {
        struct pollfd p = {.fd = s->listener, .events = POLLIN};
        int pr = poll(&p, 1, -1);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
            if (!(p.revents & POLLIN))
                break; /* no task uses the filter any more */
        }
        struct seccomp_notif *n = calloc(1, sz); /* RECV demands a zeroed buffer */
        if (!n) {
            usleep(10000);
            continue;
        }
        if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, n) != 0) {
            /* ENOENT: the task went away between poll and recv. */
            free(n);
            if (errno == EINTR || errno == ENOENT)
                continue;
            guard_log(s, TORIFY_LOG_ERROR, "guard: receiving notifications failed: %s", strerror(errno));
            break;
        }
        dispatch(s, n);
    }
    return NULL;
}

int guard_supervisor_start(struct guard_sup *s)
{
    struct seccomp_notif_sizes sizes;
    memset(&sizes, 0, sizeof sizes);
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return -errno;
    s->notif_size = sizes.seccomp_notif;
    s->resp_size = sizes.seccomp_notif_resp;
    atomic_init(&s->busy, 0);
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -ENOMEM;
    int e = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (e == 0)
        e = pthread_create(&t, &attr, loop_main, s);
    pthread_attr_destroy(&attr);
    return -e;
}
