/*
 * launcher/system.c — `torify --system enable|disable|status`.
 *
 * System-wide mode lists libtorify.so in /etc/ld.so.preload, so the loader
 * puts it into every dynamically linked process.  A broken entry there
 * fails open (the loader prints an error and runs the program without it)
 * or, worse, breaks every program on the machine.  So enable refuses unless
 * the library is safe and really loads, and unless the system configuration
 * is valid (a broken one would make every process refuse every connection);
 * the file is replaced atomically (temporary file in the same directory,
 * fsync, rename), keeping every other line.  disable needs nothing but the
 * file: it is the way back, and must work when the library is gone.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "launcher/launcher.h"

#define PRELOAD_FILE_MAX (64 * 1024)
#define TRIAL_PROGRAM "/bin/true"
#define TRIAL_MS 10000

enum { EXIT_DISABLED = 1 }; /* status: not enabled */

/* ---- reading and replacing the preload file ---------------------------- */

/* Reads path into buf (NUL-terminated).  Returns the length, 0 for a file
 * that does not exist (*exists false), -1 after printing why. */
static long read_preload(const char *path, char *buf, size_t len, bool *exists)
{
    *exists = false;
    buf[0] = '\0';
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "torify: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        /* rename() would replace a symlink by a file: edit the target. */
        fprintf(stderr, "torify: %s is not a regular file (a symbolic link? give its target with --preload-file)\n",
                path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fprintf(stderr, "torify: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "torify: cannot read %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used == len - 1) {
            fprintf(stderr, "torify: %s is larger than %d bytes: not a preload list\n", path, PRELOAD_FILE_MAX);
            close(fd);
            return -1;
        }
    }
    close(fd);
    buf[used] = '\0';
    if (memchr(buf, '\0', used)) {
        fprintf(stderr, "torify: %s contains a NUL byte: not a preload list\n", path);
        return -1;
    }
    *exists = true;
    return (long)used;
}

static bool split_dir(const char *path, char *dir, size_t dlen, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        if (dlen < 2)
            return false;
        strcpy(dir, ".");
        *base = path;
        return true;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= dlen)
        return false;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *base = slash + 1;
    return true;
}

static void sync_dir(const char *dir)
{
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        (void)fsync(d); /* the rename itself on disk; best effort */
        close(d);
    }
}

/* Replace path by data atomically: a crash leaves the old or the new file,
 * never a half-written one.  Keeps the old file's owner and mode (0644 for
 * a new one).  0, or -1 after printing why. */
static int write_atomic(const char *path, const char *data, size_t len)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    const char *base;
    if (!split_dir(path, dir, sizeof dir, &base) ||
        snprintf(tmp, sizeof tmp, "%s/.%s.torify-XXXXXX", dir, base) >= (int)sizeof tmp) {
        fprintf(stderr, "torify: %s: path too long\n", path);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "torify: cannot create a file in %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct stat old;
    bool ok = true;
    if (stat(path, &old) == 0)
        ok = fchown(fd, old.st_uid, old.st_gid) == 0 && fchmod(fd, old.st_mode & 07777) == 0;
    else
        ok = fchmod(fd, 0644) == 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            ok = false;
        else
            off += (size_t)n;
    }
    if (ok)
        ok = fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        fprintf(stderr, "torify: cannot write %s: %s (left unchanged)\n", path, strerror(e));
        return -1;
    }
    sync_dir(dir);
    return 0;
}

/* The file's new content, or its removal when nothing is left in it and it
 * was ours alone. */
static int replace_preload(const char *path, const char *data, size_t len)
{
    if (len > 0)
        return write_atomic(path, data, len);
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "torify: cannot remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    char dir[PATH_MAX];
    const char *base;
    if (split_dir(path, dir, sizeof dir, &base))
        sync_dir(dir);
    return 0;
}

/* ---- is the library safe and loadable? ---------------------------------- */

/* One component of the library's path: owned by root; a directory
 * writable by others only with the sticky bit (then they cannot replace
 * root's entries in it); the library itself writable by root only. */
