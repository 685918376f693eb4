/*
 * launcher/preload.c — find libtorify.so and make sure it will really load.
 *
 * If the dynamic loader cannot load an LD_PRELOAD entry it prints a warning
 * and runs the program anyway, unprotected.  So the launcher refuses to
 * start a program unless the library is there and loadable: fail closed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "launcher/launcher.h"

static bool copy_path(char *buf, size_t len, const char *a, const char *b)
{
    int n = snprintf(buf, len, "%s%s", a, b);
    return n >= 0 && (size_t)n < len;
}

/* Directory of the running executable (symlinks resolved), without the
 * trailing slash. */
static bool exe_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return copy_path(buf, len, exe, "");
}

int preload_find(char *buf, size_t len, const char **how)
{
    const char *env = getenv("TORIFY_LIB");
    if (env && *env) {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, "torify: library not found: TORIFY_LIB=%s: %s\n", env, strerror(errno));
            return EXIT_NO_LIBRARY;
        }
        char real[PATH_MAX];
        if (!realpath(env, real)) {
            fprintf(stderr, "torify: library not usable: TORIFY_LIB=%s: %s\n", env, strerror(errno));
            return EXIT_NO_LIBRARY;
        }
        if (strlen(real) >= len) {
            fprintf(stderr, "torify: library path too long: %s\n", real);
            return EXIT_NO_LIBRARY;
        }
        memcpy(buf, real, strlen(real) + 1);
        if (how)
            *how = "TORIFY_LIB";
        return 0;
    }
    char dir[PATH_MAX];
    if (!exe_dir(dir, sizeof dir)) {
        fprintf(stderr, "torify: library not found: cannot tell where torify is installed (/proc/self/exe)\n");
        return EXIT_NO_LIBRARY;
    }
    /* build/torify next to build/libtorify.so; installed: <prefix>/bin/torify
     * and SYSTEM_LIBRARY, found relative to the executable when it lies
     * below the prefix, so a moved <prefix> tree keeps working. */
    char installed[PATH_MAX];
    const char *sys = SYSTEM_LIBRARY;
    size_t pl = strlen(TORIFY_PREFIX);
    bool below = strncmp(sys, TORIFY_PREFIX, pl) == 0 && sys[pl] == '/';
    if (below ? !copy_path(installed, sizeof installed, "/..", sys + pl)
              : !copy_path(installed, sizeof installed, sys, "")) {
        fprintf(stderr, "torify: library path too long: %s\n", sys);
        return EXIT_NO_LIBRARY;
    }
    const struct { const char *base, *rel, *how; } places[] = {
        { dir, "/libtorify.so", "next to torify" },
        { below ? dir : "", installed, "installed layout" },
    };
    char tried[2][PATH_MAX] = { "", "" };
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char cand[PATH_MAX];
        if (!copy_path(cand, sizeof cand, places[i].base, places[i].rel))
            continue;
        snprintf(tried[i], sizeof tried[i], "%s", cand);
        char real[PATH_MAX];
        if (access(cand, R_OK) == 0 && realpath(cand, real) && strlen(real) < len) {
            memcpy(buf, real, strlen(real) + 1);
            if (how)
                *how = places[i].how;
            return 0;
        }
    }
    fprintf(stderr, "torify: library not found: looked for %s and %s (set TORIFY_LIB to its path)\n",
            tried[0], tried[1]);
    return EXIT_NO_LIBRARY;
}

int preload_check(const char *path)
{
    /* ld.so splits LD_PRELOAD at spaces and colons: such a path would be
     * cut in pieces and silently not loaded. */
    if (path[0] != '/' || strpbrk(path, " :")) {
        fprintf(stderr, "torify: library path '%s' cannot be preloaded (must be absolute, without spaces or colons)\n",
                path);
        return EXIT_NO_LIBRARY;
    }
    /* Load it once here, locally and without binding its symbols into the
     * launcher, so a wrong architecture, a missing dependency or a
     * truncated file are caught now, with the loader's own reason. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        fprintf(stderr, "torify: library not loadable: %s\n", why ? why : path);
        return EXIT_NO_LIBRARY;
    }
    /* A file called libtorify.so that does not interpose connect would
     * protect nothing.  dlsym on the handle also searches the library's
     * dependencies (libc has a connect), so ask where the symbol lives. */
    void *sym = dlsym(h, "connect");
    Dl_info info;
    if (!sym || !dladdr(sym, &info) || !info.dli_fname || strcmp(info.dli_fname, path) != 0) {
        fprintf(stderr, "torify: library not usable: %s does not provide connect()\n", path);
        dlclose(h);
        return EXIT_NO_LIBRARY;
    }
    dlclose(h);
    return 0;
}
