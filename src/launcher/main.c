/*
 * launcher/main.c — `torify [options] program args...`
 *
 * Order matters: everything that can be checked is checked before exec,
 * because after exec a mistake no longer shows as an error but as traffic
 * that bypasses Tor (an unloaded library, a static program) or as every
 * connection failing for a reason nobody printed (a broken config).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
#include "core/fakemap.h"
#include "core/fakemap_env.h"
#include "guard/guard.h"
#include "launcher/launcher.h"

extern char **environ;

static void warn_if_tor_absent(const struct torify_config *cfg)
{
    if (torify_config_log_level(cfg, true) < TORIFY_LOG_ERROR)
        return;
    if (check_tor_listening(cfg) == 0) {
        char where[300];
        fprintf(stderr, "torify: warning: nothing listens at %s (Tor's SocksPort): "
                        "connections will be refused; torify --check tells more\n",
                tor_address_text(cfg, where, sizeof where));
    }
}

/* A misspelt TORIFY_* / TORSOCKS_* variable is silently not read: say so,
 * once, here.  The launcher is the one place that sees the user's
 * environment exactly once per command; the shim would say it again in
 * every program exec'd below, and in system-wide mode (no launcher) it
 * stays quiet as all its messages do there.  Not under AT_SECURE, where the
 * environment is not read at all. */
static void warn_unknown_env(const struct torify_config *cfg)
{
    if (torify_config_log_level(cfg, true) < TORIFY_LOG_ERROR || getauxval(AT_SECURE))
        return;
    for (char **e = environ; e && *e; e++) {
        const char *near = torify_config_env_unknown(*e);
        if (!near)
            continue;
        int n = (int)strcspn(*e, "=");
        if (near[0])
            fprintf(stderr, "torify: warning: %.*s is not a torify variable and is ignored; did you mean %s?\n",
                    n, *e, near);
        else
            fprintf(stderr, "torify: warning: %.*s is not a torify variable and is ignored "
                            "(torify(1), ENVIRONMENT, lists them)\n", n, *e);
    }
}

/* One fake-address map for the whole process tree, created here while the
 * launcher is single-threaded and published before exec: a name one
 * program looks up can be connected by any other program of the tree —
 * its children, and also its siblings (`ip=$(getent hosts x); curl $ip`
 * in a torified shell).  A torify run inside a torified tree keeps the
 * outer map.  Without a map the programs simply create their own. */
static struct torify_fakemap *share_fakemap(const struct torify_config *cfg)
{
    if (getenv(TORIFY_FAKEMAP_ENV))
        return NULL;
    struct torify_fakemap_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.range4 = cfg->fake4;
    fo.range6 = cfg->fake6;
    struct torify_fakemap *m = NULL;
    if (torify_fakemap_create(&m, &fo) != TORIFY_OK)
        return NULL;
    /* On success m stays mapped for the launcher's lifetime: the guard's
     * supervisor looks names up in it (otherwise exec unmaps it). */
    if (torify_fakemap_env_publish(m) != 0) {
        torify_fakemap_destroy(m);
        return NULL;
    }
    return m;
}

