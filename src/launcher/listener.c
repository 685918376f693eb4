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

/* The process holding socket inode and its executable: the first one
 * whose executable is not avoid (NULL: any), else the first one at all (a
 * socket the guard's supervisor passed on is held by both). */
bool proc_socket_owner(unsigned long inode, const char *avoid, long *pid, char *exe, size_t len)
{
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (!proc)
        return false;
    bool ok = false, preferred = false;
    for (struct dirent *d; !preferred && (d = readdir(proc));) {
        if (!isdigit((unsigned char)d->d_name[0]))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/proc/%s/fd", d->d_name);
        DIR *fds = opendir(path);
        if (!fds)
            continue;
        for (struct dirent *e; (e = readdir(fds));) {
            if (e->d_name[0] == '.')
                continue;
            char link[PATH_MAX], target[64], got[PATH_MAX];
            snprintf(link, sizeof link, "/proc/%s/fd/%s", d->d_name, e->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) != 0)
                continue;
            snprintf(link, sizeof link, "/proc/%s/exe", d->d_name);
            n = readlink(link, got, sizeof got - 1);
            if (n <= 0)
                break;
            got[n] = '\0';
            const char *base = strrchr(got, '/');
            preferred = avoid == NULL || strcmp(base ? base + 1 : got, avoid) != 0;
            if (!ok || preferred) {
                snprintf(exe, len, "%s", got);
                if (pid != NULL)
                    *pid = strtol(d->d_name, NULL, 10);
                ok = true;
            }
            break;
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
           proc_socket_owner(inode, NULL, NULL, exe, len);
}
