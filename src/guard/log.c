/*
 * guard/log.c — log lines of the supervisor.  Kept apart from core's logger
 * because the launcher's process is not the program's: it has its own
 * stderr and its own level, and no shim state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "core/log_fold.h"
#include "guard/log.h"

/* The supervisor's own: its lines go to the launcher's stderr. */
static struct torify_log_fold fold;

static enum torify_log_level effective(const struct torify_config *c)
{
    return c->log_level_set ? c->log_level : TORIFY_LOG_NOTICE;
}

void guard_log(const struct guard_sup *s, enum torify_log_level level, const char *fmt, ...)
{
    if (level == TORIFY_LOG_QUIET || effective(&s->cfg) < level)
        return;
    char line[TORIFY_LOG_LINE_MAX];
    int n = snprintf(line, sizeof line, "torify: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* One write per call, under the fold's lock: lines of concurrent
     * handler threads never interleave, and a lookup repeated a hundred
     * times is one line and a count. */
    if (torify_log_fold_lock(&fold)) {
        char out[TORIFY_LOG_FOLD_OUT_MAX];
        size_t k = torify_log_fold_feed(&fold, line, len, torify_log_fold_now_ms(), out, sizeof out);
        if (k) {
            ssize_t w = write(STDERR_FILENO, out, k);
            (void)w;
        }
        torify_log_fold_unlock(&fold);
    } else {
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
    }
}

/* At exit (the launcher returns the program's status), the pending count. */
__attribute__((destructor)) static void guard_log_at_exit(void)
{
    if (!torify_log_fold_lock(&fold))
        return;
    char out[TORIFY_LOG_FOLD_OUT_MAX];
    size_t k = torify_log_fold_flush(&fold, out, sizeof out);
    if (k) {
        ssize_t w = write(STDERR_FILENO, out, k);
        (void)w;
    }
    torify_log_fold_unlock(&fold);
}
