/*
 * launcher/check.c — `torify --check`: is Tor there, and is it really Tor?
 *
 * Three questions, each answered from what the server does, not from a
 * banner:
 *   reachable?           a TCP (or unix) connect to the configured address;
 *   speaks SOCKS?        the SOCKS greeting/reply comes back well-formed;
 *   speaks Tor's SOCKS?  a RESOLVE (command 0xF0, Tor's extension) of an
 *                        address literal.  Tor answers that at once, with
 *                        the address itself and without using the network
 *                        (measured with tor 0.4.9: also while it has no
 *                        circuits).  A plain SOCKS5 server answers 0x07
 *                        "command not supported".
 * Only the last answer makes the exit status 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <torify/socks.h>
#include "core/policy.h"
#include "launcher/launcher.h"
#include "socks/dial.h"

/* Tor echoes an address literal back for RESOLVE. */
static const char probe_name[] = "127.0.0.1";
static const uint8_t probe_addr[4] = { 127, 0, 0, 1 };

const char *tor_address_text(const struct torify_config *cfg, char *buf, size_t len)
{
    if (cfg->tor_unix[0])
        snprintf(buf, len, "unix:%s", cfg->tor_unix);
    else if (strchr(cfg->tor_address, ':'))
        snprintf(buf, len, "[%s]:%u", cfg->tor_address, cfg->tor_port);
    else
        snprintf(buf, len, "%s:%u", cfg->tor_address, cfg->tor_port);
    return buf;
}

static bool is_socks_reply_error(torify_err e)
{
    return (e >= TORIFY_E_S5_GENERAL && e <= TORIFY_E_TOR_HS_INTRO_TIMEOUT) ||
           (e >= TORIFY_E_S4_REJECTED && e <= TORIFY_E_S4_UNKNOWN_REPLY);
}

static bool is_auth_error(torify_err e)
{
    return e == TORIFY_E_AUTH_NO_METHOD || e == TORIFY_E_AUTH_BAD_METHOD || e == TORIFY_E_AUTH_REJECTED;
}

int check_tor(const struct torify_config *cfg)
{
    char where[300];
    tor_address_text(cfg, where, sizeof where);
    const char *proto = cfg->proto == TORIFY_SOCKS4A ? "SOCKS4a" : "SOCKS5";
    printf("torify: checking Tor's SocksPort at %s (%s)\n", where, proto);

    /* As torified programs talk to Tor (core/policy.h): the same protocol,
     * credentials and rule for them, so a server that would refuse the
     * programs is found here; only the timeout is a person's. */
    struct torify_socks_opts opts;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    torify_policy_socks_opts(cfg, (long)getpid(), 0, TORIFY_TOR_CHECK_MS, user, pass, &opts);
    int64_t conn_by, all_by;
    torify_sx_deadlines(&opts, &conn_by, &all_by);
    torify_err e;
    int fd = torify_sx_open(&torify_sx_libc, (const struct sockaddr *)&cfg->tor_addr, cfg->tor_addr_len, conn_by, &e);
    if (fd < 0) {
        printf("reachable: no (%s)\n", strerror(errno));
        printf("result: Tor is not reachable at %s: is tor running, with this SocksPort?\n", where);
        return EXIT_CHECK_UNREACHABLE;
    }
    printf("reachable: yes\n");

    struct torify_target target, result;
    e = torify_target_host(&target, probe_name, sizeof probe_name - 1, 0);
    if (e != TORIFY_OK) {
        close(fd);
        printf("result: internal error: %s\n", torify_strerror(e));
        return EXIT_CHECK_NOT_TOR;
    }
    memset(&result, 0, sizeof result);
    e = torify_sx_handshake(fd, TORIFY_SOCKS_RESOLVE, &target, &opts, &result, all_by);
    close(fd);

    if (e == TORIFY_OK) {
        printf("speaks %s: yes\n", proto);
        if (result.kind == TORIFY_TARGET_IPV4 && memcmp(result.addr, probe_addr, 4) == 0) {
            printf("speaks Tor's extensions: yes (RESOLVE %s answered %s)\n", probe_name, probe_name);
            printf("result: Tor is there and speaks Tor's SOCKS at %s\n", where);
            return 0;
        }
        char got[300];
        printf("speaks Tor's extensions: no (RESOLVE %s answered %s, Tor would echo the address)\n",
               probe_name, torify_target_format(&result, got, sizeof got));
        printf("result: a SOCKS server answers at %s, but not like Tor\n", where);
        return EXIT_CHECK_NOT_TOR;
    }
    if (e == TORIFY_E_S5_CMD_UNSUPPORTED) {
        printf("speaks %s: yes\n", proto);
        printf("speaks Tor's extensions: no (RESOLVE: %s)\n", torify_strerror(e));
        printf("result: a plain SOCKS server answers at %s, not Tor: "
               "it could not resolve names for torified programs\n", where);
        return EXIT_CHECK_NOT_TOR;
    }
    if (is_socks_reply_error(e) || is_auth_error(e)) {
        printf("speaks %s: yes\n", proto);
        printf("speaks Tor's extensions: no (RESOLVE %s: %s; Tor answers it with the address)\n",
               probe_name, torify_strerror(e));
        printf("result: a SOCKS server answers at %s, but not like Tor\n", where);
        return EXIT_CHECK_NOT_TOR;
    }
    if (e == TORIFY_E_TIMEOUT)
        printf("speaks %s: no (no answer within %d ms)\n", proto, TORIFY_TOR_CHECK_MS);
    else if (e == TORIFY_E_IO)
        printf("speaks %s: no (%s)\n", proto, strerror(errno));
    else
        printf("speaks %s: no (%s)\n", proto, torify_strerror(e));
    printf("result: something answers at %s, but it does not speak %s\n", where, proto);
    return EXIT_CHECK_NOT_SOCKS;
}

