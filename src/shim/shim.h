/*
 * shim/shim.h — what the shim's files share (not exported).
 */
#ifndef TORIFY_SHIM_SHIM_H
#define TORIFY_SHIM_SHIM_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/policy.h"

/* Called when torify starts keeping state for some fd: from then on close()
 * checks the fd table (until then close() is a plain jump to libc's). */
void torify_close_track_on(void);

/* SO_TYPE / SO_DOMAIN of fd, -1 if not a socket. */
int torify_sock_type(int fd);
/* Does the guard make this process's datagram sockets in its sealed network
 * namespace (src/guard/keeper.c)?  Asked once, then cached. */
bool torify_shim_udp_sealed(void);
/* The machine's real host name (raw uname(2), never the HideIdentity mask):
 * 0, or -1 with buf untouched. */
int torify_shim_real_hostname(char *buf, size_t len);
/* Under HideIdentity: the name in /etc/hostname (the guard's UTS namespace
 * hides the real one from uname), 0; else -1. */
int torify_shim_etc_hostname(char *buf, size_t len);
/* A socket was made at fd: under HideIdentity a NETLINK_ROUTE one is
 * followed so its interface and address dumps show the loopback only. */
void torify_shim_identity_socket(int fd, int domain, int protocol);
int torify_sock_domain(int fd);

/* "AF_INET", "SOCK_DGRAM"... for refusal messages (family: NULL if unnamed). */
const char *torify_family_name(int family);
const char *torify_socktype_name(int type);

/* torify_policy_name_kind with this machine's own name counted as local. */
enum torify_name_kind torify_shim_name_kind(const char *name);

#endif
