/*
 * dns/tor.h — real answers (ResolveThroughTor): the answerer's resolve and
 * resolve_ptr callbacks (dns/answer.h) backed by Tor's RESOLVE and
 * RESOLVE_PTR.  Blocking: one circuit round trip each, bounded by the
 * timeouts of core/policy.h.
 *
 * torify_dns_tor_resolve / _ptr take the configuration as ctx
 * (const struct torify_config *) and reach Tor with libtorify-socks'
 * torify_socks_resolve*, i.e. socket() and connect() by name: for the
 * launcher and the guard's responder, never inside libtorify.so (whose
 * socket/connect are interposed; the shim uses shim/tor.c's pair, which
 * shares torify_dns_tor_pick below).  Credentials are the launcher's own
 * (IsolatePID: its pid).
 */
#ifndef TORIFY_DNS_TOR_H
#define TORIFY_DNS_TOR_H

#include <stddef.h>
#include <stdint.h>
#include <torify/error.h>
#include <torify/socks.h>

torify_err torify_dns_tor_resolve(void *ctx, const char *name, int family, uint8_t addr[16]);
torify_err torify_dns_tor_resolve_ptr(void *ctx, int family, const uint8_t *addr, char *name, size_t len);

/* The address of family (AF_INET / AF_INET6) in a RESOLVE result: Tor
 * answers with one address of the family it picked, so the other family
 * has none (TORIFY_E_PROTO_RESOLVE_TYPE, an answer without records). */
torify_err torify_dns_tor_pick(const struct torify_target *result, int family, uint8_t addr[16]);

/* The target of a RESOLVE_PTR for an address. */
torify_err torify_dns_tor_ptr_target(int family, const uint8_t *addr, struct torify_target *t);

#endif
