/* core/lookup.c — see lookup.h. */
#include "core/lookup.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

bool torify_lookup_needs_map(enum torify_name_kind kind)
{
    return kind == TORIFY_NAME_HOST || kind == TORIFY_NAME_ONION;
}

static enum torify_lookup literal(const char *name, int family, uint8_t addr[16])
{
    struct in_addr a4;
    /* inet_aton: every form torify_policy_name_kind calls numeric ("10.1", "0x7f.1"). */
    if (family == AF_INET && inet_aton(name, &a4)) {
        memcpy(addr, &a4, 4);
        return TORIFY_LOOKUP_OK;
    }
    if (family == AF_INET6 && inet_pton(AF_INET6, name, addr) == 1)
        return TORIFY_LOOKUP_OK;
    return TORIFY_LOOKUP_NODATA;
}

enum torify_lookup torify_lookup_name(enum torify_name_kind kind, const char *name, int family, bool config_ok,
                                      struct torify_fakemap *m, uint8_t addr[16], uint32_t *slot)
{
    if (slot)
        *slot = TORIFY_FAKEMAP_NO_SLOT;
    if (family != AF_INET && family != AF_INET6)
        return TORIFY_LOOKUP_NODATA;
    switch (kind) {
    case TORIFY_NAME_NUMERIC:
        return literal(name, family, addr);
    case TORIFY_NAME_LOCALHOST:
        if (family == AF_INET) {
            static const uint8_t lo4[4] = { 127, 0, 0, 1 };
            memcpy(addr, lo4, 4);
        } else {
            static const uint8_t lo6[16] = { [15] = 1 };
            memcpy(addr, lo6, 16);
        }
        return TORIFY_LOOKUP_OK;
    case TORIFY_NAME_HOST:
    case TORIFY_NAME_ONION: {
        if (!config_ok)
            return TORIFY_LOOKUP_REFUSED;
        if (!m)
            return TORIFY_LOOKUP_AGAIN;
        uint32_t s;
        torify_err e = torify_fakemap_assign(m, name, strlen(name), &s);
        if (e == TORIFY_E_IO)
            return TORIFY_LOOKUP_AGAIN;
        if (e != TORIFY_OK)
            return TORIFY_LOOKUP_NONAME;
        if (family == AF_INET)
            torify_fakemap_addr4(m, s, addr);
        else
            torify_fakemap_addr6(m, s, addr);
        if (slot)
            *slot = s;
        return TORIFY_LOOKUP_OK;
    }
    case TORIFY_NAME_INVALID:
    default:
        return TORIFY_LOOKUP_NONAME;
    }
}
