/*
 * launcher/newnym.c — `torify --new-identity`: SIGNAL NEWNYM on the
 * control port, and what Tor did with it.
 *
 * Tor answers 250 OK at once either way; whether it acted is told after:
 * a SIGNAL NEWNYM event when it switched to clean circuits, or a notice
 * "Rate limiting NEWNYM request: delaying by N second(s)" when the last
 * NEWNYM was too recent (it then acts when the delay is over).  We listen
 * for both (SETEVENTS SIGNAL NOTICE) before sending the signal.
 */
#include <stdio.h>
#include <string.h>
#include <torify/control.h>
#include "core/clock.h"
#include "launcher/launcher.h"

#define NEWNYM_WAIT_MS 3000

int new_identity(const struct torify_config *cfg)
{
    struct control_info info;
    char why[4400];
    const struct torify_ctl_reply *ev;
    struct torify_ctl *c = control_connect(cfg, &info);
    torify_err e;

    if (c == NULL) {
        control_failure_text(&info, why, sizeof why);
        if (!info.reachable && info.defaults)
            printf("torify: no control port found (tried unix:/run/tor/control and 127.0.0.1:9051; "
                   "ControlPort or ControlSocket say where)\n");
        else
            printf("torify: control port: %s\n", why);
        return info.reachable ? EXIT_CONTROL_AUTH : EXIT_CONTROL_UNREACHABLE;
    }
    e = torify_ctl_setevents(c, "SIGNAL NOTICE");
    if (e == TORIFY_OK)
        e = torify_ctl_signal(c, "NEWNYM");
    if (e != TORIFY_OK) {
        printf("torify: Tor did not take NEWNYM: %s\n", torify_strerror(e));
        torify_ctl_close(c);
        return EXIT_CHECK_NOT_TOR;
    }
    int64_t until = torify_now_ms() + NEWNYM_WAIT_MS;
    for (;;) {
        /* One bound for the whole wait, however many other notices come. */
        int64_t left = until - torify_now_ms();
        e = left > 0 ? torify_ctl_read_event(c, (int)left, &ev) : TORIFY_E_TIMEOUT;
        if (e != TORIFY_OK) {
            printf("torify: Tor accepted NEWNYM (250 OK) but did not say within %d ms whether it acted\n",
                   NEWNYM_WAIT_MS);
            break;
        }
        const char *t = ev->lines[0].text;
        if (strcmp(t, "SIGNAL NEWNYM") == 0) {
            printf("torify: new identity: Tor will use new circuits for new connections\n");
            break;
        }
        const char *rl = strstr(t, "Rate limiting NEWNYM request");
        if (strncmp(t, "NOTICE ", 7) == 0 && rl != NULL) {
            printf("torify: Tor rate-limits NEWNYM (%s): the new identity comes when the delay is over\n", rl);
            torify_ctl_close(c);
            return EXIT_NEWNYM_DELAYED;
        }
    }
    torify_ctl_close(c);
    return 0;
}
