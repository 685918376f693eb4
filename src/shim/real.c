/* shim/real.c — see real.h. */
#include "shim/real.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static const char *const real_names[TORIFY_REAL__COUNT] = {
    [TORIFY_REAL_SOCKET] = "socket",
    [TORIFY_REAL_CONNECT] = "connect",
    [TORIFY_REAL_CLOSE] = "close",
    [TORIFY_REAL_GETADDRINFO] = "getaddrinfo",
    [TORIFY_REAL_FREEADDRINFO] = "freeaddrinfo",
    [TORIFY_REAL_GETNAMEINFO] = "getnameinfo",
    [TORIFY_REAL_SENDTO] = "sendto",
    [TORIFY_REAL_SENDMSG] = "sendmsg",
    [TORIFY_REAL_SENDMMSG] = "sendmmsg",
    [TORIFY_REAL_LISTEN] = "listen",
    [TORIFY_REAL_ACCEPT] = "accept",
    [TORIFY_REAL_ACCEPT4] = "accept4",
    [TORIFY_REAL_GETPEERNAME] = "getpeername",
    [TORIFY_REAL_SYSCALL] = "syscall",
    [TORIFY_REAL_GETADDRINFO_A] = "getaddrinfo_a",
    [TORIFY_REAL_GETHOSTBYNAME] = "gethostbyname",
    [TORIFY_REAL_GETHOSTBYNAME2] = "gethostbyname2",
    [TORIFY_REAL_GETHOSTBYNAME_R] = "gethostbyname_r",
    [TORIFY_REAL_GETHOSTBYNAME2_R] = "gethostbyname2_r",
    [TORIFY_REAL_GETHOSTBYADDR] = "gethostbyaddr",
    [TORIFY_REAL_GETHOSTBYADDR_R] = "gethostbyaddr_r",
    [TORIFY_REAL_RES_QUERY] = "res_query",
    [TORIFY_REAL_RES_SEARCH] = "res_search",
    [TORIFY_REAL_RES_QUERYDOMAIN] = "res_querydomain",
    [TORIFY_REAL_RES_SEND] = "res_send",
    [TORIFY_REAL_RES_NQUERY] = "res_nquery",
    [TORIFY_REAL_RES_NSEARCH] = "res_nsearch",
    [TORIFY_REAL_RES_NQUERYDOMAIN] = "res_nquerydomain",
    [TORIFY_REAL_RES_NSEND] = "res_nsend",
    [TORIFY_REAL_GETSOCKOPT] = "getsockopt",
    [TORIFY_REAL_EPOLL_CTL] = "epoll_ctl",
    [TORIFY_REAL_EPOLL_WAIT] = "epoll_wait",
    [TORIFY_REAL_EPOLL_PWAIT] = "epoll_pwait",
    [TORIFY_REAL_EPOLL_PWAIT2] = "epoll_pwait2",
    [TORIFY_REAL_POLL] = "poll",
    [TORIFY_REAL_PPOLL] = "ppoll",
    [TORIFY_REAL_SELECT] = "select",
    [TORIFY_REAL_PSELECT] = "pselect",
    [TORIFY_REAL_GETHOSTNAME] = "gethostname",
    [TORIFY_REAL_UNAME] = "uname",
    [TORIFY_REAL_GETIFADDRS] = "getifaddrs",
    [TORIFY_REAL_IF_NAMEINDEX] = "if_nameindex",
    [TORIFY_REAL_IOCTL] = "ioctl",
    [TORIFY_REAL_RECV] = "recv",
    [TORIFY_REAL_RECVFROM] = "recvfrom",
    [TORIFY_REAL_RECVMSG] = "recvmsg",
    [TORIFY_REAL_SHUTDOWN] = "shutdown",
    [TORIFY_REAL_READ] = "read",
    [TORIFY_REAL_WRITE] = "write",
    [TORIFY_REAL_SEND] = "send",
    [TORIFY_REAL_READV] = "readv",
    [TORIFY_REAL_WRITEV] = "writev",
    [TORIFY_REAL_RECVMMSG] = "recvmmsg",
    [TORIFY_REAL_SPLICE] = "splice",
    [TORIFY_REAL_SENDFILE] = "sendfile",
    [TORIFY_REAL_POSIX_SPAWN] = "posix_spawn",
    [TORIFY_REAL_POSIX_SPAWNP] = "posix_spawnp",
};

void *torify_real_resolve(enum torify_real_id id)
{
    if ((unsigned)id >= TORIFY_REAL__COUNT)
        return NULL;
    void *p = dlsym(RTLD_NEXT, real_names[id]);
    if (!p && strncmp(real_names[id], "res_", 4) == 0) {
        /* Before glibc 2.34 the res_* functions were exported as __res_*
         * only (res_query was a macro). */
        char alt[32];
        if (snprintf(alt, sizeof alt, "__%s", real_names[id]) < (int)sizeof alt)
            p = dlsym(RTLD_NEXT, alt);
    }
    if (!p) {
        torify_log(TORIFY_LOG_ERROR, "cannot find the real %s()", real_names[id]);
        errno = ENOSYS;
        return NULL;
    }
    /* Every racer stores the same value: no lock needed. */
    atomic_store_explicit(&torify_shim.real[id], p, memory_order_release);
    return p;
}

int torify_real_socket(int domain, int type, int protocol)
{
    torify_socket_fn f = REAL(SOCKET, torify_socket_fn);
    return f ? f(domain, type, protocol) : -1;
}

#if defined(__GLIBC__)
/* glibc's public aliases of connect and close, bound by the dynamic linker
 * at load time (noplt: a GOT load, filled at load time although the library
 * is bound lazily, see real.h): these two are async-signal-safe calls a
 * program may make from a signal handler, where a first-use dlsym (loader
 * lock, malloc) must not run. */
extern int __connect(int fd, const struct sockaddr *sa, socklen_t len) __attribute__((noplt));

int torify_real_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return __connect(fd, sa, len);
}

int torify_real_close(int fd)
{
    return __close(fd);
}
#else
int torify_real_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    torify_connect_fn f = REAL(CONNECT, torify_connect_fn);
    return f ? f(fd, sa, len) : -1;
}

int torify_real_close(int fd)
{
    torify_close_fn f = REAL(CLOSE, torify_close_fn);
    return f ? f(fd) : -1;
}
#endif
