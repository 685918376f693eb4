/*
 * shim/publish.h — the streams table the shim publishes for
 * `torify --streams` (shim/publish.c, layout in core/streamtab.h).
 */
#ifndef TORIFY_SHIM_PUBLISH_H
#define TORIFY_SHIM_PUBLISH_H

#include <torify/socks.h>

/* fd is now a socket torified for t (the first call makes the table). */
void torify_pub_note(int fd, const struct torify_target *t);
/* fd is no longer one: async-signal-safe, never makes the table. */
void torify_pub_forget(int fd);
/* In a forked child: let go of the parent's table. */
void torify_pub_after_fork_child(void);

#endif
