/*
 * launcher/options.c — torify's command line, compatible with torsocks'.
 *
 * Parsing stops at the first word that is not an option, so the program's
 * own options are never touched.  `on`, `off` and `show` are commands only
 * in that first position; `torify -- show` runs a program called show.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "launcher/launcher.h"
#include "torify/socks.h"

enum { OPT_SHELL = 256, OPT_VERSION, OPT_CHECK, OPT_NO_GUARD, OPT_SYSTEM, OPT_PRELOAD_FILE, OPT_LIBRARY, OPT_RESOLVE_TOR, OPT_HIDE_ID,
       OPT_CONTROL_PORT, OPT_COOKIE_FILE, OPT_NEW_IDENTITY, OPT_WATCH, OPT_STREAMS, OPT_OPTIMISTIC, OPT_NO_OPTIMISTIC };

static const struct option long_opts[] = {
    { "address", required_argument, NULL, 'a' },
    { "port", required_argument, NULL, 'P' },
    { "user", required_argument, NULL, 'u' },
    { "pass", required_argument, NULL, 'p' },
    { "isolate", no_argument, NULL, 'i' },
    { "debug", no_argument, NULL, 'd' },
    { "quiet", no_argument, NULL, 'q' },
    { "config", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { "shell", no_argument, NULL, OPT_SHELL },
    { "version", no_argument, NULL, OPT_VERSION },
    { "check", no_argument, NULL, OPT_CHECK },
    { "no-guard", no_argument, NULL, OPT_NO_GUARD },
    { "system", required_argument, NULL, OPT_SYSTEM },
    { "preload-file", required_argument, NULL, OPT_PRELOAD_FILE },
    { "library", required_argument, NULL, OPT_LIBRARY },
    { "resolve-through-tor", no_argument, NULL, OPT_RESOLVE_TOR },
    { "hide-identity", no_argument, NULL, OPT_HIDE_ID },
    { "control-port", required_argument, NULL, OPT_CONTROL_PORT },
    { "cookie-file", required_argument, NULL, OPT_COOKIE_FILE },
    { "new-identity", no_argument, NULL, OPT_NEW_IDENTITY },
    { "watch", no_argument, NULL, OPT_WATCH },
    { "streams", no_argument, NULL, OPT_STREAMS },
    { "optimistic", no_argument, NULL, OPT_OPTIMISTIC },
    { "no-optimistic", no_argument, NULL, OPT_NO_OPTIMISTIC },
    { NULL, 0, NULL, 0 },
};

void options_usage(FILE *out)
{
    fputs("usage: torify [options] program [args...]\n"
          "       torify [options] --shell | --check | --new-identity | show | on | off\n"
          "       torify --system enable|disable|status [--preload-file F] [--library PATH]\n"
          "\n"
          "Runs program with libtorify.so preloaded: its TCP connections go through Tor's\n"
          "SOCKS port, host names are resolved by Tor, everything else (UDP, DNS, raw\n"
          "sockets) is refused.\n"
          "\n"
          "  -a, --address ADDR  Tor's SOCKS address (numeric IP, or /path of a unix socket)\n"
          "  -P, --port PORT     Tor's SOCKS port\n"
          "  -u, --user NAME     SOCKS5 username (Tor isolates streams by credentials)\n"
          "  -p, --pass PASS     SOCKS5 password\n"
          "  -i, --isolate       a fresh circuit per process (unique credentials)\n"
          "      --resolve-through-tor  the program's own DNS queries (res_query...) get\n"
          "                      real addresses from Tor (RESOLVE), not fake ones\n"
          "      --hide-identity the program sees the host name localhost, only the\n"
          "                      loopback interface, UTC and the C.UTF-8 locale\n"
          "      --optimistic    the program's first bytes follow its SOCKS request\n"
          "                      without waiting for Tor's reply (OptimisticData on)\n"
          "      --no-optimistic wait for Tor's reply first (OptimisticData off)\n"
          "  -d, --debug         debug messages from the library\n"
          "  -q, --quiet         no messages from the library\n"
          "  -c, --config FILE   use FILE instead of the default torify.conf\n"
          "      --shell         start a torified shell ($SHELL)\n"
          "      --check         is Tor reachable and does it speak Tor's SOCKS? With a\n"
          "                      control port also: bootstrap, network, circuits, listeners\n"
          "      --new-identity  new circuits for new connections (SIGNAL NEWNYM)\n"
          "      --streams       the streams of torified programs: the table, once\n"
          "      --watch         the same, kept current (one line per event when piped)\n"
          "      --control-port ADDR  Tor's control port: PORT, ADDR:PORT or /path of its\n"
          "                      ControlSocket (default: Debian's places)\n"
          "      --cookie-file F Tor's control cookie (default: what Tor names)\n"
          "      --no-guard      no kernel guard: LD_PRELOAD only (static programs refused);\n"
          "                      without it torify refuses to run when the kernel has no guard\n"
          "      --system CMD    system-wide mode: enable (list the library in\n"
          "                      /etc/ld.so.preload, after checking it), disable, status\n"
          "      --preload-file F  the preload list to edit (default /etc/ld.so.preload)\n"
          "      --library PATH  the library to list (default " SYSTEM_LIBRARY ")\n"
          "  -h, --help          this text\n"
          "      --version       print the version\n"
          "\n"
          "  show                what torify would use (library, config, Tor address)\n"
          "  on | off            print shell code: eval \"$(torify on)\" torifies this shell\n"
          "\n"
          "See torify(1).\n", out);
}

/* One line: "torify: <what><arg> (torify --help)". */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "torify: %s%s (torify --help)\n", what, arg ? arg : "");
    return EXIT_USAGE;
}

