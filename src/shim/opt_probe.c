/* shim/opt_probe.c — OptimisticData auto: is the SOCKS server Tor?
 *
 * Data behind a SOCKS request is safe only with a server that reads its
 * input as a stream and keeps what follows the request for the target:
 * Tor does (its SOCKS parser loops over the buffer, and data that arrives
 * before the stream is attached goes out with or right after the BEGIN
 * cell); microsocks, for one, drops it.  The probe asks the server
 * something only Tor answers, locally and at once: a RESOLVE (the SOCKS
 * extension 0xF0) of the address 127.0.0.1, which Tor answers with that
 * address without building a circuit or asking anyone (an address
 * "resolves" to itself); a plain SOCKS5 server says "command not
 * supported".  One short exchange with the SOCKS port per process, at its
 * first connect through Tor (a forked child inherits the answer), with
 * the process's own credentials.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "shim/opt.h"
#include "shim/tor.h"

static bool probe(const struct torify_config *c)
{
    static const uint8_t lo[4] = { 127, 0, 0, 1 };
    if (!c->tor_addr_len)
        return false;
    int saved = errno;
    struct torify_socks_opts o;
    char user[TORIFY_POLICY_CRED_MAX], pass[TORIFY_POLICY_CRED_MAX];
    /* Tor answers at once; a server that does not is not Tor. */
    torify_tor_opts(c, &o, TORIFY_TOR_CHECK_MS, user, pass);
    struct torify_target t, result;
    memset(&result, 0, sizeof result);
    torify_err e = torify_target_host(&t, "127.0.0.1", 9, 0);
    int fd = e == TORIFY_OK ? torify_sx_exchange(&torify_tor_sys, (const struct sockaddr *)&c->tor_addr,
                                                 c->tor_addr_len, TORIFY_SOCKS_RESOLVE, &t, &o, &result, &e)
                            : -1;
    if (fd >= 0)
        torify_tor_sys.close(fd);
    errno = saved;
    bool tor = fd >= 0 && result.kind == TORIFY_TARGET_IPV4 && memcmp(result.addr, lo, sizeof lo) == 0;
    torify_log(TORIFY_LOG_DEBUG, "optimistic data (auto): the SOCKS server %s", tor ? "answers as Tor: on"
               : "does not answer as Tor: off");
    return tor;
}

bool torify_opt_probe_is_tor(const struct torify_config *c)
{
    int v = atomic_load_explicit(&torify_shim.opt.is_tor, memory_order_acquire);
    if (v == TORIFY_PASS_UNKNOWN) {
        /* Racing first connects may both ask: the same answer. */
        v = probe(c) ? TORIFY_PASS_YES : TORIFY_PASS_NO;
        atomic_store_explicit(&torify_shim.opt.is_tor, v, memory_order_release);
    }
    return v == TORIFY_PASS_YES;
}

bool torify_opt_wanted(const struct torify_config *c)
{
    switch (c->optimistic) {
    case TORIFY_OPT_ON:
        return true;
    case TORIFY_OPT_OFF:
        return false;
    case TORIFY_OPT_AUTO:
    default:
        return torify_opt_probe_is_tor(c);
    }
}
