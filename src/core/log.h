/*
 * core/log.h — torify's logging: levels, one destination, one line per event.
 *
 * Quiet by default.  The level and destination are set once by the state
 * module from the configuration (notice when TORIFY_LAUNCHED=1).  Writing
 * uses a stack buffer and one write(2), never stdio or malloc, so it may be
 * called from any intercepted function, also one reached from a signal
 * handler, and never interleaves half lines from two threads.
 */
#ifndef TORIFY_CORE_LOG_H
#define TORIFY_CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <torify/error.h>

enum torify_log_level {
    TORIFY_LOG_QUIET  = 0,
    TORIFY_LOG_ERROR  = 1,
    TORIFY_LOG_NOTICE = 2,
    TORIFY_LOG_INFO   = 3,
    TORIFY_LOG_DEBUG  = 4,
};

/* Longest line written; longer messages are cut and end in "...\n". */
#define TORIFY_LOG_LINE_MAX 512

/* "quiet", "error", "notice", "info", "debug" (case-insensitive) -> level;
 * returns 0 on success, -1 for an unknown word. */
int torify_log_level_parse(const char *word, enum torify_log_level *out);
const char *torify_log_level_name(enum torify_log_level level);

/* Where and how much to log.  fd < 0 means stderr (fd 2).  Another fd is
 * remembered by identity: if the program later closes it and the number
 * comes back as another file, lines are dropped, never written there. */
void torify_log_setup(enum torify_log_level level, int fd);
enum torify_log_level torify_log_level_get(void);
int torify_log_enabled(enum torify_log_level level);

/* Format one line "torify: <message>\n" into buf (always NUL-terminated,
 * always ending in a newline when len >= 2).  Returns the length written. */
size_t torify_log_format(char *buf, size_t len, const char *fmt, va_list ap);

/* Log one line at level, if enabled. */
void torify_log(enum torify_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The refusal line: "torify: refused <what> (<why>)", at notice level;
 * <why> is torify_policy_refusal_text(why): the reason, and the setting
 * that would allow it where one exists.  Returns torify_err_errno(why) so callers
 * can write `errno = torify_refuse(...)`. */
#define torify_refuse(...) torify_refuse_at(TORIFY_LOG_NOTICE, __VA_ARGS__)
/* The same at another level (torify_policy_refusal_level). */
int torify_refuse_at(enum torify_log_level level, torify_err why, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
