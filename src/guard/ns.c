/*
 * guard/ns.c — entering new kernel namespaces, privileged or not.
 *
 * A process with CAP_SYS_ADMIN (root) gets the namespaces it asks for
 * directly.  Anyone else gets them inside a new user namespace, where the
 * calling process holds every capability over what it creates (and nothing
 * over what it does not): the kernel allows this to unprivileged users
 * unless user namespaces are switched off (user.max_user_namespaces = 0,
 * kernel.unprivileged_userns_clone = 0, a container's seccomp profile).
 * The user's own uid and gid are mapped to themselves, so the process keeps
 * its identity for files and logs.
 *
 * unshare(CLONE_NEWUSER) demands a single-threaded caller: call this in a
 * freshly forked child.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "guard/internal.h"

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
    close(fd);
    return e;
}

/* Map the caller's ids to themselves in the user namespace it just made.
 * setgroups must be denied before an unprivileged gid_map is accepted. */
static int map_self(uid_t uid, gid_t gid)
{
    char line[64];
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    int e = write_file("/proc/self/uid_map", line);
    if (e < 0)
        return e;
    e = write_file("/proc/self/setgroups", "deny\n");
    if (e < 0 && e != -ENOENT)
        return e;
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    return write_file("/proc/self/gid_map", line);
}

int guard_ns_enter(int nsflags, bool *in_userns, char *why, size_t why_len)
{
    *in_userns = false;
    if (unshare(nsflags) == 0)
        return 0;
    int first = errno;
    if (first != EPERM) {
        snprintf(why, why_len, "unshare: %s", strerror(first));
        return -first;
    }
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | nsflags) != 0) {
        int e = errno;
        snprintf(why, why_len, "unshare(CLONE_NEWUSER): %s (unprivileged user namespaces are off here)",
                 strerror(e));
        return -e;
    }
    *in_userns = true;
    int e = map_self(uid, gid);
    if (e < 0) {
        /* Not fatal for what the namespace is for: an unmapped process
         * still holds the namespace's capabilities; it only shows as the
         * overflow id. */
        (void)e;
    }
    return 0;
}
