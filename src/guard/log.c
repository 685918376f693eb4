/*
 * guard/log.c — log lines of the supervisor.  Kept apart from core's logger
 * because the launcher's process is not the program's: it has its own
 * stderr and its own level, and no shim state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "guard/log.h"

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
    /* One write: lines of concurrent handler threads never interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
