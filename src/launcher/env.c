/*
 * launcher/env.c — the environment libtorify.so reads (docs/CONTRACTS.md).
 *
 * The launcher passes everything to the shim through TORIFY_* variables, so
 * a torified program that execs another program hands the same settings on.
 * The core's loader then reads file + environment exactly as the shim will,
 * which lets the launcher reject a broken configuration before the program
 * starts instead of every connect failing later.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
#include "launcher/launcher.h"

const char *const env_launcher_vars[] = {
    "TORIFY_LAUNCHED", "TORIFY_CONF_FILE", "TORIFY_TOR_ADDRESS", "TORIFY_TOR_PORT",
    "TORIFY_TOR_UNIX", "TORIFY_USERNAME", "TORIFY_PASSWORD", "TORIFY_ISOLATE",
    "TORIFY_LOG_LEVEL", "TORIFY_RESOLVE_THROUGH_TOR", "TORIFY_HIDE_IDENTITY",
    "TORIFY_CONTROL_PORT", "TORIFY_CONTROL_SOCKET", "TORIFY_COOKIE_AUTH_FILE", "TORIFY_OPTIMISTIC_DATA", NULL,
};

static int set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "torify: cannot set %s: %s\n", name, strerror(errno));
        return EXIT_OS;
    }
    return 0;
}

int env_apply(const struct launcher_opts *o)
{
    int rc = 0;
    if (o->config) {
        /* Absolute, so a child that changes directory still finds it. */
        char abs[PATH_MAX];
        if (!realpath(o->config, abs)) {
            fprintf(stderr, "torify: %s: cannot use this config file: %s\n", o->config, strerror(errno));
            return EXIT_CONFIG;
        }
        rc = set("TORIFY_CONF_FILE", abs);
    }
    if (!rc && o->address) {
        /* A path means Tor's unix SocksPort; anything else is TorAddress.
         * The other one is cleared, or an inherited TORIFY_TOR_UNIX would
         * silently win over -a. */
        if (o->address[0] == '/') {
            rc = set("TORIFY_TOR_UNIX", o->address);
        } else {
            if (unsetenv("TORIFY_TOR_UNIX") != 0)
                rc = EXIT_OS;
            if (!rc)
                rc = set("TORIFY_TOR_ADDRESS", o->address);
        }
    }
    if (!rc && o->port)
        rc = set("TORIFY_TOR_PORT", o->port);
    if (!rc && o->user)
        rc = set("TORIFY_USERNAME", o->user);
    if (!rc && o->pass)
        rc = set("TORIFY_PASSWORD", o->pass);
    if (!rc && o->isolate)
        rc = set("TORIFY_ISOLATE", "1");
    if (!rc && o->resolve_through_tor)
        rc = set("TORIFY_RESOLVE_THROUGH_TOR", "1");
    if (!rc && o->hide_identity)
        rc = set("TORIFY_HIDE_IDENTITY", "1");
    if (!rc && o->optimistic)
        rc = set("TORIFY_OPTIMISTIC_DATA", o->optimistic);
    if (!rc && o->control) {
        /* As -a: a path is the ControlSocket, and the other one is
         * cleared, since an inherited ControlSocket would win. */
        const char *set_var = o->control[0] == '/' ? "TORIFY_CONTROL_SOCKET" : "TORIFY_CONTROL_PORT";
        const char *clear_var = o->control[0] == '/' ? "TORIFY_CONTROL_PORT" : "TORIFY_CONTROL_SOCKET";
        if (unsetenv(clear_var) != 0)
            rc = EXIT_OS;
        if (!rc)
            rc = set(set_var, o->control);
    }
    if (!rc && o->cookie_file)
        rc = set("TORIFY_COOKIE_AUTH_FILE", o->cookie_file);
    if (!rc && o->log_level)
        rc = set("TORIFY_LOG_LEVEL", o->log_level);
    if (!rc)
        rc = set("TORIFY_LAUNCHED", "1");
    return rc;
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

int config_load_for_child(struct torify_config *cfg)
{
    char err[TORIFY_CONFIG_ERR_MAX];
    /* Under AT_SECURE (a set-uid torify) the loader ignores the
     * environment, exactly as the shim will in such a child. */
    bool secure = getauxval(AT_SECURE) != 0;
    if (torify_config_load(cfg, env_get, secure, err, sizeof err) != TORIFY_OK) {
        fprintf(stderr, "torify: %s\n", err[0] ? err : "configuration is broken");
        return EXIT_CONFIG;
    }
    /* Pin the file that was validated, so the child reads the same one
     * even if the search path would find another by then. */
    const char *named = getenv("TORIFY_CONF_FILE");
    if (cfg->source[0] && (!named || !*named))
        return set("TORIFY_CONF_FILE", cfg->source);
    return 0;
}

/* Is this LD_PRELOAD entry a copy of torify's library? */
static bool is_torify_lib(const char *entry, size_t n)
{
    static const char name[] = "libtorify.so";
    size_t k = sizeof name - 1;
    if (n < k || memcmp(entry + n - k, name, k) != 0)
        return false;
    return n == k || entry[n - k - 1] == '/';
}

bool env_preload_value(const char *current, const char *lib, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return false;
    buf[0] = '\0';
    if (lib) {
        size_t n = strlen(lib);
        if (n + 1 > len)
            return false;
        memcpy(buf, lib, n + 1);
        used = n;
    }
    /* ld.so separates entries by spaces and colons. */
    for (const char *p = current ? current : ""; *p;) {
        size_t n = strcspn(p, " :");
        if (n > 0 && !is_torify_lib(p, n)) {
            size_t need = used + (used ? 1 : 0) + n;
            if (need + 1 > len)
                return false;
            if (used)
                buf[used++] = ' ';
            memcpy(buf + used, p, n);
            used += n;
            buf[used] = '\0';
        }
        p += n;
        while (*p == ' ' || *p == ':')
            p++;
    }
    return true;
}
