/*
 * launcher/watch.h — what `--watch` keeps per stream (watch.c), and the
 * screen it draws of them on a terminal (watch_screen.c).
 */
#ifndef TORIFY_LAUNCHER_WATCH_H
#define TORIFY_LAUNCHER_WATCH_H

#include <stddef.h>
#include <stdint.h>

/* How long a finished stream stays on the screen, marked. */
#define WATCH_KEEP_NS (5 * 1000000000LL)

struct watch_stream {
    unsigned long id, circ;
    long pid;                 /* 0: not found */
    char exe[256];
    char user[64];            /* SOCKS username: the isolation */
    char target[300];         /* as the program asked (the first event's) */
    char source[64];
    char state[32], reason[64];
    int64_t first_ns;         /* CLOCK_MONOTONIC of its first event seen */
    int64_t ended_ns;         /* of its CLOSED / FAILED event, 0 while it lives */
};

/* Redraw the terminal (cursor home, clear, one row per stream), after
 * dropping the streams that ended more than WATCH_KEEP_NS ago from s[0..*n). */
void watch_screen_draw(const char *where, struct watch_stream *s, size_t *n, int64_t now);

#endif