static int check_component(const char *real, const char *what, bool last, bool quiet)
{
    struct stat st;
    if (lstat(what, &st) != 0) {
        if (!quiet)
            fprintf(stderr, "torify: refusing %s: %s: %s\n", real, what, strerror(errno));
        return EXIT_NO_LIBRARY;
    }
    if (st.st_uid != 0) {
        if (!quiet)
            fprintf(stderr, "torify: refusing %s: %s is owned by uid %u, not root (its owner could put code "
                            "into every process)\n", real, what, (unsigned)st.st_uid);
        return EXIT_NO_LIBRARY;
    }
    if (!last) {
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
            if (!quiet)
                fprintf(stderr, "torify: refusing %s: directory %s is writable by group or others\n", real, what);
            return EXIT_NO_LIBRARY;
        }
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        if (!quiet)
            fprintf(stderr, "torify: refusing %s: not a regular file\n", real);
        return EXIT_NO_LIBRARY;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        if (!quiet)
            fprintf(stderr, "torify: refusing %s: writable by group or others (mode %03o)\n", real,
                    (unsigned)(st.st_mode & 0777));
        return EXIT_NO_LIBRARY;
    }
    return 0;
}

/* real is canonical (realpath): "/", then each prefix up to the file. */
static int check_ownership(const char *real)
{
    char prefix[PATH_MAX];
    size_t n = strlen(real);
    int rc = check_component(real, "/", false, false);
    for (size_t i = 1; !rc && i <= n; i++) {
        if (real[i] != '/' && real[i] != '\0')
            continue;
        memcpy(prefix, real, i);
        prefix[i] = '\0';
        rc = check_component(real, prefix, i == n, false);
    }
    return rc;
}

/* An ELF shared object of this launcher's class, byte order and machine. */
static int check_elf(const char *real)
{
    unsigned char want[EI_NIDENT + 4], got[EI_NIDENT + 4];
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    bool have_want = fd >= 0 && read(fd, want, sizeof want) == (ssize_t)sizeof want;
    if (fd >= 0)
        close(fd);
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "torify: refusing %s: %s\n", real, strerror(errno));
        return EXIT_NO_LIBRARY;
    }
    ssize_t r = read(fd, got, sizeof got);
    close(fd);
    if (r != (ssize_t)sizeof got || memcmp(got, ELFMAG, SELFMAG) != 0) {
        fprintf(stderr, "torify: refusing %s: not an ELF file\n", real);
        return EXIT_NO_LIBRARY;
    }
    int cls = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
    if (got[EI_CLASS] != cls) {
        fprintf(stderr, "torify: refusing %s: ELF class %d, this system's programs are class %d\n", real,
                got[EI_CLASS], cls);
        return EXIT_NO_LIBRARY;
    }
    /* e_type and e_machine: two 16-bit fields right after e_ident, in the
     * file's byte order (compared as bytes against our own executable). */
    uint16_t type = got[EI_DATA] == ELFDATA2MSB ? (uint16_t)(got[EI_NIDENT] << 8 | got[EI_NIDENT + 1])
                                                : (uint16_t)(got[EI_NIDENT + 1] << 8 | got[EI_NIDENT]);
    if (type != ET_DYN) {
        fprintf(stderr, "torify: refusing %s: not a shared object (ELF type %u)\n", real, type);
        return EXIT_NO_LIBRARY;
    }
    if (have_want && (got[EI_DATA] != want[EI_DATA] || memcmp(got + EI_NIDENT + 2, want + EI_NIDENT + 2, 2) != 0)) {
        fprintf(stderr, "torify: refusing %s: built for another machine or byte order than this system\n", real);
        return EXIT_NO_LIBRARY;
    }
    return 0;
}

/* Run TRIAL_PROGRAM with env (NULL-terminated) and report whether it exited
 * 0 with nothing on stderr: the loader's complaint about a preload entry
 * ("ERROR: ld.so: object ... cannot be preloaded") goes to stderr while the
 * program still exits 0.  Its first line goes to why. */
