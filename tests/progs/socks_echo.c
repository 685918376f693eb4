/*
 * socks_echo — a SOCKS5 server that answers every CONNECT with success and
 * then echoes what the client sends, in C: the scripted server
 * (tests/integration/lib/socksserver.py, a thread per connection) does a few
 * hundred connections a second on this machine, the load-and-faults test
 * (test_stress_faults.py) and scripts/bench-connect need thousands.
 *
 *   socks_echo ADDR PORT [ECHO_ADDR ECHO_PORT]
 *
 * ADDR:PORT speaks SOCKS5 (methods "none" and RFC 1929, any username and
 * password; CONNECT to a name, IPv4 or IPv6; the reply comes before any
 * echo, bytes pipelined behind the request are kept and echoed).  The
 * optional ECHO_ADDR:ECHO_PORT is a plain echo listener (the "bare" rows of
 * the benchmarks, and what microsocks relays to).  One thread, one epoll
 * loop, non-blocking everything.  Prints "ready PORT" once listening;
 * SIGTERM or SIGINT ends it with "stat accepted N", "stat connects N",
 * "stat bad N".  Exit 2 on bad usage or when a listener cannot be set up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum conn_state {
    ST_GREETING,   /* VER NMETHODS METHODS... */
    ST_AUTH,       /* RFC 1929: VER ULEN USER PLEN PASS */
    ST_REQUEST,    /* VER CMD RSV ATYP ADDR PORT */
    ST_ECHO,       /* everything read is written back */
};

#define BUF 1024

struct conn {
    int fd;
    enum conn_state state;
    size_t in_len;
    size_t out_len, out_pos;
    uint8_t in[BUF];
    uint8_t out[BUF];
};

/* epoll data for listeners: tagged pointers would be clever, two small
 * structs are clearer. */
struct listener {
    int fd;
    int echo; /* 1: plain echo, no SOCKS */
};

static unsigned long n_accepted, n_connects, n_bad;
static int ep;

static int listen_on(const char *addr, const char *port_text)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    char *end = NULL;
    long port = strtol(port_text, &end, 10);
    if (!end || *end || port < 0 || port > 65535)
        return -1;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        len = sizeof *s6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* Restarted on the same port while the old one's connections are in
     * TIME_WAIT: that is what the fault test does. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void conn_close(struct conn *c)
{
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

static int conn_watch(struct conn *c, int op)
{
    struct epoll_event ev = { .events = c->out_len > c->out_pos ? EPOLLOUT : EPOLLIN, .data.ptr = c };
    return epoll_ctl(ep, op, c->fd, &ev);
}

/* Queue bytes for the client; there is room by construction: a reply is at
 * most 10 bytes and the echo only reads when out is empty. */
static void put(struct conn *c, const void *p, size_t n)
{
    if (n > sizeof c->out - c->out_len)
        n = sizeof c->out - c->out_len;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Parse what has arrived as far as it goes.  Returns 0 to go on, -1 to drop
 * the client (a malformed greeting or request). */
static int advance(struct conn *c)
{
    for (;;) {
        switch (c->state) {
        case ST_GREETING: {
            if (c->in_len < 2)
                return 0;
            if (c->in[0] != 5)
                return -1;
            size_t need = 2 + (size_t)c->in[1];
            if (c->in_len < need)
                return 0;
            uint8_t method = 0xFF;
            for (size_t i = 2; i < need; i++)
                if (c->in[i] == 0 || (c->in[i] == 2 && method == 0xFF))
                    method = c->in[i];
            uint8_t reply[2] = { 5, method };
            put(c, reply, 2);
            consume(c, need);
            if (method == 0xFF)
                return -1;
            c->state = method == 2 ? ST_AUTH : ST_REQUEST;
            break;
        }
        case ST_AUTH: {
            if (c->in_len < 2)
                return 0;
            size_t ulen = c->in[1];
            if (c->in_len < 3 + ulen)
                return 0;
            size_t need = 3 + ulen + c->in[2 + ulen];
            if (c->in_len < need)
                return 0;
            uint8_t reply[2] = { 1, 0 };
            put(c, reply, 2);
            consume(c, need);
            c->state = ST_REQUEST;
            break;
        }
        case ST_REQUEST: {
            if (c->in_len < 5)
                return 0;
            if (c->in[0] != 5 || c->in[1] != 1)
                return -1;
            size_t need;
            switch (c->in[3]) {
            case 1: need = 4 + 4 + 2; break;
            case 4: need = 4 + 16 + 2; break;
            case 3: need = 4 + 1 + (size_t)c->in[4] + 2; break;
            default: return -1;
            }
            if (c->in_len < need)
                return 0;
            static const uint8_t ok[10] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
            put(c, ok, sizeof ok);
            consume(c, need);
            c->state = ST_ECHO;
            n_connects++;
            break;
        }
        case ST_ECHO:
            if (c->in_len > 0 && c->out_len == 0) {
                put(c, c->in, c->in_len);
                c->in_len = 0;
            }
            return 0;
        }
    }
}

/* Write what is queued.  Returns 1 when all went out, 0 when the socket is
 * full, -1 on error. */
static int flush_out(struct conn *c)
{
    while (c->out_pos < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_pos += (size_t)w;
    }
    c->out_len = c->out_pos = 0;
    return 1;
}

static void on_conn(struct conn *c, uint32_t events)
{
    int was_writing = c->out_len > c->out_pos;
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
        conn_close(c);
        return;
    }
    if (!was_writing) {
        ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            conn_close(c);
            return;
        }
        c->in_len += (size_t)r;
        if (advance(c) != 0) {
            n_bad++;
            flush_out(c);
            conn_close(c);
            return;
        }
    }
    int f = flush_out(c);
    if (f < 0) {
        conn_close(c);
        return;
    }
    /* Bytes that waited behind a full out buffer (echo) go now. */
    if (f == 1 && c->state == ST_ECHO && c->in_len > 0) {
        advance(c);
        f = flush_out(c);
        if (f < 0) {
            conn_close(c);
            return;
        }
    }
    int writing = c->out_len > c->out_pos;
    if (writing != was_writing && conn_watch(c, EPOLL_CTL_MOD) != 0)
        conn_close(c);
}

static void on_accept(struct listener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of fds: the next event retries */
        n_accepted++;
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = l->echo ? ST_ECHO : ST_GREETING;
        if (conn_watch(c, EPOLL_CTL_ADD) != 0)
            conn_close(c);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: socks_echo ADDR PORT [ECHO_ADDR ECHO_PORT]\n");
        return 2;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return 2;
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || ep < 0)
        return 2;
    struct listener ls[2];
    int n_ls = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        ls[n_ls].fd = listen_on(argv[i], argv[i + 1]);
        ls[n_ls].echo = i > 1;
        if (ls[n_ls].fd < 0) {
            fprintf(stderr, "socks_echo: cannot listen on %s:%s: %s\n", argv[i], argv[i + 1], strerror(errno));
            return 2;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ls[n_ls] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, ls[n_ls].fd, &ev) != 0)
            return 2;
        n_ls++;
    }
    struct epoll_event sev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) != 0)
        return 2;
    printf("ready %d\n", bound_port(ls[0].fd));
    fflush(stdout);
    for (;;) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return 1;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == NULL) {
                printf("stat accepted %lu\nstat connects %lu\nstat bad %lu\n", n_accepted, n_connects, n_bad);
                fflush(stdout);
                return 0;
            }
            if (p == &ls[0] || (n_ls > 1 && p == &ls[1]))
                on_accept(p);
            else
                on_conn(p, evs[i].events);
        }
    }
}
