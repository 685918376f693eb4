/*
 * guard/supervisor.c — the notification loop.
 *
 * A pool of workers, each of which receives a notification and handles it
 * itself (see "The receiving role" below): no hand-over between threads on
 * the way from the program's call to its answer.  A handler that may wait
 * hands the receiving role on first, to an idle worker or a new one (up to
 * GUARD_MAX_WORKERS), so each connect in flight has a thread of its own
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

/*
 * The receiving role.  Up to recv_max threads wait in NOTIF_RECV at a time
 * (two, one on a single CPU); each handles what it receives itself, so the
 * answer goes back from the thread the kernel woke, on the notifying
 * thread's CPU, with no hand-over in between.  A notification wakes every
 * thread waiting in RECV (the kernel's wait is not exclusive since Linux
 * 6.6; the request count lets exactly one take it), so more receivers than
 * CPUs would only add wake-ups; with two, a second connect arriving while
 * the first is handled is received at once on the other CPU instead of
 * waiting for the first handler to finish.  A handler that may wait (a
 * blocking connect, a SOCKS handshake, the keeper's first status) first
 * calls guard_may_block, which tops the receivers up from idle workers or
 * new ones.
 */
static void *worker_main(void *arg);

/* With s->mu held: top the receivers up to recv_max, unless no worker can
 * be started (then the callers' threads receive once they are done:
 * back-pressure, the notifications wait in the kernel). */
static void call_receivers_locked(struct guard_sup *s)
{
    while (!s->stopped && s->receiving + s->signaled + s->starting < s->recv_max) {
        if (s->idle > s->signaled) {
            s->signaled++;
            pthread_cond_signal(&s->work);
            continue;
        }
        if (s->workers >= GUARD_MAX_WORKERS)
            return;
        pthread_attr_t attr;
        pthread_t t;
        int ok = pthread_attr_init(&attr) == 0;
        if (ok) {
            ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                 pthread_attr_setstacksize(&attr, GUARD_HANDLER_STACK) == 0 &&
                 pthread_create(&t, &attr, worker_main, s) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!ok)
            return;
        s->workers++;
        s->starting++;
    }
}

void guard_may_block(struct guard_sup *s)
{
    pthread_mutex_lock(&s->mu);
    call_receivers_locked(s);
    pthread_mutex_unlock(&s->mu);
}

bool guard_namespace_ready(struct guard_sup *s)
{
    int ks = atomic_load(&s->keeper.state);
    if (ks == KEEPER_UNBORN || ks == KEEPER_IDLE || ks == KEEPER_PENDING)
        guard_may_block(s); /* the keeper's set-up and first status take a while */
    return guard_keeper_ready(&s->keeper, s);
}

/* Has every task of the filter gone?  (POLLHUP without a notification
 * pending; poll does not wait here.) */
static bool listener_hung_up(const struct guard_sup *s)
{
    struct pollfd p = {.fd = s->listener, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) && !(p.revents & POLLIN);
}

/* Every thread of the pool: receive while fewer than recv_max do, else
 * wait idle; one idle for GUARD_IDLE_EXIT_S seconds ends, so a burst
 * leaves no threads behind. */
static void *worker_main(void *arg)
{
    struct guard_sup *s = arg;
    size_t sz = s->notif_size > sizeof(struct seccomp_notif) ? s->notif_size : sizeof(struct seccomp_notif);
    struct seccomp_notif *n = malloc(sz);
    pthread_mutex_lock(&s->mu);
    s->starting--;
    if (!n) {
        s->workers--; /* its slot stays free: a handler back from its work takes it */
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    for (;;) {
        while (s->receiving >= s->recv_max && !s->stopped) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += GUARD_IDLE_EXIT_S;
            s->idle++;
            int r = pthread_cond_timedwait(&s->work, &s->mu, &until);
            s->idle--;
            if (s->signaled > 0)
                s->signaled--;
            if (r == ETIMEDOUT && s->receiving >= s->recv_max)
                break;
        }
        if (s->receiving >= s->recv_max || s->stopped)
            break; /* idle too long, or the listener failed */
        s->receiving++;
        pthread_mutex_unlock(&s->mu);

        memset(n, 0, sz); /* RECV demands a zeroed buffer */
        int rc = ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, n);
        int e = errno;
        pthread_mutex_lock(&s->mu);
        s->receiving--;
        if (rc != 0) {
            /* ENOENT: the task went away before we took its notification,
             * or no task uses the filter any more (then RECV no longer
             * waits: the listener hangs up, and the pool ends instead of
             * spinning). */
            if (e == EINTR || (e == ENOENT && !listener_hung_up(s)))
                continue;
            s->stopped = true;
            pthread_cond_broadcast(&s->work);
            if (e == ENOENT)
                break;
            pthread_mutex_unlock(&s->mu);
            guard_log(s, TORIFY_LOG_ERROR, "guard: receiving notifications failed: %s", strerror(e));
            pthread_mutex_lock(&s->mu);
            break;
        }
        /* The second receiver is started at the first notification, not
         * at every start of a program that may never connect. */
        if (s->workers < s->recv_max) {
            s->receiving++; /* this thread, back once it has handled */
            call_receivers_locked(s);
            s->receiving--;
        }
        pthread_mutex_unlock(&s->mu);
        handle(s, n);
        pthread_mutex_lock(&s->mu);
    }
    s->workers--;
    pthread_mutex_unlock(&s->mu);
    free(n);
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
    s->workers = s->idle = s->receiving = s->signaled = s->starting = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->recv_max = cpus > 1 ? 2 : 1;
    s->stopped = false;
    pthread_mutex_lock(&s->mu);
    /* One receiver now; the second joins at the first notification. */
    int want = s->recv_max;
    s->recv_max = 1;
    call_receivers_locked(s);
    s->recv_max = want;
    bool started = s->workers == 1;
    pthread_mutex_unlock(&s->mu);
    return started ? 0 : -EAGAIN;
}
