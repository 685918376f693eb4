/* shim/resolve_async.c — getaddrinfo_a(): answered here, synchronously.
 *
 * libc's getaddrinfo_a runs its lookups in a helper thread that calls
 * libc's internal getaddrinfo, which no preload can interpose: every name
 * would go to the local DNS server.  Here each request is answered by our
 * getaddrinfo (fake addresses, numeric and localhost answers — all local,
 * none waits on the network), so there is nothing to wait for: the requests
 * are complete when this returns.  libc's gai_error reads the request's
 * __return field, which is filled in; libc's gai_suspend returns at once
 * and gai_cancel says EAI_ALLDONE, as for any finished request.
 * The completion notification (SIGEV_SIGNAL / SIGEV_THREAD) is still sent
 * for GAI_NOWAIT, as the caller expects.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim/state.h"
#include "shim/real.h"

struct notify_arg {
    void (*fn)(union sigval);
    union sigval value;
};

static void *notify_thread(void *p)
{
    struct notify_arg a = *(struct notify_arg *)p;
    free(p);
    a.fn(a.value);
    return NULL;
}

static void notify(const struct sigevent *sev)
{
    if (!sev)
        return;
    if (sev->sigev_notify == SIGEV_SIGNAL) {
        (void)sigqueue(getpid(), sev->sigev_signo, sev->sigev_value);
    } else if (sev->sigev_notify == SIGEV_THREAD && sev->sigev_notify_function) {
        struct notify_arg *a = malloc(sizeof *a);
        if (!a)
            return;
        a->fn = sev->sigev_notify_function;
        a->value = sev->sigev_value;
        /* The caller's thread attributes as given; the thread is never
         * joined, so it is detached once started. */
        pthread_attr_t *attr = sev->sigev_notify_attributes;
        int state = PTHREAD_CREATE_JOINABLE;
        if (attr && pthread_attr_getdetachstate(attr, &state) != 0)
            state = PTHREAD_CREATE_JOINABLE;
        pthread_t t;
        if (pthread_create(&t, attr, notify_thread, a) != 0)
            free(a);
        else if (state == PTHREAD_CREATE_JOINABLE)
            pthread_detach(t);
    }
}

EXPORT int getaddrinfo_a(int mode, struct gaicb *list[], int nitems, struct sigevent *sevp)
{
    if (torify_state_passthrough()) {
        torify_getaddrinfo_a_fn f = REAL(GETADDRINFO_A, torify_getaddrinfo_a_fn);
        return f ? f(mode, list, nitems, sevp) : EAI_SYSTEM;
    }
    if ((mode != GAI_WAIT && mode != GAI_NOWAIT) || nitems < 0) {
        errno = EINVAL;
        return EAI_SYSTEM;
    }
    for (int i = 0; i < nitems; i++) {
        struct gaicb *r = list[i];
        if (!r)
            continue;
        r->ar_result = NULL;
        r->__return = getaddrinfo(r->ar_name, r->ar_service, r->ar_request, &r->ar_result);
    }
    if (mode == GAI_NOWAIT)
        notify(sevp);
    return 0;
}
