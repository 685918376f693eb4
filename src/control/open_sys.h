/*
 * control/open_sys.h — torify_ctl_open with the system calls of the
 * caller's choosing (socks/dial.h's struct torify_sx_sys): libtorify.so
 * opens its control connection with its own real socket/connect/close
 * (shim/tor.h's torify_tor_sys), never through its interposed connect.
 * Not in the public header: the struct is internal.
 */
#ifndef TORIFY_CONTROL_OPEN_SYS_H
#define TORIFY_CONTROL_OPEN_SYS_H

#include <torify/control.h>
#include "socks/dial.h"

struct torify_ctl *torify_ctl_open_sys(const struct torify_sx_sys *sys, const struct sockaddr *sa, socklen_t len,
                                       int timeout_ms, torify_err *err);

#endif