static int run_program(const struct launcher_opts *o, const struct torify_config *cfg)
{
    char *shell_argv[2] = { NULL, NULL };
    char *const *argv = o->argv;
    if (o->action == ACTION_SHELL) {
        const char *sh = getenv("SHELL");
        shell_argv[0] = (char *)(sh && sh[0] == '/' ? sh : "/bin/sh");
        argv = shell_argv;
    }
    char path[PATH_MAX];
    int rc = program_find(argv[0], path, sizeof path);
    if (rc)
        return rc;
    /* The kernel guard (src/guard/) sees every connect of the program and
     * its descendants, also those LD_PRELOAD cannot see.  Without it, a
     * program that ignores LD_PRELOAD would bypass Tor: refuse those. */
    bool guarded = false, inherited = false;
    char why[256] = "";
    if (!o->no_guard) {
        int g = torify_guard_check_to_run(why, sizeof why);
        if (g < 0) {
            /* No silent fall-back to LD_PRELOAD only: a program the user
             * asked to guard must not run with less. */
            fprintf(stderr, "torify: %s\n", why);
            return EXIT_UNGUARDABLE;
        }
        guarded = g == 0;
        inherited = g == 1; /* a torify inside the guard: the exec below stays guarded */
    }
    if (!guarded && !inherited) {
        rc = program_check_preloadable(path);
        if (rc)
            return rc;
    }
    char lib[PATH_MAX];
    rc = preload_find(lib, sizeof lib, NULL);
    if (!rc)
        rc = preload_check(lib);
    if (rc)
        return rc;
    char value[8192];
    if (!env_preload_value(getenv("LD_PRELOAD"), lib, value, sizeof value)) {
        fprintf(stderr, "torify: LD_PRELOAD would be too long\n");
        return EXIT_OS;
    }
#ifdef TORIFY_SAN_RUNTIME
    /* A sanitizer build (make SANITIZE=...): the instrumented libtorify.so
     * works in an uninstrumented program only with the sanitizer's runtime
     * loaded first. */
    if (!strstr(value, TORIFY_SAN_RUNTIME)) {
        char with[sizeof value];
        if (snprintf(with, sizeof with, "%s %s", TORIFY_SAN_RUNTIME, value) < (int)sizeof with)
            memcpy(value, with, sizeof value);
    }
#endif
    if (setenv("LD_PRELOAD", value, 1) != 0) {
        fprintf(stderr, "torify: cannot set LD_PRELOAD: %s\n", strerror(errno));
        return EXIT_OS;
    }
    if (cfg->hide_identity) {
        rc = identity_env_apply();
        if (rc)
            return rc;
    }
    warn_if_tor_absent(cfg);
    struct torify_fakemap *map = share_fakemap(cfg);
    fflush(NULL);
    if (guarded) {
        /* The launcher stays as the supervisor and returns the program's
         * status.  If the guard cannot be set up after all, nothing has
         * run: fail closed rather than run the program less protected than
         * the check promised. */
        char err[256] = "";
        int st = torify_guard_run(cfg, map, path, argv, environ, err, sizeof err);
        if (st >= 0)
            return st;
        if (st == -2) {
            fprintf(stderr, "torify: %s\n", err);
            return EXIT_UNGUARDABLE;
        }
        fprintf(stderr, "torify: kernel guard failed: %s (torify --no-guard runs with LD_PRELOAD only)\n",
                err[0] ? err : "unknown error");
        return EXIT_OS;
    }
    execv(path, argv);
    if (errno == ENOEXEC) {
        /* Like execvp: a file without #! is a shell script. */
        int n = 0;
        while (argv[n])
            n++;
        char **sh = calloc((size_t)n + 2, sizeof *sh);
        if (sh) {
            sh[0] = (char *)"/bin/sh";
            sh[1] = path;
            for (int i = 1; i < n; i++)
                sh[i + 1] = argv[i];
            execv("/bin/sh", sh);
            free(sh);
        }
    }
    int e = errno;
    fprintf(stderr, "torify: cannot run %s: %s\n", path, strerror(e));
    return e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
}

int main(int argc, char **argv)
{
    struct launcher_opts o;
    int rc = options_parse(argc, argv, &o);
    if (rc)
        return rc;
    if (o.action == ACTION_HELP) {
        options_usage(stdout);
        return 0;
    }
    if (o.action == ACTION_VERSION) {
        printf("torify %s\n", TORIFY_VERSION);
        return 0;
    }
    /* Before env_apply: system-wide mode is about the system configuration,
     * whatever this shell's environment says. */
    if (o.action == ACTION_SYSTEM)
        return system_command(&o);
    rc = env_apply(&o);
    if (rc)
        return rc;
    static struct torify_config cfg;
    rc = config_load_for_child(&cfg);
    if (rc)
        return rc;
    warn_unknown_env(&cfg);
    /* TorUnixSocket wins over TorAddress (docs/CONTRACTS.md), so with one in
     * the file a numeric -a would be silently ignored: say so instead. */
    if (o.address && o.address[0] != '/' && cfg.tor_unix[0]) {
        fprintf(stderr, "torify: -a %s has no effect: %s sets TorUnixSocket %s, which wins "
                        "(use -a with a socket path, or another -c file)\n",
                o.address, cfg.source[0] ? cfg.source : "the configuration", cfg.tor_unix);
        return EXIT_USAGE;
    }
    /* The same for ControlSocket over ControlPort. */
    if (o.control && o.control[0] != '/' && cfg.ctl_unix[0]) {
        fprintf(stderr, "torify: --control-port %s has no effect: %s sets ControlSocket %s, which wins "
                        "(use --control-port with a socket path, or another -c file)\n",
                o.control, cfg.source[0] ? cfg.source : "the configuration", cfg.ctl_unix);
        return EXIT_USAGE;
    }
    /* Explicit credentials win over IsolatePID: -i would silently not isolate. */
    if (o.isolate && (cfg.has_user || cfg.has_pass)) {
        fprintf(stderr, "torify: -i has no effect: SOCKS5 credentials are set (%s), and they win\n",
                cfg.source[0] ? cfg.source : "environment");
        return EXIT_USAGE;
    }

    switch (o.action) {
    case ACTION_CHECK:
        return check_control(&cfg, check_tor(&cfg));
    case ACTION_NEW_IDENTITY:
        return new_identity(&cfg);
    case ACTION_WATCH:
        return watch_streams(&cfg);
    case ACTION_STREAMS:
        return streams_table(&cfg);
    case ACTION_OFF:
        return shell_off();
    case ACTION_ON: {
        char lib[PATH_MAX];
        rc = preload_find(lib, sizeof lib, NULL);
        if (!rc)
            rc = preload_check(lib);
        return rc ? rc : shell_on(lib);
    }
    case ACTION_SHOW: {
        char lib[PATH_MAX];
        const char *how = NULL;
        bool have = preload_find(lib, sizeof lib, &how) == 0;
        return shell_show(&cfg, have ? lib : NULL, how);
    }
    default:
        return run_program(&o, &cfg);
    }
}
