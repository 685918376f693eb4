/*
 * guard/log.h — the supervisor's log lines ("torify: ..." on stderr, one
 * write per line).  The level comes from the launcher's configuration
 * (LogLevel; notice when not set, as for every launched program).
 */
#ifndef TORIFY_GUARD_LOG_H
#define TORIFY_GUARD_LOG_H

#include "core/log.h"
#include "guard/internal.h"

void guard_log(const struct guard_sup *s, enum torify_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