static int unknown_option(const char *word)
{
    /* For a short option inside a bundle (-xq) name the letter itself. */
    if (optopt > 0 && optopt < 256) {
        char one[3] = { '-', (char)optopt, '\0' };
        return usage_error("unknown option ", one);
    }
    return usage_error("unknown option ", word);
}

int options_parse(int argc, char **argv, struct launcher_opts *o)
{
    memset(o, 0, sizeof *o);
    o->action = ACTION_RUN;
    bool want_shell = false, want_check = false, want_newnym = false, want_watch = false, want_streams = false;
    opterr = 0;
    optind = 1;
    int c;
    /* '+': stop at the first non-option (the program's name). */
    while ((c = getopt_long(argc, argv, "+:a:P:u:p:idqc:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (!*optarg)
                return usage_error("-a needs an address", NULL);
            o->address = optarg;
            break;
        case 'P':
            uint16_t port;
            if (torify_port_parse(optarg, &port) != TORIFY_OK)
                return usage_error("-P: not a port number 1-65535: ", optarg);
            o->port = optarg;
            break;
        case 'u':
            if (!*optarg || strlen(optarg) > 255)
                return usage_error("-u: the username must be 1-255 bytes", NULL);
            o->user = optarg;
            break;
        case 'p':
            if (!*optarg || strlen(optarg) > 255)
                return usage_error("-p: the password must be 1-255 bytes", NULL);
            o->pass = optarg;
            break;
        case 'i': o->isolate = true; break;
        case 'd': o->log_level = "debug"; break;
        case 'q': o->log_level = "quiet"; break;
        case 'c':
            if (!*optarg)
                return usage_error("-c needs a file name", NULL);
            o->config = optarg;
            break;
        case 'h': o->action = ACTION_HELP; return 0;
        case OPT_VERSION: o->action = ACTION_VERSION; return 0;
        case OPT_SHELL: want_shell = true; break;
        case OPT_CHECK: want_check = true; break;
        case OPT_NO_GUARD: o->no_guard = true; break;
        case OPT_RESOLVE_TOR: o->resolve_through_tor = true; break;
        case OPT_HIDE_ID: o->hide_identity = true; break;
        case OPT_OPTIMISTIC: o->optimistic = "on"; break;
        case OPT_NO_OPTIMISTIC: o->optimistic = "off"; break;
        case OPT_CONTROL_PORT:
            if (!*optarg)
                return usage_error("--control-port needs a port, an address:port or a socket path", NULL);
            o->control = optarg;
            break;
        case OPT_COOKIE_FILE:
            if (optarg[0] != '/')
                return usage_error("--cookie-file needs an absolute path: ", optarg);
            o->cookie_file = optarg;
            break;
        case OPT_NEW_IDENTITY: want_newnym = true; break;
        case OPT_WATCH: want_watch = true; break;
        case OPT_STREAMS: want_streams = true; break;
        case OPT_SYSTEM:
            if (strcmp(optarg, "enable") != 0 && strcmp(optarg, "disable") != 0 && strcmp(optarg, "status") != 0)
                return usage_error("--system takes enable, disable or status, not ", optarg);
            o->system_cmd = optarg;
            break;
        case OPT_PRELOAD_FILE:
            if (!*optarg)
                return usage_error("--preload-file needs a file name", NULL);
            o->preload_file = optarg;
            break;
        case OPT_LIBRARY:
            if (!*optarg)
                return usage_error("--library needs a path", NULL);
            o->library = optarg;
            break;
        case ':':
            return usage_error("option needs a value: ", argv[optind - 1]);
        default:
            return unknown_option(argv[optind - 1]);
        }
    }
    /* torsocks refuses -i with -u/-p: isolation means torify picks the
     * credentials, so user-given ones would be silently dropped. */
    if (o->isolate && (o->user || o->pass))
        return usage_error("-i cannot be combined with -u/-p", NULL);
    if (o->system_cmd) {
        /* The system-wide set-up reads only the system configuration:
         * options meant for one program would be silently ignored. */
        if (o->address || o->port || o->user || o->pass || o->config || o->log_level || o->isolate ||
            o->resolve_through_tor || o->hide_identity || o->optimistic || o->no_guard || want_shell || want_check ||
            o->control || o->cookie_file || want_newnym || want_watch || want_streams)
            return usage_error("--system takes only --preload-file and --library", NULL);
        if (optind < argc)
            return usage_error("unexpected argument after --system: ", argv[optind]);
        o->action = ACTION_SYSTEM;
        return 0;
    }
    if (o->preload_file || o->library)
        return usage_error("--preload-file and --library go with --system", NULL);
    bool dashdash = optind > 1 && strcmp(argv[optind - 1], "--") == 0;
    char **rest = argv + optind;
    int nrest = argc - optind;
    if (want_shell + want_check + want_newnym + want_watch + want_streams > 1)
        return usage_error("--shell, --check, --new-identity, --streams and --watch exclude each other", NULL);
    if (want_check || want_shell || want_newnym || want_watch || want_streams) {
        if (nrest > 0)
            return usage_error("unexpected argument after --shell/--check/--new-identity/--streams/--watch: ", rest[0]);
        o->action = want_check ? ACTION_CHECK : want_newnym ? ACTION_NEW_IDENTITY : want_watch ? ACTION_WATCH
                  : want_streams ? ACTION_STREAMS : ACTION_SHELL;
        return 0;
    }
    if (nrest == 0)
        return usage_error("no program given", NULL);
    if (!dashdash) {
        static const struct { const char *word; enum launcher_action action; } cmds[] = {
            { "on", ACTION_ON }, { "off", ACTION_OFF }, { "show", ACTION_SHOW },
        };
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            if (strcmp(rest[0], cmds[i].word) == 0) {
                if (nrest > 1)
                    return usage_error("unexpected argument after the command: ", rest[1]);
                o->action = cmds[i].action;
                return 0;
            }
        }
    }
    o->argv = rest;
    o->argc = nrest;
    return 0;
}
