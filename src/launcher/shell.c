/*
 * launcher/shell.c — `torify on`, `torify off` and `torify show`.
 *
 * A program cannot change its parent shell's environment, so `on` and `off`
 * print POSIX shell code for the shell to run:
 *     eval "$(torify on)"     eval "$(torify off)"
 * Values are single-quoted, so no byte of a path or password is ever
 * interpreted by the shell.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "guard/guard.h"
#include "launcher/launcher.h"

/* 'value' with every ' written as '\'' */
static void put_quoted(const char *v)
{
    putchar('\'');
    for (const char *p = v; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*p);
    }
    putchar('\'');
}

static void put_export(const char *name, const char *value)
{
    printf("export %s=", name);
    put_quoted(value);
    fputs(";\n", stdout);
}

static void hint_eval(const char *word)
{
    /* Printed to a terminal, the code does nothing: say how to use it. */
    if (isatty(STDOUT_FILENO))
        fprintf(stderr, "torify: this prints shell code; run:  eval \"$(torify %s)\"\n", word);
}

int shell_on(const char *lib)
{
    char value[8192];
    if (!env_preload_value(getenv("LD_PRELOAD"), lib, value, sizeof value)) {
        fprintf(stderr, "torify: LD_PRELOAD would be too long\n");
        return EXIT_OS;
    }
    /* Everything env_apply put into our environment goes to the shell, so
     * `torify -P 9150 on` works like `torify -P 9150 program`. */
    for (const char *const *v = env_launcher_vars; *v; v++) {
        const char *val = getenv(*v);
        if (val)
            put_export(*v, val);
    }
    put_export("LD_PRELOAD", value);
    fflush(stdout);
    hint_eval("on");
    return ferror(stdout) ? EXIT_OS : 0;
}

int shell_off(void)
{
    char value[8192];
    if (!env_preload_value(getenv("LD_PRELOAD"), NULL, value, sizeof value)) {
        fprintf(stderr, "torify: LD_PRELOAD too long\n");
        return EXIT_OS;
    }
    if (value[0])
        put_export("LD_PRELOAD", value);
    else
        fputs("unset LD_PRELOAD;\n", stdout);
    fputs("unset", stdout);
    for (const char *const *v = env_launcher_vars; *v; v++)
        printf(" %s", *v);
    fputs(";\n", stdout);
    fflush(stdout);
    hint_eval("off");
    return ferror(stdout) ? EXIT_OS : 0;
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

static void put_cidr(const struct torify_cidr *c)
{
    char buf[64];
    if (!inet_ntop(c->family, c->addr, buf, sizeof buf))
        snprintf(buf, sizeof buf, "?");
    printf("%s/%u", buf, c->prefix);
}

int shell_show(const struct torify_config *cfg, const char *lib, const char *lib_how)
{
    char where[300];
    printf("torify %s\n", TORIFY_VERSION);
    if (lib)
        printf("library: %s (%s)\n", lib, lib_how ? lib_how : "found");
    else
        printf("library: not found\n");
    const char *pre = getenv("LD_PRELOAD");
    bool active = false;
    if (pre && lib) {
        char without[8192];
        /* Active when removing torify's library changes LD_PRELOAD. */
        active = env_preload_value(pre, NULL, without, sizeof without) && strcmp(without, pre) != 0;
    }
    printf("this shell torified: %s (LD_PRELOAD=%s)\n", yes_no(active), pre ? pre : "");
    printf("config file: %s\n", cfg->source[0] ? cfg->source : "none (built-in defaults)");
    printf("tor: %s\n", tor_address_text(cfg, where, sizeof where));
    int listening = check_tor_listening(cfg);
    printf("tor listening: %s\n", listening < 0 ? "unknown (not a local address)" : yes_no(listening == 1));
    printf("protocol: %s\n", cfg->proto == TORIFY_SOCKS4A ? "socks4a" : "socks5");
    printf("username: %s\n", cfg->has_user ? cfg->user : "(none)");
    printf("password: %s\n", cfg->has_pass ? "(set)" : "(none)");
    printf("isolate per process: %s\n", yes_no(cfg->isolate_pid));
    printf("allow inbound: %s\n", yes_no(cfg->allow_inbound));
    printf("allow outbound localhost: %s\n", yes_no(cfg->allow_localhost));
    printf("resolve through tor: %s\n", cfg->resolve_through_tor ? "yes (own DNS queries get Tor's RESOLVE answers)"
                                                                  : "no (own DNS queries get fake addresses)");
    if (cfg->hide_identity)
        printf("hide identity: yes (hidden: the host name, shown as localhost; network interfaces but the "
               "loopback; the time zone, UTC; the locale, C.UTF-8. Not hidden: user names in configured "
               "e-mail addresses, User-Agent strings, what an application puts in its own protocol)\n");
    else
        printf("hide identity: no (programs see the real host name, interfaces, time zone and locale)\n");
    printf("exempt networks:");
    if (cfg->n_exempt == 0)
        printf(" none");
    for (size_t i = 0; i < cfg->n_exempt; i++) {
        putchar(' ');
        put_cidr(&cfg->exempt[i]);
    }
    printf("\nexempt executables:");
    for (size_t i = 0; torify_exempt_exe_builtin[i]; i++)
        printf(" %s", torify_exempt_exe_builtin[i]);
    for (size_t i = 0; i < cfg->n_exempt_exe; i++)
        printf(" %s", cfg->exempt_exe[i]);
    printf("\nfake IPv4 range: ");
    put_cidr(&cfg->fake4);
    printf("\nfake IPv6 range: ");
    put_cidr(&cfg->fake6);
    /* What a program started from here runs at (cfg->launched: this shell
     * is torified). */
    printf("\nlog level: %s\n", torify_log_level_name(torify_config_log_level(cfg, cfg->launched)));
    printf("log file: %s\n", cfg->log_file[0] ? cfg->log_file : "stderr");
    char sys[PRELOAD_ENTRY_MAX + 64];
    printf("system-wide mode: %s\n", system_state_text(sys, sizeof sys));
    char why[256] = "";
    int g = torify_guard_check(why, sizeof why);
    if (g == 0)
        printf("kernel guard: available\n");
    else if (g == 1)
        printf("kernel guard: inherited (this process already runs under torify's guard)\n");
    else
        printf("kernel guard: unavailable (%s; only torify --no-guard can run programs)\n", why);
    if (g == 0) {
        /* Where the guard's datagram sockets would live (src/guard/keeper.c). */
        char how[256] = "";
        if (torify_guard_dns_check(how, sizeof how) == 0)
            printf("DNS of programs with their own resolver: answered by torify (sealed network namespace, %s)\n",
                   how);
        else
            printf("DNS of programs with their own resolver: refused, no private network namespace here (%s)\n",
                   how);
    }
    fflush(stdout);
    return ferror(stdout) ? EXIT_OS : 0;
}
