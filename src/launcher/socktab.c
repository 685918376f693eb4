/*
 * launcher/socktab.c — the torified sockets of this machine's programs
 * and what each program asked Tor for, for `torify --streams`.
 *
 * The sockets: TCP connections in /proc/net/tcp{,6} whose far end is one
 * of Tor's SOCKS listeners, ESTABLISHED (once Tor has closed a stream's
 * connection the program's side is in CLOSE_WAIT: no stream of Tor's is
 * behind it any more).  Their processes: the /proc/PID/fd links to their
 * inodes.  What was asked: the process's streams table, which libtorify.so
 * publishes (core/streamtab.h) — a memfd among the same /proc/PID/fd
 * links, slot N for fd N.  A slot counts only when fd N of that process is
 * that very socket now.  The table is read with pread, never mapped: its
 * writer could shrink the file under a mapping and kill the reader with
 * SIGBUS; and it is read twice per slot (the sequence lock's reader).
 * Only processes the caller may look into are seen: its own user's, or all
 * as root.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/streamtab.h"
#include "launcher/launcher.h"

#define INODES_MAX 4096
#define PROC_SOCKS_MAX 1024 /* sockets to Tor looked at per process */

struct inodes {
    unsigned long ino[INODES_MAX];
    bool told[INODES_MAX];  /* a record was found for it */
    size_t n;
};

/* "0100007F" (a native-endian word per 8 digits, as the kernel prints) -> bytes. */
static bool hex_words(const char *h, uint8_t *out, size_t len)
{
    if (strlen(h) != len * 2)
        return false;
    for (size_t w = 0; w < len / 4; w++) {
        char word[9];
        memcpy(word, h + w * 8, 8);
        word[8] = '\0';
        char *end;
        uint32_t v = (uint32_t)strtoul(word, &end, 16);
        if (*end != '\0')
            return false;
        memcpy(out + w * 4, &v, 4);
    }
    return true;
}

static bool is_listener(const struct tcp_end *ls, size_t n, int family, const uint8_t *addr, unsigned port)
{
    static const uint8_t zero[16];
    size_t alen = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        if (ls[i].family == family && ls[i].port == port &&
            (memcmp(ls[i].addr, addr, alen) == 0 || memcmp(ls[i].addr, zero, alen) == 0))
            return true;
    return false;
}

static void scan_net(const char *path, int family, const struct tcp_end *ls, size_t n, struct inodes *set)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) && set->n < INODES_MAX) {
        char rem[40];
        unsigned rport, st;
        unsigned long ino;
        uint8_t addr[16];
        if (sscanf(line, " %*u: %*39[0-9A-Fa-f]:%*x %39[0-9A-Fa-f]:%x %x %*s %*s %*s %*u %*u %lu", rem, &rport, &st,
                   &ino) != 4)
            continue;
        if (st != 1 || ino == 0 || !hex_words(rem, addr, family == AF_INET ? 4 : 16)) /* 1: ESTABLISHED */
            continue;
        if (is_listener(ls, n, family, addr, rport)) {
            set->ino[set->n] = ino;
            set->told[set->n++] = false;
        }
    }
    fclose(f);
}

static long inode_index(const struct inodes *set, unsigned long ino)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->ino[i] == ino)
            return (long)i;
    return -1;
}

/* A published name, made safe to print: anything but the characters of
 * host names becomes '?' (the writer may be hostile; a terminal is not
 * given its escape sequences). */
static void safe_name(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[o++] = (isalnum(ch) || ch == '.' || ch == '-' || ch == '_') ? (char)ch : '?';
    }
    out[o] = '\0';
}

/* The slot of fd in the table open at tfd, or false (unused, being
 * written, or not plausible). */
static bool read_slot(int tfd, int fd, struct sock_rec *r)
{
    struct torify_streamtab_slot a, b;
    off_t off = (off_t)offsetof(struct torify_streamtab, slot) + (off_t)fd * (off_t)sizeof a;
    if (pread(tfd, &a, sizeof a, off) != (ssize_t)sizeof a || pread(tfd, &b, sizeof b, off) != (ssize_t)sizeof b)
        return false;
    uint32_t seq = atomic_load_explicit(&a.seq, memory_order_relaxed);
    if ((seq & 1u) || memcmp(&a, &b, sizeof a) != 0 || !a.live)
        return false;
    r->port = a.port;
    r->started_ns = a.started_ns;
    char text[INET6_ADDRSTRLEN];
    switch (a.kind) {
    case TORIFY_STREAMTAB_NAME_KIND:
        if (a.host_len == 0)
            return false;
        r->kind = TORIFY_TARGET_HOST;
        safe_name(a.host, a.host_len, r->host, sizeof r->host);
        snprintf(r->asked, sizeof r->asked, "%s:%u", r->host, (unsigned)a.port);
        return true;
    case TORIFY_STREAMTAB_IPV4:
    case TORIFY_STREAMTAB_IPV6:
        r->kind = a.kind == TORIFY_STREAMTAB_IPV4 ? TORIFY_TARGET_IPV4 : TORIFY_TARGET_IPV6;
        memcpy(r->addr, a.addr, sizeof r->addr);
        if (inet_ntop(r->kind == TORIFY_TARGET_IPV4 ? AF_INET : AF_INET6, a.addr, text, sizeof text) == NULL)
            return false;
        snprintf(r->host, sizeof r->host, "%s", text);
        snprintf(r->asked, sizeof r->asked, r->kind == TORIFY_TARGET_IPV4 ? "%s:%u" : "[%s]:%u", text,
                 (unsigned)a.port);
        return true;
    default:
        return false;
    }
}

