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

#define TCP_LISTEN 0x0A

/* The inode of a TCP socket listening on addr:port (network byte order
 * address of len 4 or 16; all-zero means the wildcard), or 0. */
static unsigned long listening_inode(const char *table, const uint8_t *addr, size_t alen, uint16_t port)
{
    FILE *f = fopen(table, "re");
    if (!f)
        return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return 0;
    }
    while (!found && fgets(line, sizeof line, f)) {
        char local[64];
        unsigned st;
        unsigned long inode;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3 || st != TCP_LISTEN)
            continue;
        char *colon = strchr(local, ':');
        if (!colon || (size_t)(colon - local) != alen * 2 || strtoul(colon + 1, NULL, 16) != port)
            continue;
        /* The kernel prints the address as 32-bit words in host order. */
        uint8_t a[16];
        for (size_t w = 0; w < alen / 4; w++) {
            char hex[9];
            memcpy(hex, local + w * 8, 8);
            hex[8] = '\0';
            uint32_t v = (uint32_t)strtoul(hex, NULL, 16);
            memcpy(a + w * 4, &v, 4);
        }
        static const uint8_t zero[16];
        if (memcmp(a, addr, alen) == 0 || memcmp(a, zero, alen) == 0)
            found = inode;
    }
    fclose(f);
    return found;
}

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
    const struct sockaddr *sa = (const struct sockaddr *)&cfg->tor_addr;
    unsigned long inode = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inode = listening_inode("/proc/net/tcp", (const uint8_t *)&in->sin_addr, 4, ntohs(in->sin_port));
        if (!inode) {
            static const uint8_t any6[16];
            inode = listening_inode("/proc/net/tcp6", any6, 16, ntohs(in->sin_port));
        }
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inode = listening_inode("/proc/net/tcp6", (const uint8_t *)&in6->sin6_addr, 16, ntohs(in6->sin6_port));
    }
    return inode && inode_owner_exe(inode, exe, len);
}