static bool trial_run(char *const env[], char *why, size_t wlen)
{
    int pfd[2];
    why[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(why, wlen, "pipe: %s", strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, wlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(pfd[1], 2) < 0)
            _exit(126);
        char *argv[] = { (char *)TRIAL_PROGRAM, NULL };
        execve(TRIAL_PROGRAM, argv, env);
        _exit(127);
    }
    close(pfd[1]);
    char out[1024];
    size_t used = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = TRIAL_MS - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            kill(pid, SIGKILL);
            snprintf(why, wlen, "%s did not exit within %d s", TRIAL_PROGRAM, TRIAL_MS / 1000);
            break;
        }
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t n = read(pfd[0], out + used, sizeof out - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == sizeof out - 1)
            break;
    }
    close(pfd[0]);
    out[used] = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!why[0] && used > 0) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(why, wlen, "%.400s", out);
    } else if (!why[0] && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        if (WIFEXITED(st))
            snprintf(why, wlen, "%s exited with status %d", TRIAL_PROGRAM, WEXITSTATUS(st));
        else
            snprintf(why, wlen, "%s was killed by signal %d", TRIAL_PROGRAM, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    return why[0] == '\0';
}

/* All checks of a library about to go into every process.  real receives
 * the canonical path, the one written to the preload file. */
static int check_library(const char *lib, char *real, size_t rlen)
{
    if (lib[0] != '/') {
        fprintf(stderr, "torify: refusing %s: the library path must be absolute\n", lib);
        return EXIT_NO_LIBRARY;
    }
    char buf[PATH_MAX];
    if (!realpath(lib, buf)) {
        fprintf(stderr, "torify: refusing %s: %s%s\n", lib, strerror(errno),
                errno == ENOENT ? " (`make install` puts it there, or give --library PATH)" : "");
        return EXIT_NO_LIBRARY;
    }
    if (strlen(buf) >= rlen || strlen(buf) >= PRELOAD_ENTRY_MAX) {
        fprintf(stderr, "torify: refusing %s: path too long\n", buf);
        return EXIT_NO_LIBRARY;
    }
    /* The loader splits the preload file at white space and ':' and cuts
     * comments at '#'. */
    if (strpbrk(buf, " \t\n:#")) {
        fprintf(stderr, "torify: refusing %s: the path contains white space, ':' or '#'\n", buf);
        return EXIT_NO_LIBRARY;
    }
    int rc = check_ownership(buf);
    if (!rc)
        rc = check_elf(buf);
    if (rc)
        return rc;
    /* In a child first: a damaged library can crash the process that loads
     * it (a truncated file: SIGBUS), which must not be this one. */
    char env0[PATH_MAX + 16];
    snprintf(env0, sizeof env0, "LD_PRELOAD=%s", buf);
    char *env[] = { env0, NULL };
    char why[512];
    if (!trial_run(env, why, sizeof why)) {
        fprintf(stderr, "torify: refusing %s: %s with it preloaded failed: %s\n", buf, TRIAL_PROGRAM, why);
        return EXIT_NO_LIBRARY;
    }
    rc = preload_check(buf); /* does it really provide connect()? */
    if (rc)
        return rc;
    memcpy(real, buf, strlen(buf) + 1);
    return 0;
}

/* ---- the system configuration -------------------------------------------- */

/* The files torify_config_load tries, for "none of them exists" (a
 * package's build has only /etc's). */
static const char *system_config_files(void)
{
    return torify_sysconf_is_etc() ? "no " TORIFY_ETC_CONF_FILE
                                   : "neither " TORIFY_ETC_CONF_FILE " nor " TORIFY_SYSCONF_FILE;
}

/* The configuration every process will read under AT_SECURE (and every
 * other process without TORIFY_CONF_FILE): the system file only. */
static int load_system_config(struct torify_config *cfg, bool quiet)
{
    char err[TORIFY_CONFIG_ERR_MAX];
    if (torify_config_load(cfg, NULL, true, err, sizeof err) != TORIFY_OK) {
        if (!quiet)
            fprintf(stderr, "torify: the system configuration is broken: %s\n"
                            "torify: every process would refuse every connection; fix it first\n", err);
        return EXIT_CONFIG;
    }
    if (!cfg->source[0]) {
        if (!quiet)
            fprintf(stderr, "torify: no system configuration: %s exists.\n"
                            "torify: create one first (the shipped torify.conf lists every key), e.g.\n"
                            "torify:   cp torify.conf /etc/torify.conf\n"
                            "torify: and set TorAddress/TorPort and ExemptExecutable for your Tor\n",
                    system_config_files());
        return EXIT_CONFIG;
    }
    return 0;
}

static void print_exemptions(const struct torify_config *cfg, FILE *out)
{
    fprintf(out, "exempt executables:");
    for (size_t i = 0; torify_exempt_exe_builtin[i]; i++)
        fprintf(out, " %s", torify_exempt_exe_builtin[i]);
    for (size_t i = 0; i < cfg->n_exempt_exe; i++)
        fprintf(out, " %s", cfg->exempt_exe[i]);
    fprintf(out, "\n");
    /* Matching is by the exact path the kernel reports for the running
     * program (symlinks resolved): a non-canonical entry never matches. */
    for (size_t i = 0; i < cfg->n_exempt_exe; i++) {
        char real[PATH_MAX];
        if (!realpath(cfg->exempt_exe[i], real))
            fprintf(stderr, "torify: warning: ExemptExecutable %s: %s\n", cfg->exempt_exe[i], strerror(errno));
        else if (strcmp(real, cfg->exempt_exe[i]) != 0)
            fprintf(stderr, "torify: warning: ExemptExecutable %s never matches: the running program is seen as %s\n",
                    cfg->exempt_exe[i], real);
        else if (check_component(real, real, true, true) != 0)
            fprintf(stderr, "torify: warning: ExemptExecutable %s: whoever can replace it can run anything "
                            "without torify\n", cfg->exempt_exe[i]);
    }
}

/* AppArmor (on by default in Debian 12) lets confined programs map
 * libraries only from the system library directories: anywhere else the
 * loader cannot map ours into them, says so, and runs them untorified. */
static void warn_apparmor(const char *lib)
{
    char v[8] = "";
    int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, v, sizeof v - 1);
    close(fd);
    if (n <= 0 || v[0] != 'Y' || preload_path_in_system_libs(lib))
        return;
    fprintf(stderr, "torify: warning: AppArmor is enabled: programs it confines may map libraries only from "
                    "/usr/lib and /lib, so they would run WITHOUT torify (install the Debian package "
                    "or with `make install PREFIX=/usr`, or allow `%s mr,` and `/etc/torify.conf r,` in their profiles)\n", lib);
}

