/*
 * core/fakemap_ask.h — how a guarded process asks the supervisor for the
 * tree's fake-address map after the inherited memfd was closed (ssh, apt,
 * daemons close every fd above 2 before they exec).
 *
 * The request is pidfd_getfd(-1, TORIFY_FAKEMAP_ASK_FD, TORIFY_FAKEMAP_ASK_FLAGS):
 * a call the kernel can never carry out (pidfd -1 is no fd, and any flags
 * but 0 are EINVAL), so no working program makes it, and the two 32-bit
 * magic values make an accidental match by a broken one a 1 in 2^64 event.
 * The guard's filter (src/guard/filter.c) sends exactly this pattern to the
 * supervisor; every other pidfd_getfd is left to the kernel (or refused,
 * guard/filter.c).  The supervisor (src/guard/fakemap_fd.c) answers with
 * its own memfd installed close-on-exec in the caller, the call returning
 * its number; the caller validates it like an inherited one
 * (torify_fakemap_attach).  Outside the guard the call fails (EBADF or
 * EINVAL) and the caller starts a new map, as before.
 */
#ifndef TORIFY_CORE_FAKEMAP_ASK_H
#define TORIFY_CORE_FAKEMAP_ASK_H

#include <sys/syscall.h>

#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define TORIFY_FAKEMAP_ASK_NR __NR_pidfd_getfd
#define TORIFY_FAKEMAP_ASK_PIDFD 0xffffffffu   /* (int)-1, as the kernel reads it */
#define TORIFY_FAKEMAP_ASK_FD 0x746f7266u      /* "torf" */
#define TORIFY_FAKEMAP_ASK_FLAGS 0x6d617021u   /* "map!" */

/* The second question of the same shape, pidfd_getfd(-1,
 * TORIFY_FAKEMAP_ASK_FD, TORIFY_UDPNS_ASK_FLAGS): "are this tree's datagram
 * sockets made in the guard's sealed network namespace?"  The supervisor
 * answers 0 when they are (socket(AF_INET, SOCK_DGRAM) then gives a socket
 * that can reach nothing but torify's DNS responder, src/guard/keeper.c)
 * and ENOSYS when the namespace could not be made; outside the guard the
 * kernel says EBADF.  Only the answer 0, which no process outside the guard
 * can get, lets the shim hand datagram sockets to the kernel. */
#define TORIFY_UDPNS_ASK_FLAGS 0x646e7321u     /* "dns!" */

#endif
