/*
 * libFuzzer target: the request side.  Fuzzed protocol, command, flags,
 * target, port, username and password go into torify_socks_init; an
 * independent model says whether the input is valid.  Valid input must be
 * accepted and, driven against a server that says yes, must put exactly the
 * bytes on the wire that RFC 1928/1929 and the SOCKS4a layout prescribe
 * (checked by a decoder written separately from src/socks/encode.c), and
 * must end DONE.  Invalid input must be refused with a TORIFY_E_INVAL_*
 * value and leave the codec FAILED.
 *
 * Input: ctl, port hi, port lo, user length, pass length, then user, pass,
 * and the rest as the host name (or the address bytes).
 *   ctl bits 0-1 protocol (4, 4a, 5, 5); bits 2-3 command (CONNECT,
 *   RESOLVE, RESOLVE_PTR, 0x02 = BIND which is never valid); bit 4 pipeline;
 *   bit 5 user given; bit 6 pass given; bit 7 with the length of the rest
 *   picks the target kind (name, IPv4 with 4 bytes, IPv6 with 16).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <torify/socks.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) \
    do { \
        if (!(c)) \
            __builtin_trap(); \
    } while (0)

struct model {
    int proto, cmd;
    const struct torify_target *t;
    const char *user, *pass;
};

static int valid(const struct model *m)
{
    const struct torify_target *t = m->t;
    int connect = m->cmd == TORIFY_SOCKS_CONNECT;
    if (m->cmd != TORIFY_SOCKS_CONNECT && m->cmd != TORIFY_SOCKS_RESOLVE && m->cmd != TORIFY_SOCKS_RESOLVE_PTR)
        return 0;
    if (m->proto == TORIFY_SOCKS5) {
        if ((m->user == NULL) != (m->pass == NULL))
            return 0;
        if (m->user && (strlen(m->user) == 0 || strlen(m->user) > 255 || strlen(m->pass) == 0 ||
                        strlen(m->pass) > 255))
            return 0;
        if (m->cmd == TORIFY_SOCKS_RESOLVE)
            return t->kind == TORIFY_TARGET_HOST;
        if (m->cmd == TORIFY_SOCKS_RESOLVE_PTR)
            return t->kind != TORIFY_TARGET_HOST;
        return t->port != 0;
    }
    if (m->pass != NULL || (m->user && strlen(m->user) > 255) || m->cmd == TORIFY_SOCKS_RESOLVE_PTR)
        return 0;
    if (t->kind == TORIFY_TARGET_IPV4) {
        int marker = t->addr[0] == 0 && t->addr[1] == 0 && t->addr[2] == 0 && t->addr[3] != 0;
        return connect && !marker && t->port != 0;
    }
    if (t->kind == TORIFY_TARGET_HOST)
        return m->proto == TORIFY_SOCKS4A && (!connect || t->port != 0);
    return 0; /* IPv6 */
}

/* The server's whole answer for a valid request. */
static size_t answer(const struct model *m, uint8_t *a)
{
    size_t n = 0;
    if (m->proto != TORIFY_SOCKS5) {
        static const uint8_t r4[] = { 0x00, 0x5a, 0, 0, 10, 0, 0, 1 };
        memcpy(a, r4, sizeof r4);
        return sizeof r4;
    }
    a[n++] = 0x05;
    a[n++] = m->user ? 0x02 : 0x00;
    if (m->user) {
        a[n++] = 0x01;
        a[n++] = 0x00;
    }
    if (m->cmd == TORIFY_SOCKS_RESOLVE_PTR) {
        static const uint8_t r[] = { 0x05, 0x00, 0x00, 0x03, 1, 'x', 0, 0 };
        memcpy(a + n, r, sizeof r);
        return n + sizeof r;
    }
    static const uint8_t r[] = { 0x05, 0x00, 0x00, 0x01, 10, 0, 0, 1, 0, 0 };
    memcpy(a + n, r, sizeof r);
    return n + sizeof r;
}

/* Consumes expected bytes from the wire; 0 on mismatch. */
struct cursor {
    const uint8_t *p;
    size_t left;
};

static int take(struct cursor *c, const void *want, size_t n)
{
    if (c->left < n || memcmp(c->p, want, n) != 0)
        return 0;
    c->p += n;
    c->left -= n;
    return 1;
}

static int take1(struct cursor *c, uint8_t b)
{
    return take(c, &b, 1);
}

