/*
 * core/fakemap_env.h — one fake-address map for a process tree, handed down
 * through the environment (docs/DESIGN.md, "The fake-address map").
 *
 * The publisher (the launcher before exec, or a single-threaded shimmed
 * program) makes the map's memfd survive exec and names it in
 * TORIFY_FAKEMAP_ENV; a process started below it attaches to that map
 * instead of creating its own, so a name one program looked up can be
 * connected by any other program of the tree.  No state is kept here: the
 * caller keeps the map it gets.
 */
#ifndef TORIFY_CORE_FAKEMAP_ENV_H
#define TORIFY_CORE_FAKEMAP_ENV_H

#include "core/fakemap.h"

/* "<fd>:<inode>" of the map's memfd. */
#define TORIFY_FAKEMAP_ENV "TORIFY_FAKEMAP_FD"
/* Beside it, the pid of the process that published it: a program that
 * closed the fd can still reopen /proc/<pid>/fd/<fd> while that process
 * lives and holds it (best effort outside the guard; checked like the fd). */
#define TORIFY_FAKEMAP_PID_ENV "TORIFY_FAKEMAP_PID"

/* Make m's memfd survive exec (a high fd without FD_CLOEXEC) and name it in
 * TORIFY_FAKEMAP_ENV and TORIFY_FAKEMAP_PID_ENV.  Calls setenv(): only for a
 * single-threaded caller.  0 or -1. */
int torify_fakemap_env_publish(struct torify_fakemap *m);

/* The map named by value (TORIFY_FAKEMAP_ENV's value) and pid (that of
 * TORIFY_FAKEMAP_PID_ENV, may be NULL), tried in this order: the inherited
 * fd itself; else (it was closed, or the number is another file now) the
 * guard's supervisor (core/fakemap_ask.h); else the publisher's fd through
 * /proc.  Whatever is found is checked like the inherited fd (inode, seals,
 * size, header).  NULL, with one info line, when none is usable: the caller
 * starts a new map. */
struct torify_fakemap *torify_fakemap_env_attach(const char *value, const char *pid,
                                                 const struct torify_fakemap_opts *o);

#endif
