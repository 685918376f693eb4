/*
 * shim/real.h — the next definitions (libc's) of the functions we interpose.
 *
 * Each is looked up with dlsym(RTLD_NEXT) on first use and kept in an atomic
 * pointer (torify_shim.real, shim/state.h): racing first calls resolve the
 * same value, so no lock is needed, and every later call costs one load.
 * Nothing is resolved at load time, except libc's close and connect (below).
 */
#ifndef TORIFY_SHIM_REAL_H
#define TORIFY_SHIM_REAL_H

#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>

#include "shim/state.h"

/* What the program sees of libtorify.so: the interposed functions, also
 * listed in exports.map; everything else is built hidden. */
#define EXPORT __attribute__((visibility("default")))

enum torify_real_id {
    TORIFY_REAL_SOCKET,
    TORIFY_REAL_CONNECT,
    TORIFY_REAL_CLOSE,
    TORIFY_REAL_GETADDRINFO,
    TORIFY_REAL_FREEADDRINFO,
    TORIFY_REAL_GETNAMEINFO,
    TORIFY_REAL_SENDTO,
    TORIFY_REAL_SENDMSG,
    TORIFY_REAL_SENDMMSG,
    TORIFY_REAL_LISTEN,
    TORIFY_REAL_ACCEPT,
    TORIFY_REAL_ACCEPT4,
    TORIFY_REAL_GETPEERNAME,
    TORIFY_REAL_SYSCALL,
    /* Only called on the pass-through path of exempt processes. */
    TORIFY_REAL_GETADDRINFO_A,
    TORIFY_REAL_GETHOSTBYNAME,
    TORIFY_REAL_GETHOSTBYNAME2,
    TORIFY_REAL_GETHOSTBYNAME_R,
    TORIFY_REAL_GETHOSTBYNAME2_R,
    TORIFY_REAL_GETHOSTBYADDR,
    TORIFY_REAL_GETHOSTBYADDR_R,
    TORIFY_REAL_RES_QUERY,
    TORIFY_REAL_RES_SEARCH,
    TORIFY_REAL_RES_QUERYDOMAIN,
    TORIFY_REAL_RES_SEND,
    TORIFY_REAL_RES_NQUERY,
    TORIFY_REAL_RES_NSEARCH,
    TORIFY_REAL_RES_NQUERYDOMAIN,
    TORIFY_REAL_RES_NSEND,
    TORIFY_REAL_GETSOCKOPT,
    TORIFY_REAL_EPOLL_CTL,
    TORIFY_REAL_EPOLL_WAIT,
    TORIFY_REAL_EPOLL_PWAIT,
    TORIFY_REAL_EPOLL_PWAIT2,
    TORIFY_REAL_POLL,
    TORIFY_REAL_PPOLL,
    TORIFY_REAL_SELECT,
    TORIFY_REAL_PSELECT,
    /* HideIdentity (shim/identity.c) */
    TORIFY_REAL_GETHOSTNAME,
    TORIFY_REAL_UNAME,
    TORIFY_REAL_GETIFADDRS,
    TORIFY_REAL_IF_NAMEINDEX,
    TORIFY_REAL_IOCTL,
    TORIFY_REAL_RECV,
    TORIFY_REAL_RECVFROM,
    TORIFY_REAL_RECVMSG,
    TORIFY_REAL_SHUTDOWN,
    /* optimistic data (shim/opt_io.c); read, write and send only where
     * libc has no public alias for them */
    TORIFY_REAL_READ,
    TORIFY_REAL_WRITE,
    TORIFY_REAL_SEND,
    TORIFY_REAL_READV,
    TORIFY_REAL_WRITEV,
    TORIFY_REAL_RECVMMSG,
    TORIFY_REAL_SPLICE,
    TORIFY_REAL_SENDFILE,
    /* a socket that owes its reply crossing into another program
     * (shim/exec.c; dup and exec themselves never need dlsym: shim/dup.c) */
    TORIFY_REAL_POSIX_SPAWN,
    TORIFY_REAL_POSIX_SPAWNP,
    TORIFY_REAL__COUNT
};

_Static_assert(TORIFY_REAL__COUNT <= TORIFY_SHIM_REAL_MAX, "torify_shim.real is too small");

/* Resolve one entry; NULL (errno ENOSYS) if libc has no such function. */
void *torify_real_resolve(enum torify_real_id id);

/* The entry if already resolved, else NULL: for hot paths that keep the
 * first-use lookup out of line. */
static inline void *torify_real_loaded(enum torify_real_id id)
{
    return atomic_load_explicit(&torify_shim.real[id], memory_order_acquire);
}

static inline void *torify_real(enum torify_real_id id)
{
    void *p = torify_real_loaded(id);
    return __builtin_expect(p != NULL, 1) ? p : torify_real_resolve(id);
}

typedef int (*torify_socket_fn)(int, int, int);
typedef int (*torify_connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*torify_close_fn)(int);
typedef int (*torify_getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef void (*torify_freeaddrinfo_fn)(struct addrinfo *);
typedef int (*torify_getnameinfo_fn)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
typedef ssize_t (*torify_sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*torify_sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*torify_sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);
typedef int (*torify_listen_fn)(int, int);
typedef int (*torify_accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*torify_accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*torify_getpeername_fn)(int, struct sockaddr *, socklen_t *);
typedef long (*torify_syscall_fn)(long, ...);
typedef int (*torify_getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*torify_shutdown_fn)(int, int);
struct epoll_event;
typedef int (*torify_epoll_ctl_fn)(int, int, int, struct epoll_event *);
typedef int (*torify_getaddrinfo_a_fn)(int, struct gaicb **, int, struct sigevent *);
typedef struct hostent *(*torify_gethostbyname_fn)(const char *);
typedef struct hostent *(*torify_gethostbyname2_fn)(const char *, int);
typedef int (*torify_gethostbyname_r_fn)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
typedef int (*torify_gethostbyname2_r_fn)(const char *, int, struct hostent *, char *, size_t, struct hostent **,
                                          int *);
typedef struct hostent *(*torify_gethostbyaddr_fn)(const void *, socklen_t, int);
typedef int (*torify_gethostbyaddr_r_fn)(const void *, socklen_t, int, struct hostent *, char *, size_t,
                                         struct hostent **, int *);

#define REAL(id, type) ((type)torify_real(TORIFY_REAL_##id))

/* Real socket/connect/close for torify's own sockets (to Tor). -1/errno. */
int torify_real_socket(int domain, int type, int protocol);
int torify_real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int torify_real_close(int fd);

/* libc's close as a constant function: glibc's public alias __close (since
 * 2.2.5), bound by the dynamic linker at load time, so calling it never
 * runs dlsym (loader lock, malloc) — close() may be called from a signal
 * handler.  The library's other calls into libc are bound lazily (Makefile):
 * noplt makes this one a GOT load, which the loader fills at load time even
 * then (and -z relro makes read-only).  Other libcs: resolved on first use. */
#if defined(__GLIBC__)
extern int __close(int fd) __attribute__((noplt));
#define TORIFY_LIBC_CLOSE __close
#else
#define TORIFY_LIBC_CLOSE torify_real_close
#endif

#endif
