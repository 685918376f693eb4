/* core/log.c — see log.h. */
#include "core/log.h"
#include "core/sys.h"
#include "core/log_fold.h"
#include "core/policy.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The process's logger, set up by its owner (log.h).  The only variable
 * here: the state itself lives with the owner. */
static struct torify_logger *_Atomic current;

static const char *const level_names[] = { "quiet", "error", "notice", "info", "debug" };

int torify_log_level_parse(const char *word, enum torify_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(word, level_names[i]) == 0) {
            *out = (enum torify_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *torify_log_level_name(enum torify_log_level level)
{
    if ((unsigned)level < sizeof level_names / sizeof level_names[0])
        return level_names[level];
    return "unknown";
}

static void log_fold_flush(struct torify_logger *lg);

void torify_logger_setup(struct torify_logger *lg, enum torify_log_level level, int fd)
{
    struct torify_logger *old = atomic_load(&current);
    if (old)
        log_fold_flush(old); /* a new destination starts afresh */
    struct stat st;
    if (fd >= 0 && fd != 2 && fstat(fd, &st) == 0) {
        lg->dev = st.st_dev;
        lg->ino = st.st_ino;
    } else {
        fd = 2;
    }
    atomic_store(&lg->fd, fd);
    atomic_store(&lg->level, (int)level);
    atomic_store(&current, lg);
}

enum torify_log_level torify_log_level_get(void)
{
    struct torify_logger *lg = atomic_load_explicit(&current, memory_order_acquire);
    return lg ? (enum torify_log_level)atomic_load_explicit(&lg->level, memory_order_relaxed) : TORIFY_LOG_QUIET;
}

int torify_log_enabled(enum torify_log_level level)
{
    return level != TORIFY_LOG_QUIET && (int)level <= (int)torify_log_level_get();
}

size_t torify_log_format(char *buf, size_t len, const char *fmt, va_list ap)
{
    static const char prefix[] = "torify: ";
    if (len == 0)
        return 0;
    if (len < 2) {
        buf[0] = '\0';
        return 0;
    }
    size_t used = 0;
    size_t room = len - 1; /* keep one byte for the newline before the NUL */
    int n = snprintf(buf, room, "%s", prefix);
    used = n < 0 ? 0 : ((size_t)n >= room ? room - 1 : (size_t)n);
    n = vsnprintf(buf + used, room - used, fmt, ap);
    if (n < 0) {
        buf[used] = '\0';
    } else if ((size_t)n >= room - used) {
        /* Cut: the line still ends clearly, not mid-word without notice. */
        used = room - 1;
        if (used >= 3)
            memcpy(buf + used - 3, "...", 3);
    } else {
        used += (size_t)n;
    }
    /* One event, one line: embedded newlines from names would forge lines. */
    for (size_t i = 0; i < used; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
    buf[used++] = '\n';
    buf[used] = '\0';
    return used;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = torify_sys_write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        buf += w;
        len -= (size_t)w;
    }
}

/* Is fd still lg's log file (or stderr)?  A daemon that closes every fd
 * and opens its own files may reuse the number; we must never write into
 * them. */
static bool fd_is_ours(const struct torify_logger *lg, int fd)
{
    if (fd == 2)
        return true;
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == lg->dev && st.st_ino == lg->ino;
}

static void log_write(struct torify_logger *lg, const char *buf, size_t len)
{
    int fd = atomic_load_explicit(&lg->fd, memory_order_relaxed);
    int saved = errno; /* logging must never change what the caller sees */
    if (!fd_is_ours(lg, fd)) {
        errno = saved;
        return; /* our log file is gone from that fd: say nothing rather than corrupt */
    }
    if (torify_log_fold_lock(&lg->fold)) {
        /* Written under the lock: the summary comes before the next line. */
        char out[TORIFY_LOG_FOLD_OUT_MAX];
        size_t n = torify_log_fold_feed(&lg->fold, buf, len, torify_log_fold_now_ms(), out, sizeof out);
        write_all(fd, out, n);
        torify_log_fold_unlock(&lg->fold);
    } else {
        write_all(fd, buf, len); /* a signal handler inside a log call of its thread */
    }
    errno = saved;
}

static void log_fold_flush(struct torify_logger *lg)
{
    int fd = atomic_load_explicit(&lg->fd, memory_order_relaxed);
    int saved = errno;
    if (torify_log_fold_lock(&lg->fold)) {
        char out[TORIFY_LOG_FOLD_OUT_MAX];
        size_t n = torify_log_fold_flush(&lg->fold, out, sizeof out);
        if (n && fd_is_ours(lg, fd))
            write_all(fd, out, n);
        lg->fold.last_len = 0;
        torify_log_fold_unlock(&lg->fold);
    }
    errno = saved;
}

/* At exit, the count of lines folded since the last one written. */
__attribute__((destructor)) static void log_fold_at_exit(void)
{
    struct torify_logger *lg = atomic_load(&current);
    if (lg)
        log_fold_flush(lg);
}

void torify_log_v(enum torify_log_level level, const char *fmt, va_list ap)
{
    struct torify_logger *lg = atomic_load_explicit(&current, memory_order_acquire);
    if (!lg || level == TORIFY_LOG_QUIET || (int)level > atomic_load_explicit(&lg->level, memory_order_relaxed))
        return;
    char line[TORIFY_LOG_LINE_MAX];
    size_t n = torify_log_format(line, sizeof line, fmt, ap);
    log_write(lg, line, n);
}

void torify_log(enum torify_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    torify_log_v(level, fmt, ap);
    va_end(ap);
}

int torify_refuse_at(enum torify_log_level level, torify_err why, const char *what_fmt, ...)
{
    int e = torify_err_errno(why);
    if (!torify_log_enabled(level))
        return e;
    char what[TORIFY_LOG_LINE_MAX], why_text[TORIFY_LOG_LINE_MAX];
    va_list ap;
    va_start(ap, what_fmt);
    int n = vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    if (n < 0)
        what[0] = '\0';
    torify_log(level, "refused %s (%s)", what, torify_policy_refusal_text(why, why_text, sizeof why_text));
    return e;
}