/* Independent check of the client's bytes against the model. */
static int wire_ok(const struct model *m, const uint8_t *w, size_t n)
{
    struct cursor c = { w, n };
    const struct torify_target *t = m->t;
    uint16_t port = m->cmd == TORIFY_SOCKS_CONNECT ? t->port : 0;
    uint8_t pb[2] = { (uint8_t)(port >> 8), (uint8_t)port };

    if (m->proto != TORIFY_SOCKS5) {
        static const uint8_t marker[4] = { 0, 0, 0, 1 };
        const char *u = m->user ? m->user : "";
        if (!take1(&c, 0x04) || !take1(&c, (uint8_t)m->cmd) || !take(&c, pb, 2))
            return 0;
        if (t->kind == TORIFY_TARGET_HOST) {
            if (!take(&c, marker, 4) || !take(&c, u, strlen(u) + 1) || !take(&c, t->host, t->host_len) ||
                !take1(&c, 0))
                return 0;
        } else if (!take(&c, t->addr, 4) || !take(&c, u, strlen(u) + 1)) {
            return 0;
        }
        return c.left == 0;
    }
    if (!take1(&c, 0x05) || !take1(&c, 0x01) || !take1(&c, m->user ? 0x02 : 0x00))
        return 0;
    if (m->user) {
        if (!take1(&c, 0x01) || !take1(&c, (uint8_t)strlen(m->user)) || !take(&c, m->user, strlen(m->user)) ||
            !take1(&c, (uint8_t)strlen(m->pass)) || !take(&c, m->pass, strlen(m->pass)))
            return 0;
    }
    if (!take1(&c, 0x05) || !take1(&c, (uint8_t)m->cmd) || !take1(&c, 0x00))
        return 0;
    if (t->kind == TORIFY_TARGET_IPV4) {
        if (!take1(&c, 0x01) || !take(&c, t->addr, 4))
            return 0;
    } else if (t->kind == TORIFY_TARGET_IPV6) {
        if (!take1(&c, 0x04) || !take(&c, t->addr, 16))
            return 0;
    } else if (!take1(&c, 0x03) || !take1(&c, t->host_len) || !take(&c, t->host, t->host_len)) {
        return 0;
    }
    return take(&c, pb, 2) && c.left == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int protos[4] = { TORIFY_SOCKS4, TORIFY_SOCKS4A, TORIFY_SOCKS5, TORIFY_SOCKS5 };
    static const int cmds[4] = { TORIFY_SOCKS_CONNECT, TORIFY_SOCKS_RESOLVE, TORIFY_SOCKS_RESOLVE_PTR, 0x02 };
    char user[300], pass[300];
    struct torify_target t;
    struct torify_socks s;
    struct model m;

    if (size < 5)
        return 0;
    uint8_t ctl = data[0];
    uint16_t port = (uint16_t)(data[1] << 8 | data[2]);
    size_t ul = data[3] + (ctl & 0x80 ? 1u : 0u), pl = data[4];
    const uint8_t *p = data + 5;
    size_t left = size - 5;
    if (ul > left)
        ul = left;
    memcpy(user, p, ul);
    user[ul] = '\0'; /* a NUL inside just makes the C string shorter */
    p += ul, left -= ul;
    if (pl > left)
        pl = left;
    memcpy(pass, p, pl);
    pass[pl] = '\0';
    p += pl, left -= pl;

    /* The rest: 4 or 16 bytes may be an address, anything else a name. */
    if ((ctl & 0x80) && left == 4) {
        CHECK(torify_target_ipv4(&t, p, port) == TORIFY_OK);
    } else if ((ctl & 0x80) && left == 16) {
        CHECK(torify_target_ipv6(&t, p, port) == TORIFY_OK);
    } else {
        torify_err he = torify_target_host(&t, (const char *)p, left, port);
        int ok = left >= 1 && left <= 255 && memchr(p, 0, left) == NULL;
        CHECK((he == TORIFY_OK) == ok);
        if (!ok) {
            CHECK(he == (left == 0     ? TORIFY_E_INVAL_HOST_EMPTY
                         : left > 255 ? TORIFY_E_INVAL_HOST_TOO_LONG
                                      : TORIFY_E_INVAL_HOST_NUL));
            return 0;
        }
    }

    m.proto = protos[ctl & 3];
    m.cmd = cmds[(ctl >> 2) & 3];
    m.t = &t;
    m.user = (ctl & 0x20) ? user : NULL;
    m.pass = (ctl & 0x40) ? pass : NULL;
    unsigned flags = (ctl & 0x10) ? TORIFY_SOCKS_PIPELINE : 0;

    torify_err e = torify_socks_init(&s, (enum torify_socks_proto)m.proto, (enum torify_socks_cmd)m.cmd, &t,
                                     m.user, m.pass, flags);
    if (!valid(&m)) {
        CHECK(e >= TORIFY_E_INVAL_HOST_EMPTY && e <= TORIFY_E_INVAL_STATE);
        CHECK(torify_socks_want(&s) == TORIFY_SOCKS_FAILED && torify_socks_error(&s) == e);
        return 0;
    }
    CHECK(e == TORIFY_OK);

    uint8_t wire[2048], srv[64];
    size_t wn = 0, sn = answer(&m, srv), sp = 0;
    for (int guard = 0; guard < 100; guard++) {
        enum torify_socks_want w = torify_socks_want(&s);
        if (w == TORIFY_SOCKS_WANT_WRITE) {
            const uint8_t *out;
            size_t len = torify_socks_output(&s, &out);
            CHECK(len > 0 && wn + len <= sizeof wire);
            memcpy(wire + wn, out, len);
            wn += len;
            CHECK(torify_socks_sent(&s, len) == TORIFY_OK);
        } else if (w == TORIFY_SOCKS_WANT_READ) {
            size_t used = 0;
            CHECK(sp < sn);
            CHECK(torify_socks_feed(&s, srv + sp, sn - sp, &used) == TORIFY_OK);
            sp += used;
        } else {
            break;
        }
    }
    CHECK(torify_socks_want(&s) == TORIFY_SOCKS_DONE);
    CHECK(sp == sn);
    CHECK(wire_ok(&m, wire, wn));
    return 0;
}
