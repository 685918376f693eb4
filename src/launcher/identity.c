/*
 * launcher/identity.c — HideIdentity's environment: the time zone and the
 * locale a program would otherwise put into what it sends (mail Date:
 * headers, HTTP clients' dates, ssh's SendEnv LANG LC_*).
 *
 * TZ=UTC0 and C.UTF-8 for LANG, LC_ALL, LANGUAGE and every LC_* already
 * set.  Set in the launcher's own environment right before exec, so every
 * descendant inherits them; a program may still read /etc/localtime itself
 * (docs/IDENTITY.md says so).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "launcher/launcher.h"

extern char **environ;

int identity_env_apply(void)
{
    static const char *const fixed[][2] = {
        {"TZ", "UTC0"}, {"LANG", "C.UTF-8"}, {"LC_ALL", "C.UTF-8"}, {"LANGUAGE", "C.UTF-8"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (setenv(fixed[i][0], fixed[i][1], 1) != 0) {
            fprintf(stderr, "torify: cannot set %s: %s\n", fixed[i][0], strerror(errno));
            return EXIT_OS;
        }
    }
    /* Every LC_* the user had: collect the names first (setenv may move
     * environ), then overwrite. */
    char names[64][64];
    size_t n = 0;
    for (char **e = environ; e && *e && n < 64; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : 0;
        if (len > 3 && len < sizeof names[0] && strncmp(*e, "LC_", 3) == 0) {
            memcpy(names[n], *e, len);
            names[n++][len] = '\0';
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (setenv(names[i], "C.UTF-8", 1) != 0) {
            fprintf(stderr, "torify: cannot set %s: %s\n", names[i], strerror(errno));
            return EXIT_OS;
        }
    }
    return 0;
}
