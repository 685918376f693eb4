/*
 * dns/reverse.h — the address a PTR question names: "d.c.b.a.in-addr.arpa"
 * (RFC 1035 3.5) and the 32 nibbles of "....ip6.arpa" (RFC 3596 2.5).
 * Pure text work.
 */
#ifndef TORIFY_DNS_REVERSE_H
#define TORIFY_DNS_REVERSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* true when name (dotted, no trailing dot, any case) is the reverse name of
 * one whole address: *family AF_INET (4 bytes) or AF_INET6 (16) in addr.
 * A shorter name (a zone such as "10.in-addr.arpa"), a label out of range
 * or with leading zeros is not an address: false. */
bool torify_dns_reverse_parse(const char *name, int *family, uint8_t addr[16]);

/* The reverse name of an address, into out (at least 73 bytes for IPv6).
 * Returns out, or NULL when it does not fit or family is unknown. */
char *torify_dns_reverse_name(int family, const uint8_t *addr, char *out, size_t len);

#endif