static void print_tor(const struct torify_config *cfg, FILE *out)
{
    char where[300];
    int l = check_tor_listening(cfg);
    fprintf(out, "tor: %s (%s)\n", tor_address_text(cfg, where, sizeof where),
            l == 1 ? "something listens there" : l == 0 ? "nothing listens there" : "not a local address");
    char exe[PATH_MAX];
    if (l != 1 || !tor_listener_exe(cfg, exe, sizeof exe))
        return;
    bool exempt = torify_config_exe_exempt(cfg, exe);
    fprintf(out, "tor listener: %s (%s)\n", exe, exempt ? "exempt" : "NOT exempt");
    /* After its next start under system-wide mode a torified Tor would
     * send its own connections to itself: everything fails closed. */
    if (!exempt)
        fprintf(stderr, "torify: warning: %s listens at Tor's address but is not exempt: restarted under "
                        "system-wide mode it would be torified and cut off; if it is Tor, add "
                        "`ExemptExecutable %s` to the system configuration\n", exe, exe);
}

/* ---- the commands --------------------------------------------------------- */

static int system_enable(const char *file, const char *lib)
{
    char real[PATH_MAX];
    int rc = check_library(lib, real, sizeof real);
    if (rc)
        return rc;
    static struct torify_config cfg;
    rc = load_system_config(&cfg, false);
    if (rc)
        return rc;
    static char old[PRELOAD_FILE_MAX + 1], new[PRELOAD_FILE_MAX + PRELOAD_ENTRY_MAX + 2];
    bool exists, changed;
    long olen = read_preload(file, old, sizeof old, &exists);
    if (olen < 0)
        return EXIT_OS;
    long nlen = preload_text_add(old, (size_t)olen, real, new, sizeof new, &changed);
    if (nlen < 0) {
        fprintf(stderr, "torify: %s would become too large\n", file);
        return EXIT_OS;
    }
    printf("config: %s\n", cfg.source);
    print_tor(&cfg, stdout);
    print_exemptions(&cfg, stdout);
    warn_apparmor(real);
    if (check_tor_listening(&cfg) == 0)
        fprintf(stderr, "torify: warning: nothing listens at Tor's address yet: connections will be refused "
                        "until Tor runs\n");
    if (!changed) {
        printf("system-wide mode already enabled: %s lists %s\n", file, real);
        return 0;
    }
    if (write_atomic(file, new, (size_t)nlen) != 0)
        return EXIT_OS;
    if (strcmp(file, SYSTEM_PRELOAD_FILE) == 0) {
        /* The real thing now: a program started with no environment at all
         * must still run cleanly, or we put the old file back. */
        char *env[] = { NULL };
        char why[512];
        if (!trial_run(env, why, sizeof why)) {
            fprintf(stderr, "torify: %s failed after the change (%s): restoring %s\n", TRIAL_PROGRAM, why, file);
            if ((exists ? write_atomic(file, old, (size_t)olen) : replace_preload(file, "", 0)) != 0)
                fprintf(stderr, "torify: RESTORE FAILED: remove %s from %s by hand\n", real, file);
            return EXIT_NO_LIBRARY;
        }
    }
    printf("system-wide mode enabled: %s lists %s\n"
           "programs started from now on are torified; running ones are not (restart daemons)\n",
           file, real);
    return 0;
}

