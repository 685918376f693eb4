/* core/log_fold.c — see log_fold.h. */
#include "core/log_fold.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static size_t summary(struct torify_log_fold *f, char *out, size_t out_len)
{
    if (f->repeats == 0 || out_len == 0)
        return 0;
    int n = snprintf(out, out_len, "torify: (previous line repeated %lu time%s)\n", f->repeats,
                     f->repeats == 1 ? "" : "s");
    f->repeats = 0;
    if (n < 0)
        return 0;
    return (size_t)n < out_len ? (size_t)n : out_len - 1;
}

size_t torify_log_fold_feed(struct torify_log_fold *f, const char *line, size_t len, uint64_t now_ms,
                            char *out, size_t out_len)
{
    if (len == f->last_len && len > 0 && memcmp(line, f->last, len) == 0) {
        if (f->repeats == 0)
            f->since_ms = now_ms;
        f->repeats++;
        /* Bounded: a line repeated for ever is still counted aloud now and then. */
        if (now_ms - f->since_ms >= TORIFY_LOG_FOLD_INTERVAL_MS)
            return summary(f, out, out_len);
        return 0;
    }
    size_t used = summary(f, out, out_len);
    if (len > out_len - used)
        len = out_len - used;
    memcpy(out + used, line, len);
    used += len;
    size_t keep = len < sizeof f->last ? len : sizeof f->last;
    memcpy(f->last, line, keep);
    f->last_len = keep;
    return used;
}

size_t torify_log_fold_flush(struct torify_log_fold *f, char *out, size_t out_len)
{
    return summary(f, out, out_len);
}

int torify_log_fold_lock(struct torify_log_fold *f)
{
    int self = (int)gettid();
    pid_t pid = getpid();
    for (unsigned spins = 0;; spins++) {
        int expected = 0;
        if (atomic_compare_exchange_weak_explicit(&f->owner, &expected, self, memory_order_acquire,
                                                  memory_order_relaxed))
            return 1;
        if (expected == self)
            return 0;
        /* A child forked while another thread held the lock inherits it
         * held by a thread it does not have: take it over. */
        if ((spins & 63) == 63 && tgkill(pid, expected, 0) != 0 &&
            atomic_compare_exchange_strong_explicit(&f->owner, &expected, self, memory_order_acquire,
                                                    memory_order_relaxed))
            return 1;
        sched_yield(); /* another thread is writing one line: short */
    }
}

void torify_log_fold_unlock(struct torify_log_fold *f)
{
    atomic_store_explicit(&f->owner, 0, memory_order_release);
}

uint64_t torify_log_fold_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
