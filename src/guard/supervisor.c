/*
 * guard/supervisor.c — the notification loop.
 *
 * One thread receives notifications and queues them for a pool of
 * workers; a notification that finds no idle worker starts a new one (up
 * to GUARD_MAX_WORKERS), so each connect in flight has a thread of its own
 * and one slow Tor handshake never stalls the connects of other threads or
 * processes of the guarded tree.  Workers are kept between connects (no
 * thread creation per connect) and end after GUARD_IDLE_EXIT_S idle.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "core/fakemap_ask.h"
#include "guard/internal.h"
#include "guard/log.h"

#define GUARD_MAX_WORKERS 256
#define GUARD_IDLE_EXIT_S 10
#define GUARD_HANDLER_STACK (256 * 1024)

/* Linux 6.6; Debian 12's headers predate it. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

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
    if (n->data.nr == __NR_socket) {
        guard_handle_socket(s, n);
        return;
    }
    if (n->data.nr == __NR_pidfd_getfd) {
        guard_handle_fakemap(s, n);
        return;
    }
    /* The filter notifies only these; anything else is a bug: refuse. */
    guard_reply(s, n->id, -1, ENOSYS);
}

/* A worker takes notifications from the queue; one idle for
 * GUARD_IDLE_EXIT_S seconds ends, so a burst leaves no threads behind. */
static void *worker_main(void *arg)
{
    struct guard_sup *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->q_len == 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += GUARD_IDLE_EXIT_S;
            s->idle++;
            int r = pthread_cond_timedwait(&s->work, &s->mu, &until);
            s->idle--;
            if (r == ETIMEDOUT && s->q_len == 0) {
                s->workers--;
                pthread_mutex_unlock(&s->mu);
                return NULL;
            }
        }
        struct seccomp_notif *n = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % GUARD_QUEUE_LEN;
        s->q_len--;
        pthread_mutex_unlock(&s->mu);
        handle(s, n);
        free(n);
        pthread_mutex_lock(&s->mu);
    }
}

/* Queue n for a worker, starting one when none is idle (up to
 * GUARD_MAX_WORKERS).  When the queue is full or no worker can be
 * started, the receiving thread handles n itself: back-pressure instead of
 * unbounded threads or a lost notification. */
static void dispatch(struct guard_sup *s, struct seccomp_notif *n)
{
    pthread_mutex_lock(&s->mu);
    if (s->q_len == GUARD_QUEUE_LEN) {
        pthread_mutex_unlock(&s->mu);
        handle(s, n);
        free(n);
        return;
    }
    s->queue[(s->q_head + s->q_len) % GUARD_QUEUE_LEN] = n;
    s->q_len++;
    if (s->idle > (int)s->q_len - 1) {
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    bool start = s->workers < GUARD_MAX_WORKERS;
    if (start)
        s->workers++;
    pthread_mutex_unlock(&s->mu);
    if (start) {
        pthread_attr_t attr;
        pthread_t t;
        int ok = pthread_attr_init(&attr) == 0;
        if (ok) {
            ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                 pthread_attr_setstacksize(&attr, GUARD_HANDLER_STACK) == 0 &&
                 pthread_create(&t, &attr, worker_main, s) == 0;
            pthread_attr_destroy(&attr);
        }
        if (ok)
            return;
        pthread_mutex_lock(&s->mu);
        s->workers--;
        pthread_mutex_unlock(&s->mu);
    }
    /* No new worker: busy ones will get to it, unless there are none. */
    pthread_mutex_lock(&s->mu);
    bool nobody = s->workers == 0;
    struct seccomp_notif *mine = NULL;
    if (nobody && s->q_len > 0) {
        mine = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % GUARD_QUEUE_LEN;
        s->q_len--;
    }
    pthread_mutex_unlock(&s->mu);
    if (mine) {
        handle(s, mine);
        free(mine);
    }
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
        /* socket() and the two questions never wait for the network (a UDP
         * socket comes from the keeper's stock, keeper.c): answered here,
         * without the hand-over to a worker and its wake-up. */
        if (n->data.nr == __NR_socket || n->data.nr == __NR_pidfd_getfd) {
            handle(s, n);
            free(n);
            continue;
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
    /* The notifying thread waits for the answer anyway: the supervisor is
     * woken on its CPU.  Older kernels say EINVAL: a speed-up only,
     * nothing depends on it. */
    (void)ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&s->work, &ca) != 0 || pthread_mutex_init(&s->mu, NULL) != 0)
        return -ENOMEM;
    pthread_condattr_destroy(&ca);
    s->q_head = s->q_len = 0;
    s->workers = s->idle = 0;
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
