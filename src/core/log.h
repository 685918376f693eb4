/*
 * core/log.h — torify's logging: levels, one destination, one line per event.
 *
 * One formatting and writing path for every "torify: " line the shim and
 * the guard print.  Writing uses a stack buffer and one write(2), never
 * stdio or malloc, so it may be called from any intercepted function, also
 * one reached from a signal handler, and never interleaves half lines from
 * two threads.
 *
 * The logger's state (level, destination, the fold of repeated lines) is a
 * struct torify_logger kept by its owner in the one place for its process
 * state: the shim's in torify_shim (shim/state.h), the guard's in its
 * supervisor (guard/internal.h).  torify_logger_setup makes one the
 * process's logger, the one torify_log writes to; until then (and in unit
 * tests that never set one up) torify_log is quiet.
 */
#ifndef TORIFY_CORE_LOG_H
#define TORIFY_CORE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <torify/error.h>
#include "core/log_fold.h"

enum torify_log_level {
    TORIFY_LOG_QUIET  = 0,
    TORIFY_LOG_ERROR  = 1,
    TORIFY_LOG_NOTICE = 2,
    TORIFY_LOG_INFO   = 3,
    TORIFY_LOG_DEBUG  = 4,
};

/* "quiet", "error", "notice", "info", "debug" (case-insensitive) -> level;
 * returns 0 on success, -1 for an unknown word. */
int torify_log_level_parse(const char *word, enum torify_log_level *out);
const char *torify_log_level_name(enum torify_log_level level);

struct torify_logger {
    _Atomic int level;              /* lines above it are dropped */
    _Atomic int fd;                 /* 2, or a log file known by identity: */
    dev_t dev;
    ino_t ino;
    struct torify_log_fold fold;    /* repeated lines, under its own lock */
};

/* Where and how much lg logs, and make it the process's logger (the one
 * before it gets its pending fold summary written).  fd < 0 means stderr
 * (fd 2).  Another fd is remembered by identity: if the program later
 * closes it and the number comes back as another file, lines are dropped,
 * never written there.  Call it before starting threads that log. */
void torify_logger_setup(struct torify_logger *lg, enum torify_log_level level, int fd);

/* The process's logger's level (quiet when none is set up). */
enum torify_log_level torify_log_level_get(void);
int torify_log_enabled(enum torify_log_level level);

/* Format one line "torify: <message>\n" into buf (always NUL-terminated,
 * always ending in a newline when len >= 2).  Returns the length written. */
size_t torify_log_format(char *buf, size_t len, const char *fmt, va_list ap);

/* Log one line at level to the process's logger, if enabled. */
void torify_log(enum torify_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void torify_log_v(enum torify_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The refusal line: "torify: refused <what> (<why>)", at notice level;
 * <why> is torify_policy_refusal_text(why): the reason, and the setting
 * that would allow it where one exists.  Returns torify_err_errno(why) so callers
 * can write `errno = torify_refuse(...)`. */
#define torify_refuse(...) torify_refuse_at(TORIFY_LOG_NOTICE, __VA_ARGS__)
/* The same at another level (torify_policy_refusal_level). */
int torify_refuse_at(enum torify_log_level level, torify_err why, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
