/*
 * core/clock.h — the monotonic clock, for deadlines and waits in the core,
 * the shim and the guard, and libtorify-socks (torify_sx_now_ms: a header,
 * so the library still stands alone, without the core's objects).
 *
 * CLOCK_MONOTONIC cannot fail on Linux; if it did, 0 makes every deadline
 * look far away rather than already past.  Async-signal-safe.
 */
#ifndef TORIFY_CORE_CLOCK_H
#define TORIFY_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t torify_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t torify_now_ms(void)
{
    return torify_now_ns() / 1000000;
}

#endif
