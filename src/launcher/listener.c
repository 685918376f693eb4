/*
 * launcher/listener.c — which program listens at Tor's address?
 *
 * For `torify --system enable|status`: once every process is torified, the
 * Tor daemon must be exempt, or after its next restart it sends its own
 * connections to its own SocksPort and the machine is cut off.  The
 * listening socket is found in /proc/net/tcp{,6} (its inode), the process
 * holding it by its /proc/PID/fd links, and the program by /proc/PID/exe —
 * the same name the library's exemption compares.  Read-only; sends nothing.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "launcher/launcher.h"

/* The executable of the process holding socket inode, into exe. */
static bool inode_owner_exe(unsigned long inode, char *exe, size_t len)
{
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (!proc)
        return false;
    bool ok = false;
    for (struct dirent *d; !ok && (d = readdir(proc));) {
        if (!isdigit((unsigned char)d->d_name[0]))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/proc/%s/fd", d->d_name);
        DIR *fds = opendir(path);
        if (!fds)
            continue;
        for (struct dirent *e; !ok && (e = readdir(fds));) {
            if (e->d_name[0] == '.')
                continue;
            char link[PATH_MAX], target[64];
            snprintf(link, sizeof link, "/proc/%s/fd/%s", d->d_name, e->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) != 0)
                continue;
            snprintf(link, sizeof link, "/proc/%s/exe", d->d_name);
            n = readlink(link, exe, len - 1);
            if (n > 0) {
                exe[n] = '\0';
                ok = true;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return ok;
}

bool tor_listener_exe(const struct torify_config *cfg, char *exe, size_t len)
{
    unsigned long inode = 0;
    return tcp_listening_at((const struct sockaddr *)&cfg->tor_addr, &inode) == 1 && inode &&
           inode_owner_exe(inode, exe, len);
}
