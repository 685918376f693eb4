/*
 * core/lookup.h — the answer to a forward name lookup, one rule for every
 * way a program asks: getaddrinfo (shim/resolve.c), gethostbyname*
 * (shim/hostent.c) and DNS queries (dns/answer.c, for res_* and the
 * guard's responder), so all of them give the same address for a name.
 *
 *   an address literal      -> itself, in its own family only
 *   localhost names, the machine's own name -> 127.0.0.1 / ::1
 *   .onion and other names  -> the fake address of the name's slot
 *   invalid names           -> no such name
 *
 * The caller classifies the name (torify_policy_name_kind_on, with the
 * hostname it knows) and passes the fake map only when the kind needs one
 * (torify_lookup_needs_map), so looking up localhost never creates a map.
 */
#ifndef TORIFY_CORE_LOOKUP_H
#define TORIFY_CORE_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>
#include "core/fakemap.h"
#include "core/policy.h"

enum torify_lookup {
    TORIFY_LOOKUP_OK = 0,      /* addr holds the address (4 or 16 bytes) */
    TORIFY_LOOKUP_NODATA,      /* the name is fine, but has no address of this family (a literal of the other) */
    TORIFY_LOOKUP_NONAME,      /* no such name: invalid, or one the fake map refuses */
    TORIFY_LOOKUP_AGAIN,       /* no fake address free (every slot held by a live connection), or no map */
    TORIFY_LOOKUP_REFUSED,     /* a host name while the configuration is broken: fail closed */
};

/* Does a name of this kind get its address from the fake map? */
bool torify_lookup_needs_map(enum torify_name_kind kind);

/* The address of name (of kind) in family AF_INET / AF_INET6.  config_ok:
 * the configuration loaded; m: the fake map (NULL allowed, then fake kinds
 * are AGAIN).  slot (may be NULL) receives the fake slot, or
 * TORIFY_FAKEMAP_NO_SLOT. */
enum torify_lookup torify_lookup_name(enum torify_name_kind kind, const char *name, int family, bool config_ok,
                                      struct torify_fakemap *m, uint8_t addr[16], uint32_t *slot);

#endif
