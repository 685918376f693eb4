/*
 * guard/uts.c — HideIdentity under the guard: the program's own UTS
 * namespace, whose host name is "localhost".
 *
 * uname(2), gethostname, /proc/sys/kernel/hostname and everything built on
 * them (static programs, Go's os.Hostname, Java's getLocalHost) then say
 * "localhost", with no interposition.  Entered in the child before the
 * filter, directly when privileged, else inside a new user namespace (the
 * user's uid and gid mapped to themselves, guard/ns.c): files of other
 * users then show as the overflow id (nobody), which docs/IDENTITY.md says.
 * When it cannot be made, the caller says so once and the shim still masks
 * what goes through libc.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "guard/internal.h"
#include "guard/log.h"

#define MASKED_HOSTNAME "localhost"

int guard_uts_hide(char *why, size_t why_len)
{
    bool userns = false;
    int r = guard_ns_enter(CLONE_NEWUTS, &userns, why, why_len);
    if (r < 0)
        return r;
    if (sethostname(MASKED_HOSTNAME, strlen(MASKED_HOSTNAME)) != 0) {
        r = -errno;
        snprintf(why, why_len, "sethostname: %s", strerror(errno));
        return r;
    }
    /* The NIS domain name goes out with some mailers' and RPC clients'
     * greetings: "(none)" is what a machine without one reports. */
    if (setdomainname("(none)", 6) != 0) {
        r = -errno;
        snprintf(why, why_len, "setdomainname: %s", strerror(errno));
        return r;
    }
    return 0;
}
