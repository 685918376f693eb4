/*
 * core/procstat.h — one reader of /proc/PID/stat lines.
 *
 * The shim and the guard's supervisor must derive identical IsolatePID
 * credentials from a process's start time, so both read it through this
 * one parser; the shim's state reads the thread count with it too.  Pure:
 * the callers do the file I/O with what they may call (the shim must not
 * re-enter its own close).
 */
#ifndef TORIFY_CORE_PROCSTAT_H
#define TORIFY_CORE_PROCSTAT_H

#include <stddef.h>

enum {
    TORIFY_PROCSTAT_NUM_THREADS = 20, /* proc(5) field numbers, from 1 (pid) */
    TORIFY_PROCSTAT_STARTTIME = 22,
};

/* Field `field` (>= 3) of a /proc/PID/stat text of len bytes (need not be
 * NUL-terminated) as an unsigned decimal: 0 and *out set, or -1 when the
 * text is cut short, the field is not a number, or it does not fit.  The
 * command name (field 2) may hold spaces and parentheses: fields are
 * counted after its last ')'. */
int torify_procstat_field(const char *text, size_t len, int field, unsigned long long *out);

#endif