static int system_disable(const char *file, const char *lib)
{
    static char old[PRELOAD_FILE_MAX + 1], new[PRELOAD_FILE_MAX + 1];
    bool exists, changed;
    long olen = read_preload(file, old, sizeof old, &exists);
    if (olen < 0)
        return EXIT_OS;
    /* Every torify library, and --library when it is called otherwise. */
    long nlen = preload_text_remove(old, (size_t)olen, NULL, lib, new, sizeof new, &changed);
    if (nlen < 0) {
        fprintf(stderr, "torify: cannot edit %s\n", file);
        return EXIT_OS;
    }
    if (!changed) {
        printf("system-wide mode not enabled: %s lists no torify library\n", file);
        return 0;
    }
    if (replace_preload(file, new, (size_t)nlen) != 0)
        return EXIT_OS;
    printf("system-wide mode disabled: removed from %s\n"
           "programs started from now on are not torified; running ones still are until restarted\n", file);
    return 0;
}

static int system_status(const char *file)
{
    static char text[PRELOAD_FILE_MAX + 1];
    bool exists;
    long len = read_preload(file, text, sizeof text, &exists);
    if (len < 0)
        return EXIT_OS;
    char entries[4][PRELOAD_ENTRY_MAX];
    size_t n = preload_text_torify_entries(text, (size_t)len, entries, 4);
    static struct torify_config cfg;
    int crc = load_system_config(&cfg, true);
    if (crc == 0 || cfg.source[0])
        printf("config: %s%s\n", cfg.source[0] ? cfg.source : "none", crc ? " (BROKEN)" : "");
    else
        printf("config: none (%s)\n", system_config_files());
    if (crc == 0) {
        print_tor(&cfg, stdout);
        print_exemptions(&cfg, stdout);
    }
    if (n == 0) {
        printf("system-wide mode: disabled (%s lists no torify library)\n", file);
        return EXIT_DISABLED;
    }
    int rc = 0;
    for (size_t i = 0; i < n && i < 4; i++) {
        printf("system-wide mode: enabled (%s lists %s)\n", file, entries[i]);
        char real[PATH_MAX];
        int lrc = check_library(entries[i], real, sizeof real);
        printf("library: %s\n", lrc ? "NOT USABLE (see above): processes run without torify!" : "loads");
        if (lrc && !rc)
            rc = lrc;
    }
    if (n > 1)
        fprintf(stderr, "torify: warning: %zu torify entries in %s: `torify --system enable` keeps one\n", n, file);
    if (crc) {
        /* Say why, now that it matters. */
        (void)load_system_config(&cfg, false);
        if (!rc)
            rc = crc;
    }
    return rc;
}

const char *system_state_text(char *buf, size_t len)
{
    static char text[PRELOAD_FILE_MAX + 1];
    bool exists;
    /* read_preload prints its own complaint; `show` just says unknown. */
    long n = read_preload(SYSTEM_PRELOAD_FILE, text, sizeof text, &exists);
    char entries[1][PRELOAD_ENTRY_MAX];
    if (n < 0)
        snprintf(buf, len, "unknown (cannot read %s)", SYSTEM_PRELOAD_FILE);
    else if (preload_text_torify_entries(text, (size_t)n, entries, 1) > 0)
        snprintf(buf, len, "enabled (%s lists %s)", SYSTEM_PRELOAD_FILE, entries[0]);
    else
        snprintf(buf, len, "disabled");
    return buf;
}

int system_command(const struct launcher_opts *o)
{
    const char *file = o->preload_file ? o->preload_file : SYSTEM_PRELOAD_FILE;
    int rc;
    if (strcmp(o->system_cmd, "enable") == 0)
        rc = system_enable(file, o->library ? o->library : SYSTEM_LIBRARY);
    else if (strcmp(o->system_cmd, "disable") == 0)
        rc = system_disable(file, o->library);
    else
        rc = system_status(file);
    fflush(stdout);
    return rc;
}
