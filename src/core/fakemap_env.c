/* core/fakemap_env.c — see fakemap_env.h. */
#include "core/fakemap_env.h"
#include "core/fakemap_ask.h"
#include "core/log.h"
#include "core/sys.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* "<fd>:<inode>", both decimal, nothing else. */
static bool parse_value(const char *v, int *fd, uint64_t *ino)
{
    uint64_t a = 0, b = 0;
    const char *p = v;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((a = a * 10 + (uint64_t)(*p - '0')) > INT32_MAX)
            return false;
    if (*p++ != ':' || *p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (b > (UINT64_MAX - 9) / 10)
            return false;
        b = b * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0')
        return false;
    *fd = (int)a;
    *ino = b;
    return true;
}

/* Where the exported memfd goes: high, out of the way of the program's own
 * low fds, below 1024 and the soft limit. */
static int export_min_fd(void)
{
    struct rlimit rl;
    rlim_t lim = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < lim)
        lim = rl.rlim_cur;
    return lim >= 16 ? (int)(lim * 3 / 4) : 3;
}

int torify_fakemap_env_publish(struct torify_fakemap *m)
{
    uint64_t ino = 0;
    int fd = torify_fakemap_export(m, export_min_fd(), &ino);
    if (fd < 0)
        return -1;
    char v[48];
    snprintf(v, sizeof v, "%d:%llu", fd, (unsigned long long)ino);
    if (setenv(TORIFY_FAKEMAP_ENV, v, 1) != 0)
        return -1;
    snprintf(v, sizeof v, "%d", (int)getpid());
    return setenv(TORIFY_FAKEMAP_PID_ENV, v, 1);
}

/* The inherited fd is gone (the program closed every fd above 2 before it
 * exec'd us) or is another file: under the guard, ask the supervisor for
 * the tree's map (core/fakemap_ask.h).  Outside the guard the call just
 * fails.  The mapping outlives the fd, which is closed: the map's lock
 * does not need it. */
static bool ask_supervisor(uint64_t ino, const struct torify_fakemap_opts *o, struct torify_fakemap **m)
{
    long fd = torify_sys(TORIFY_FAKEMAP_ASK_NR, -1, (long)TORIFY_FAKEMAP_ASK_FD, (long)TORIFY_FAKEMAP_ASK_FLAGS, 0, 0, 0);
    if (fd < 0 || fd > INT32_MAX)
        return false;
    bool ok = torify_fakemap_attach(m, (int)fd, ino, o) == TORIFY_OK;
    torify_sys_close((int)fd);
    return ok;
}

/* Outside the guard: the publisher (a shell, the program the launcher
 * exec'd) may still hold the fd this process lost.  /proc/<pid>/fd/<fd>
 * reopens the same memfd when the kernel lets us look at that process
 * (same user, dumpable; never from inside the guard's Landlock domain),
 * and the file is checked like an inherited fd, so a reused pid or fd
 * number yields nothing. */
static bool reopen_publisher(const char *v, int fd, uint64_t ino, const struct torify_fakemap_opts *o,
                             struct torify_fakemap **m)
{
    if (!v || *v < '1' || *v > '9')
        return false;
    long pid = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || (pid = pid * 10 + (*p - '0')) > INT32_MAX)
            return false;
    }
    if (pid == (long)getpid())
        return false; /* it was our own fd, and it is gone */
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/%d", pid, fd);
    int nfd = open(path, O_RDWR | O_CLOEXEC);
    if (nfd < 0)
        return false;
    bool ok = torify_fakemap_attach(m, nfd, ino, o) == TORIFY_OK;
    torify_sys_close(nfd);
    return ok;
}

struct torify_fakemap *torify_fakemap_env_attach(const char *value, const char *pid,
                                                 const struct torify_fakemap_opts *o)
{
    if (!value)
        return NULL;
    struct torify_fakemap *m = NULL;
    int fd;
    uint64_t ino;
    if (parse_value(value, &fd, &ino)) {
        const char *from = NULL;
        if (torify_fakemap_attach(&m, fd, ino, o) == TORIFY_OK)
            from = "inherited from the parent";
        else if (ask_supervisor(ino, o, &m))
            from = "of the tree, from the guard (the inherited fd is gone)";
        else if (reopen_publisher(pid, fd, ino, o, &m))
            from = "reopened from the publisher (the inherited fd is gone)";
        if (from) {
            torify_log(TORIFY_LOG_DEBUG, "using the fake address map %s (fd %d)", from, fd);
            return m;
        }
    }
    torify_log(TORIFY_LOG_INFO, "ignoring %s=%s (not a usable fake address map): starting a new one",
               TORIFY_FAKEMAP_ENV, value);
    return NULL;
}
