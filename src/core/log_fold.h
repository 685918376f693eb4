/*
 * core/log_fold.h — folding of repeated identical log lines.
 *
 * A program that looks a name up a hundred times gets the same debug line
 * a hundred times.  The first is written; identical ones that follow are
 * counted, and "(previous line repeated N times)" is written when another
 * line comes, when FOLD_INTERVAL_MS passed since the first one counted, or
 * at exit.  The state is a fixed buffer (no malloc), guarded by a lock that
 * knows its owner: a signal handler that logs while its own thread holds
 * the lock writes its line unfolded instead of deadlocking.
 */
#ifndef TORIFY_CORE_LOG_FOLD_H
#define TORIFY_CORE_LOG_FOLD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line written; longer messages are cut and end in "...\n". */
#define TORIFY_LOG_LINE_MAX 512

#define TORIFY_LOG_FOLD_INTERVAL_MS 10000

struct torify_log_fold {
    _Atomic int owner;              /* thread id holding the lock, 0 when free */
    char last[TORIFY_LOG_LINE_MAX]; /* the last line written */
    size_t last_len;
    unsigned long repeats;          /* identical lines counted since */
    uint64_t since_ms;              /* when the first of them came */
};

/* The longest output of feed/flush: the summary line and one line. */
#define TORIFY_LOG_FOLD_OUT_MAX (2 * TORIFY_LOG_LINE_MAX + 64)

/* One line (with its newline) at now_ms: writes to out what should be
 * written now (possibly nothing, possibly a summary and the line) and
 * returns its length.  Pure: the caller holds the lock. */
size_t torify_log_fold_feed(struct torify_log_fold *f, const char *line, size_t len, uint64_t now_ms,
                            char *out, size_t out_len);
/* The pending summary, if any (at exit). */
size_t torify_log_fold_flush(struct torify_log_fold *f, char *out, size_t out_len);

/* 1: locked, use the state; 0: this thread already holds it (a signal
 * handler interrupted a log call): write unfolded, do not touch it. */
int torify_log_fold_lock(struct torify_log_fold *f);
void torify_log_fold_unlock(struct torify_log_fold *f);

/* CLOCK_MONOTONIC in milliseconds (async-signal-safe). */
uint64_t torify_log_fold_now_ms(void);

#endif
