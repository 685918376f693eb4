/*
 * guard/proc.c — reading the guarded process: its memory (the sockaddr of a
 * connect), its thread group and its fd flags.  The supervisor reads each
 * thing once and acts on its own copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "core/procstat.h"
#include "guard/internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define PIDFD_THREAD_FLAG O_EXCL /* PIDFD_THREAD, <linux/pidfd.h> of 6.9 */
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int guard_pidfd_open(pid_t pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int guard_pidfd_getfd(int pidfd, int fd)
{
    long r = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    return r < 0 ? -errno : (int)r;
}

/* A pidfd for the thread tid: PIDFD_THREAD (Linux 6.9) opens it directly;
 * older kernels want the thread group leader, found in /proc/TID/status. */
int guard_pidfd_open_thread(pid_t tid)
{
    long fd = syscall(SYS_pidfd_open, tid, PIDFD_THREAD_FLAG);
    if (fd >= 0)
        return (int)fd;
    if (errno != EINVAL)
        return -errno;
    pid_t tgid = guard_tgid_of(tid);
    return tgid > 0 ? guard_pidfd_open(tgid) : (tgid < 0 ? tgid : -ESRCH);
}

/* process_vm_readv first (no fd, no seek); /proc/PID/mem as the fallback
 * when the former is compiled out of the kernel (CONFIG_CROSS_MEMORY_ATTACH). */
int guard_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {buf, len};
    struct iovec remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n >= 0)
        return -EFAULT;
    if (errno != ENOSYS)
        return errno == ESRCH ? -ESRCH : -EFAULT;

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = pread(fd, buf, len, (off_t)addr);
    int e = errno;
    close(fd);
    if (n == (ssize_t)len)
        return 0;
    return n < 0 ? -e : -EFAULT;
}

/* Read a small /proc file whole into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t used = 0;
    while (used + 1 < cap) {
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return 0;
}

/* Value of "Key:\t<number>" in a /proc text, base 8 or 10. */
static int field(const char *text, const char *key, int base, unsigned long long *out)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) != 0)
            continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p + klen, &end, base);
        if (errno != 0 || end == p + klen)
            return -EINVAL;
        *out = v;
        return 0;
    }
    return -ENOENT;
}

unsigned long long guard_start_time(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long st;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) < 0 ||
        torify_procstat_field(buf, strlen(buf), TORIFY_PROCSTAT_STARTTIME, &st) != 0)
        return 0;
    return st;
}

/* The field key of the small /proc file path. */
static int file_field(const char *path, const char *key, int base, unsigned long long *out)
{
    char buf[2048];
    int r = read_small(path, buf, sizeof buf);
    return r < 0 ? r : field(buf, key, base, out);
}

pid_t guard_tgid_of(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    unsigned long long v;
    int r = file_field(path, "Tgid:", 10, &v);
    return r < 0 ? r : (pid_t)v;
}

int guard_fd_cloexec(pid_t pid, int fd)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
    unsigned long long flags;
    int r = file_field(path, "flags:", 8, &flags);
    return r < 0 ? r : (flags & O_CLOEXEC) ? 1 : 0;
}