/* ---- passive listening check (no packet sent) --------------------------- */

/* Scan /proc/net/tcp or tcp6 for a LISTEN socket on port whose local
 * address is addr (network order, alen 4 or 16) or the wildcard.  1 found
 * (its inode into *inode if not NULL), 0 none, -1 unreadable. */
static int proc_tcp_listening(const char *file, const uint8_t *addr, size_t alen, uint16_t port,
                              unsigned long *inode)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return -1;
    char line[512];
    int found = 0;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return -1;
    }
    while (!found && fgets(line, sizeof line, f)) {
        char local[64];
        unsigned lport, st;
        unsigned long ino = 0;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*s %*s %*s %*u %*u %lu", local, &lport,
                   &st, &ino) < 3)
            continue;
        if (st != 0x0A || lport != port || strlen(local) != alen * 2)
            continue;
        /* The kernel prints each 32-bit word of the address as a native
         * integer in hex: reading the words back the same way gives the
         * address bytes in memory order. */
        uint8_t bytes[16];
        for (size_t w = 0; w < alen / 4; w++) {
            char word[9];
            memcpy(word, local + w * 8, 8);
            word[8] = '\0';
            uint32_t v = (uint32_t)strtoul(word, NULL, 16);
            memcpy(bytes + w * 4, &v, 4);
        }
        static const uint8_t zero[16];
        if (memcmp(bytes, addr, alen) == 0 || memcmp(bytes, zero, alen) == 0) {
            found = 1;
            if (inode)
                *inode = ino;
        }
    }
    fclose(f);
    return found;
}

/* The kernel's socket table over netlink first (sockdiag.c: it does not
 * walk every connection of the machine), /proc/net when that is refused. */
static int tcp_listening(const char *file, int family, const uint8_t *addr, size_t alen, uint16_t port,
                         unsigned long *inode)
{
    int r = sockdiag_tcp_listening(family, addr, alen, port, inode);
    return r >= 0 ? r : proc_tcp_listening(file, addr, alen, port, inode);
}

int tcp_listening_at(const struct sockaddr *sa, unsigned long *inode)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        int r = tcp_listening("/proc/net/tcp", AF_INET, (const uint8_t *)&in->sin_addr, 4, ntohs(in->sin_port), inode);
        if (r == 0) {
            /* A v6 wildcard socket (dual stack) also accepts IPv4. */
            static const uint8_t any6[16];
            if (tcp_listening("/proc/net/tcp6", AF_INET6, any6, 16, ntohs(in->sin_port), inode) == 1)
                r = 1;
        }
        return r;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return tcp_listening("/proc/net/tcp6", AF_INET6, (const uint8_t *)&in6->sin6_addr, 16, ntohs(in6->sin6_port),
                                  inode);
    }
    return -1;
}

static int proc_unix_listening(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return -1;
    char line[512 + 128];
    int found = 0;
    size_t plen = strlen(path);
    while (!found && fgets(line, sizeof line, f)) {
        unsigned flags;
        /* Num RefCount Protocol Flags Type St Inode Path; __SO_ACCEPTCON
         * (0x10000) in Flags marks a listening socket. */
        if (sscanf(line, "%*s %*x %*x %x", &flags) != 1 || !(flags & 0x10000))
            continue;
        size_t n = strcspn(line, "\n");
        if (n >= plen && memcmp(line + n - plen, path, plen) == 0 && (n == plen || line[n - plen - 1] == ' '))
            found = 1;
    }
    fclose(f);
    return found;
}

int check_tor_listening(const struct torify_config *cfg)
{
    const struct sockaddr *sa = (const struct sockaddr *)&cfg->tor_addr;
    if (sa->sa_family == AF_UNIX)
        return proc_unix_listening(cfg->tor_unix);
    /* Only loopback is surely this host; another address may be a Tor on
     * another machine, which /proc cannot see. */
    if (sa->sa_family == AF_INET && ((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr)[0] == 127)
        return tcp_listening_at(sa, NULL);
    if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr))
        return tcp_listening_at(sa, NULL);
    return -1;
}
