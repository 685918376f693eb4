/*
 * launcher/program.c — find the program and make sure LD_PRELOAD reaches it.
 *
 * The search is done here rather than left to execvp so the launcher can
 * say exactly what is wrong (not found / not executable) and can look at
 * the file it is about to run: a statically linked program never loads
 * libtorify.so, and the loader ignores LD_PRELOAD paths for set-uid,
 * set-gid and file-capability programs run by an unprivileged user.  A Go
 * program (elf_go.c), even dynamically linked, makes its own connect and
 * DNS system calls past libc.  Such a program would talk to the network
 * directly, so torify refuses it.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "launcher/launcher.h"

static bool executable_file(const char *path, int *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *err = errno;
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        *err = EISDIR;
        return false;
    }
    if (access(path, X_OK) != 0) {
        *err = errno;
        return false;
    }
    return true;
}

int program_find(const char *argv0, char *buf, size_t len)
{
    int err = ENOENT;
    if (strchr(argv0, '/')) {
        if (strlen(argv0) >= len) {
            fprintf(stderr, "torify: %s: path too long\n", argv0);
            return EXIT_NOT_FOUND;
        }
        if (!executable_file(argv0, &err)) {
            fprintf(stderr, "torify: %s: %s\n", argv0, strerror(err));
            return err == ENOENT || err == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
        }
        memcpy(buf, argv0, strlen(argv0) + 1);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/bin:/usr/bin";
    /* Like execvp: remember a "permission denied" but keep looking. */
    bool denied = false;
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        char cand[PATH_MAX];
        int w = n == 0 ? snprintf(cand, sizeof cand, "%s", argv0)
                       : snprintf(cand, sizeof cand, "%.*s/%s", (int)n, p, argv0);
        if (w > 0 && (size_t)w < sizeof cand && (size_t)w < len) {
            if (executable_file(cand, &err)) {
                memcpy(buf, cand, (size_t)w + 1);
                return 0;
            }
            if (err == EACCES)
                denied = true;
        }
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if (denied) {
        fprintf(stderr, "torify: %s: permission denied\n", argv0);
        return EXIT_CANNOT_EXEC;
    }
    fprintf(stderr, "torify: %s: command not found\n", argv0);
    return EXIT_NOT_FOUND;
}

/* 1: dynamically linked ELF (has PT_INTERP), 0: static ELF, -1: not ELF or
 * unreadable (a script: the kernel starts its interpreter, checked apart). */
static int elf_is_dynamic(int fd)
{
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        return -1;
    if (eh.e_ident[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr e32;
        if (pread(fd, &e32, sizeof e32, 0) != (ssize_t)sizeof e32)
            return -1;
        for (unsigned i = 0; i < e32.e_phnum && i < 4096; i++) {
            Elf32_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)e32.e_phoff + (off_t)i * e32.e_phentsize) != (ssize_t)sizeof ph)
                return -1;
            if (ph.p_type == PT_INTERP)
                return 1;
        }
        return 0;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64)
        return -1;
    for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)eh.e_phoff + (off_t)i * eh.e_phentsize) != (ssize_t)sizeof ph)
            return -1;
        if (ph.p_type == PT_INTERP)
            return 1;
    }
    return 0;
}

/* The interpreter named on a "#!" line, into buf; false if none. */
static bool script_interpreter(int fd, char *buf, size_t len)
{
    char line[256];
    ssize_t n = pread(fd, line, sizeof line - 1, 0);
    if (n < 3 || line[0] != '#' || line[1] != '!')
        return false;
    line[n] = '\0';
    char *s = line + 2;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t k = strcspn(s, " \t\r\n");
    if (k == 0 || k >= len)
        return false;
    memcpy(buf, s, k);
    buf[k] = '\0';
    return true;
}

static int check_one(const char *path, int depth)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* exec will report it; nothing to inspect */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return 0;
    }
    int rc = 0;
    /* The loader runs "secure" (ignoring LD_PRELOAD paths) when the exec
     * changes the effective ids away from the real ones. */
    uid_t uid = getuid();
    if ((st.st_mode & S_ISUID) && st.st_uid != uid) {
        fprintf(stderr, "torify: refused: %s is set-uid, so the loader would ignore libtorify.so and it would bypass Tor\n",
                path);
        rc = EXIT_UNGUARDABLE;
    } else if ((st.st_mode & S_ISGID) && st.st_gid != getgid()) {
        fprintf(stderr, "torify: refused: %s is set-gid, so the loader would ignore libtorify.so and it would bypass Tor\n",
                path);
        rc = EXIT_UNGUARDABLE;
    } else if (uid != 0 && fgetxattr(fd, "security.capability", NULL, 0) > 0) {
        /* File capabilities make the exec "secure" for a normal user. */
        fprintf(stderr, "torify: refused: %s has file capabilities, so the loader would ignore libtorify.so "
                        "and it would bypass Tor\n", path);
        rc = EXIT_UNGUARDABLE;
    } else {
        int dyn = elf_is_dynamic(fd);
        char interp[256];
        if (dyn >= 0 && elf_is_go(fd)) {
            /* Dynamically linked or not, Go makes its own system calls. */
            fprintf(stderr, "torify: refused: %s is a Go program, which makes its own system calls, so libtorify.so "
                            "cannot see its connections or DNS and it would bypass Tor; run it under the guard "
                            "(without --no-guard)\n", path);
            rc = EXIT_UNGUARDABLE;
        } else if (dyn == 0) {
            fprintf(stderr, "torify: refused: %s is statically linked, so libtorify.so cannot be loaded into it "
                            "and it would bypass Tor\n", path);
            rc = EXIT_UNGUARDABLE;
        } else if (dyn < 0 && depth == 0 && script_interpreter(fd, interp, sizeof interp)) {
            /* A script: what really runs is its interpreter. */
            close(fd);
            return check_one(interp, depth + 1);
        }
    }
    close(fd);
    return rc;
}

int program_check_preloadable(const char *path)
{
    return check_one(path, 0);
}
