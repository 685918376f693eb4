/*
 * guard/thread.c — the guard's detached helper threads (a TCP DNS
 * connection, a real answer waiting for Tor): small stacks, since each
 * only parses and answers one message at a time, and no join.
 */
#include <pthread.h>
#include "guard/internal.h"

#define GUARD_THREAD_STACK (256 * 1024)

int guard_thread_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t at;
    pthread_t t;
    int e = pthread_attr_init(&at);
    if (e != 0)
        return -e;
    e = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (e == 0)
        e = pthread_attr_setstacksize(&at, GUARD_THREAD_STACK);
    if (e == 0)
        e = pthread_create(&t, &at, fn, arg);
    pthread_attr_destroy(&at);
    return -e;
}
