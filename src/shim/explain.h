/*
 * shim/explain.h — what Tor's control port says, added to the line of a
 * failed connect through Tor (shim/explain.c).
 */
#ifndef TORIFY_SHIM_EXPLAIN_H
#define TORIFY_SHIM_EXPLAIN_H

#include <stddef.h>
#include "core/config.h"

/* "; Tor's control port says: ..." into buf, or "" (nothing to add, not
 * asked); returns buf.  Call only on a failure path. */
#define TORIFY_EXPLAIN_MAX 400
const char *torify_explain(const struct torify_config *cfg, char *buf, size_t cap);
void torify_explain_after_fork_child(void);

#endif
