/*
 * guard/log.c — log lines of the supervisor.  The launcher's process is not
 * the program's: it has its own stderr and its own level, and no shim
 * state.  Its logger lives in the supervisor (guard_sup.log, set up by
 * guard/run.c); lines are formatted, cleaned and folded by core/log.c, the
 * same code as the shim's.
 */
#include <stdarg.h>
#include "guard/log.h"

void guard_log(const struct guard_sup *s, enum torify_log_level level, const char *fmt, ...)
{
    (void)s; /* the supervisor's logger is the process's (guard/run.c) */
    va_list ap;
    va_start(ap, fmt);
    torify_log_v(level, fmt, ap);
    va_end(ap);
}
