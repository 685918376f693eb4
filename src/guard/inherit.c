/*
 * guard/inherit.c — datagram, raw and packet sockets the program would
 * inherit from whoever started torify.
 *
 * The filter decides where sockets are made; a socket made before the
 * guard (by the shell, a service manager, a test harness) lives in the real
 * network namespace, and sendto on it needs no connect() the supervisor
 * could see.  So before the filter goes in, the child replaces each such
 * fd: an AF_INET/AF_INET6 datagram or raw socket by a UDP socket of the
 * sealed namespace (the program's sends then reach only torify's
 * responder, like those of sockets it makes itself), and without the
 * namespace, or for AF_PACKET, by /dev/null (sends fail with ENOTSOCK).
 * The fd number stays valid and keeps its close-on-exec flag, and one line
 * says what was replaced.  TCP sockets need nothing: their data can only
 * flow to where they are already connected, which the user chose.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "guard/internal.h"
#include "guard/log.h"

static bool replaceable(int fd, int *domain)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    int type = 0;
    socklen_t l = sizeof *domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, domain, &l) != 0)
        return false;
    if (*domain == AF_PACKET)
        return true;
    if (*domain != AF_INET && *domain != AF_INET6)
        return false;
    l = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type != SOCK_STREAM;
}

/* The replaceable fds (at most cap) other than keep_fd and the keeper's. */
static int collect(const struct guard_keeper *k, int keep_fd, int *fds, int *domains, int cap)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d) || fd == keep_fd || fd == k->ctl)
            continue;
        int dom;
        if (replaceable((int)fd, &dom)) {
            domains[n] = dom;
            fds[n++] = (int)fd;
        }
    }
    closedir(d);
    return n;
}

bool guard_inherited_any(const struct guard_keeper *k)
{
    int fd, dom;
    return collect(k, -1, &fd, &dom, 1) != 0; /* unreadable counts: ask the keeper first */
}

int guard_seal_inherited(struct guard_sup *s, int keep_fd)
{
    struct guard_keeper *k = &s->keeper;
    int fds[64], domains[64];
    int n = collect(k, keep_fd, fds, domains, 64);
    if (n < 0)
        return n;
    /* The parent read the keeper's status before the fork when there was
     * anything here to replace (run.c); still pending means no namespace
     * for these: /dev/null, as without one. */
    bool up = atomic_load(&k->state) == KEEPER_UP;
    for (int i = 0; i < n; i++) {
        int flags = fcntl(fds[i], F_GETFD);
        int with = -1;
        const char *by = "/dev/null";
        if (up && domains[i] != AF_PACKET) {
            with = guard_keeper_socket(k, domains[i], SOCK_DGRAM, 0);
            by = "a UDP socket of the sealed namespace";
        }
        if (with < 0) {
            with = open("/dev/null", O_RDWR | O_CLOEXEC);
            by = "/dev/null";
        }
        if (with < 0 || dup3(with, fds[i], (flags >= 0 && (flags & FD_CLOEXEC)) ? O_CLOEXEC : 0) < 0) {
            /* Cannot replace it: close it rather than let it send. */
            close(fds[i]);
            by = "nothing (closed)";
        }
        if (with >= 0)
            close(with);
        guard_log(s, TORIFY_LOG_NOTICE,
                  "guard: the inherited %s socket at fd %d was replaced by %s (its datagrams would not go "
                  "through Tor)",
                  domains[i] == AF_PACKET ? "packet" : "datagram", fds[i], by);
    }
    return n;
}
