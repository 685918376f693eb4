/*
 * core/streamtab.h — the table in which libtorify.so publishes, per
 * torified socket, what the program asked Tor for: the layout shared by
 * the writer (shim/publish.c) and the reader (launcher/socktab.c, for
 * `torify --streams`).  A header only, like core/clock.h.
 *
 * Why it exists: Tor's `GETINFO stream-status` names a stream's target but
 * not its client end, so a snapshot of Tor's streams cannot by itself say
 * which program a stream belongs to (docs/CONTROL.md, "torify --streams").
 * The program's own side knows: which of its sockets it connected to Tor,
 * and for what destination.
 *
 * The table is one memfd named TORIFY_STREAMTAB_NAME per process, made on
 * the first connect through Tor, mapped MAP_SHARED and close-on-exec.  A
 * reader reaches it as /proc/PID/fd/N ("/memfd:torify-streams (deleted)"),
 * which the kernel lets only the process's own user (and root) open — the
 * same rule as for /proc/PID/fd itself, which lists the sockets anyway.
 * It holds destinations, never credentials.
 *
 * Slot i is fd i's.  A writer bumps seq to odd, writes, bumps it to even
 * (a sequence lock): a reader copies a slot and keeps it only when seq was
 * the same even number before and after.  live is 0 once the fd is closed.
 * A reader trusts nothing in it: the process that wrote it may be hostile.
 */
#ifndef TORIFY_CORE_STREAMTAB_H
#define TORIFY_CORE_STREAMTAB_H

#include <stdatomic.h>
#include <stdint.h>

#define TORIFY_STREAMTAB_NAME "torify-streams"
#define TORIFY_STREAMTAB_MAGIC 0x31425453u /* "STB1" */
/* fds at or above this are not published (their streams show as of an
 * unknown program): the table stays one small file. */
#define TORIFY_STREAMTAB_SLOTS 1024u

enum torify_streamtab_kind { TORIFY_STREAMTAB_NAME_KIND = 1, TORIFY_STREAMTAB_IPV4 = 4, TORIFY_STREAMTAB_IPV6 = 6 };

struct torify_streamtab_slot {
    _Atomic uint32_t seq;   /* odd while being written */
    uint8_t live;           /* 1: the fd is a torified socket now */
    uint8_t kind;           /* enum torify_streamtab_kind */
    uint8_t host_len;       /* kind NAME: bytes in host */
    uint8_t pad;
    uint16_t port;          /* host order */
    uint16_t pad2;
    uint32_t pad3;
    int64_t started_ns;     /* CLOCK_MONOTONIC when torify started the connect */
    uint8_t addr[16];       /* kind IPV4 / IPV6, network order */
    char host[256];         /* kind NAME, not NUL-terminated */
};

struct torify_streamtab {
    uint32_t magic;
    uint32_t slots;         /* TORIFY_STREAMTAB_SLOTS */
    uint32_t slot_size;     /* sizeof(struct torify_streamtab_slot) */
    uint32_t pad;
    struct torify_streamtab_slot slot[TORIFY_STREAMTAB_SLOTS];
};

#endif