static bool table_ok(int tfd)
{
    struct torify_streamtab h;
    struct stat st;
    size_t head = offsetof(struct torify_streamtab, slot);
    return fstat(tfd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof h && pread(tfd, &h, head, 0) == (ssize_t)head &&
           h.magic == TORIFY_STREAMTAB_MAGIC && h.slots == TORIFY_STREAMTAB_SLOTS &&
           h.slot_size == sizeof(struct torify_streamtab_slot);
}

/* One process: its sockets to Tor, and its table's records of them. */
static size_t scan_pid(const char *pid, struct inodes *set, struct sock_rec *out, size_t cap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%s/fd", pid);
    DIR *fds = opendir(path);
    if (!fds)
        return 0;
    int sock_fd[PROC_SOCKS_MAX];
    long sock_ix[PROC_SOCKS_MAX];
    size_t n_socks = 0;
    int table = -1;
    for (struct dirent *e; (e = readdir(fds));) {
        if (e->d_name[0] == '.')
            continue;
        char link[PATH_MAX], target[128];
        snprintf(link, sizeof link, "/proc/%s/fd/%s", pid, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long ino;
        char close_br;
        if (sscanf(target, "socket:[%lu%c", &ino, &close_br) == 2 && close_br == ']') {
            long ix = inode_index(set, ino);
            if (ix >= 0 && n_socks < PROC_SOCKS_MAX) {
                sock_fd[n_socks] = atoi(e->d_name);
                sock_ix[n_socks++] = ix;
            }
        } else if (table < 0 && strncmp(target, "/memfd:" TORIFY_STREAMTAB_NAME " ", 7 + strlen(TORIFY_STREAMTAB_NAME) + 1) == 0) {
            table = atoi(e->d_name);
        }
    }
    closedir(fds);
    if (n_socks == 0 || table < 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%s/fd/%d", pid, table);
    /* Non-blocking: the process may have put a FIFO at that number since
     * (table_ok wants a regular file of the table's size). */
    int tfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (tfd < 0)
        return 0;
    size_t got = 0;
    if (table_ok(tfd)) {
        char exe[256] = "?";
        snprintf(path, sizeof path, "/proc/%s/exe", pid);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        exe[n > 0 ? n : 1] = '\0';
        for (size_t i = 0; i < n_socks && got < cap; i++) {
            if (sock_fd[i] < 0 || (unsigned)sock_fd[i] >= TORIFY_STREAMTAB_SLOTS)
                continue;
            struct sock_rec *r = &out[got];
            memset(r, 0, sizeof *r);
            if (!read_slot(tfd, sock_fd[i], r))
                continue;
            r->pid = strtol(pid, NULL, 10);
            snprintf(r->exe, sizeof r->exe, "%s", exe);
            set->told[sock_ix[i]] = true;
            got++;
        }
    }
    close(tfd);
    return got;
}

size_t socktab_collect(const struct tcp_end *ls, size_t n_ls, struct sock_rec *out, size_t cap, size_t *unpublished)
{
    static struct inodes set;
    set.n = 0;
    scan_net("/proc/net/tcp", AF_INET, ls, n_ls, &set);
    scan_net("/proc/net/tcp6", AF_INET6, ls, n_ls, &set);
    size_t got = 0;
    DIR *proc = set.n ? opendir("/proc") : NULL;
    for (struct dirent *d; proc && got < cap && (d = readdir(proc));)
        if (isdigit((unsigned char)d->d_name[0]))
            got += scan_pid(d->d_name, &set, out + got, cap - got);
    if (proc)
        closedir(proc);
    *unpublished = 0;
    for (size_t i = 0; i < set.n; i++)
        *unpublished += !set.told[i];
    return got;
}
