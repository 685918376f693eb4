/*
 * nb_connect — a small event-loop client: non-blocking connect, wait for
 * writability, SO_ERROR, then an echo exchange.  Run under libtorify.so by
 * tests/integration/test_shim_nonblock.py; every step is printed on its own
 * line (flushed) so the test can order them against the SOCKS server.
 *
 *   nb_connect MODE HOST PORT [--sndtimeo MS] [--count N]
 *
 * MODE: epoll       connect, then epoll_ctl ADD EPOLLOUT, epoll_wait
 *       epollet     the same with EPOLLIN|EPOLLOUT|EPOLLET
 *       epollpre    epoll_ctl ADD (EPOLLOUT|EPOLLET) before connect
 *       poll        poll() for POLLOUT
 *       select      select() for writability
 *       many        --count N connects at once, one epoll loop, N echoes
 *       close       connect, close at once, then check fds and fd reuse
 *       blocking    blocking socket (with --sndtimeo: SO_SNDTIMEO)
 *       alarm       blocking socket, SIGALRM (handler without SA_RESTART)
 *                   after 300 ms; then tries to send
 * Lines: "connect <ret> <errno name>", "ready <what>", "so_error <name>",
 * "echo <text>", "many ok N", "fds before=N after=M", "reuse ok".
 * Exit 0 when the mode's steps all ran (a reported error is not a failure:
 * the test reads the lines).
 */
#include <errno.h>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EINPROGRESS: return "EINPROGRESS";
    case EALREADY: return "EALREADY";
    case EISCONN: return "EISCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNABORTED: return "ECONNABORTED";
    case EINTR: return "EINTR";
    case ENOTCONN: return "ENOTCONN";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    default: return strerror(e);
    }
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static struct addrinfo *target;
static int sndtimeo_ms;

static int new_socket(int nonblock)
{
    int s = socket(target->ai_family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
    if (s < 0) {
        perror("socket");
        exit(2);
    }
    if (sndtimeo_ms > 0) {
        struct timeval tv = { sndtimeo_ms / 1000, (sndtimeo_ms % 1000) * 1000 };
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return s;
}

static int do_connect(int s)
{
    int r = connect(s, target->ai_addr, target->ai_addrlen);
    int e = r == 0 ? 0 : errno;
    say("connect %d %s", r, ename(e));
    return e;
}

static int so_error(int s)
{
    int err = -1;
    socklen_t l = sizeof err;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
        err = errno;
    say("so_error %s", ename(err));
    return err;
}

/* Wait for POLLIN with poll (whatever the mode: data after connect). */
static int wait_in(int s, int ms)
{
    struct pollfd p = { .fd = s, .events = POLLIN };
    return poll(&p, 1, ms);
}

static int echo(int s, const char *text)
{
    size_t n = strlen(text);
    if (send(s, text, n, MSG_NOSIGNAL) != (ssize_t)n) {
        say("echo send-failed %s", ename(errno));
        return 1;
    }
    char buf[256];
    size_t got = 0;
    while (got < n) {
        if (wait_in(s, 10000) <= 0) {
            say("echo timeout");
            return 1;
        }
        ssize_t r = recv(s, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (r <= 0) {
            say("echo recv-failed %s", r == 0 ? "eof" : ename(errno));
            return 1;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    say("echo %s", buf);
    return 0;
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static int count_fds(void)
{
    return count_dir("/proc/self/fd") - 1; /* the directory's own fd */
}

static int after_ready(int s)
{
    if (so_error(s) != 0)
        return 0;
    return echo(s, "hello-nb");
}

static int mode_epoll(int pre, unsigned events)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int s = new_socket(1);
    struct epoll_event ev = { .events = events, .data.u64 = 0x1234567890abcdefull };
    if (pre && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0) {
        perror("epoll_ctl");
        return 2;
    }
    int e = do_connect(s);
    if (e != EINPROGRESS && e != 0)
        return 0;
    if (!pre && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0) {
        perror("epoll_ctl");
        return 2;
    }
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 20000);
    if (n != 1 || out[0].data.u64 != 0x1234567890abcdefull) {
        say("ready none n=%d", n);
        return 1;
    }
    say("ready epoll events=0x%x", out[0].events);
    if (events & EPOLLET) {
        /* Edge-triggered: no second report without a new edge. */
        n = epoll_wait(ep, out, 4, 200);
        say("second %d", n);
    }
    int r = after_ready(s);
    close(s);
    close(ep);
    return r;
}

static int mode_poll(void)
{
    int s = new_socket(1);
    int e = do_connect(s);
    if (e != EINPROGRESS && e != 0)
        return 0;
    struct pollfd p = { .fd = s, .events = POLLOUT };
    int n = poll(&p, 1, 20000);
    if (n != 1) {
        say("ready none n=%d", n);
        return 1;
    }
    say("ready poll revents=0x%x", p.revents);
    int r = after_ready(s);
    close(s);
    return r;
}

static int mode_select(void)
{
    int s = new_socket(1);
    int e = do_connect(s);
    if (e != EINPROGRESS && e != 0)
        return 0;
    fd_set w;
    FD_ZERO(&w);
    FD_SET(s, &w);
    struct timeval tv = { 20, 0 };
    int n = select(s + 1, NULL, &w, NULL, &tv);
    if (n != 1 || !FD_ISSET(s, &w)) {
        say("ready none n=%d", n);
        return 1;
    }
    say("ready select");
    int r = after_ready(s);
    close(s);
    return r;
}

static int mode_many(int count)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int *fds = calloc((size_t)count, sizeof *fds);
    int *state = calloc((size_t)count, sizeof *state); /* 0 connecting, 1 sent, 2 done */
    int inprogress = 0;
    for (int i = 0; i < count; i++) {
        fds[i] = new_socket(1);
        int r = connect(fds[i], target->ai_addr, target->ai_addrlen);
        if (r != 0 && errno != EINPROGRESS) {
            say("connect %d failed %s", i, ename(errno));
            return 1;
        }
        inprogress += r != 0;
        struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    say("connects returned %d inprogress=%d", count, inprogress);
    int done = 0;
    while (done < count) {
        struct epoll_event out[64];
        int n = epoll_wait(ep, out, 64, 20000);
        if (n <= 0) {
            say("many stalled done=%d", done);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            int i = (int)out[k].data.u32;
            int s = fds[i];
            char msg[32], buf[64];
            snprintf(msg, sizeof msg, "conn-%d;", i);
            if (state[i] == 0 && (out[k].events & EPOLLOUT)) {
                int err = -1;
                socklen_t l = sizeof err;
                getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                    say("many %d so_error %s", i, ename(err));
                    return 1;
                }
                if (send(s, msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg)) {
                    say("many %d send failed", i);
                    return 1;
                }
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
                epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
                state[i] = 1;
            } else if (state[i] == 1 && (out[k].events & EPOLLIN)) {
                ssize_t r = recv(s, buf, sizeof buf - 1, MSG_DONTWAIT);
                if (r <= 0) {
                    say("many %d recv failed", i);
                    return 1;
                }
                buf[r] = '\0';
                if (strcmp(buf, msg) != 0) {
                    say("many %d got %s", i, buf);
                    return 1;
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
                close(s);
                state[i] = 2;
                done++;
            }
        }
    }
    say("many ok %d", done);
    return 0;
}

static int mode_close(void)
{
    int before = count_fds(), threads_before = count_dir("/proc/self/task");
    int s = new_socket(1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 7 };
    do_connect(s);
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    close(s);
    /* The number comes back at once: a pipe takes it. */
    int p[2];
    if (pipe(p) != 0)
        return 2;
    say("closed reused=%d", p[0] == s || p[1] == s);
    /* Wait for the test to let the server answer (stdin line), then give
     * the helper time to notice, and check nothing touched our pipe. */
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 2;
    struct epoll_event out[2];
    int n = epoll_wait(ep, out, 2, 500);
    say("epoll after close %d", n);
    if (write(p[1], "x", 1) != 1)
        return 1;
    char c;
    int ok = read(p[0], &c, 1) == 1 && c == 'x';
    close(p[0]);
    close(p[1]);
    close(ep);
    int after = -1;
    for (int i = 0; i < 50; i++) { /* the helper lets go of its dup asynchronously */
        after = count_fds();
        if (after <= before)
            break;
        usleep(20000);
    }
    say("fds before=%d after=%d", before, after);
    say("threads before=%d after=%d", threads_before, count_dir("/proc/self/task"));
    say(ok ? "reuse ok" : "reuse broken");
    return 0;
}

static int mode_blocking(void)
{
    int s = new_socket(0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int e = do_connect(s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    say("elapsed %ld", ms);
    if (e == 0)
        return echo(s, "hello-blocking");
    if (e == EINPROGRESS) {
        /* Goes on in the background, as after a kernel SO_SNDTIMEO timeout. */
        struct pollfd p = { .fd = s, .events = POLLOUT };
        int n = poll(&p, 1, 20000);
        say("later ready %d", n);
        if (n == 1 && so_error(s) == 0)
            return echo(s, "hello-later");
    }
    return 0;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static int mode_alarm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: the call is to be interrupted */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 300000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    int s = new_socket(0);
    int e = do_connect(s);
    say("alarms %d", (int)alarms);
    if (e == 0)
        return echo(s, "hello-alarm");
    ssize_t r = send(s, "must-not-arrive", 15, MSG_NOSIGNAL);
    say("send %zd %s", r, r < 0 ? ename(errno) : "0");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: nb_connect MODE HOST PORT [--sndtimeo MS] [--count N]\n");
        return 2;
    }
    int count = 10;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sndtimeo"))
            sndtimeo_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--count"))
            count = atoi(argv[i + 1]);
    }
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    h.ai_family = AF_UNSPEC;
    h.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(argv[2], argv[3], &h, &target);
    if (g != 0) {
        fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(g));
        return 2;
    }
    const char *m = argv[1];
    if (!strcmp(m, "epoll"))
        return mode_epoll(0, EPOLLOUT);
    if (!strcmp(m, "epollet"))
        return mode_epoll(0, EPOLLIN | EPOLLOUT | EPOLLET);
    if (!strcmp(m, "epollpre"))
        return mode_epoll(1, EPOLLOUT | EPOLLET);
    if (!strcmp(m, "poll"))
        return mode_poll();
    if (!strcmp(m, "select"))
        return mode_select();
    if (!strcmp(m, "many"))
        return mode_many(count);
    if (!strcmp(m, "close"))
        return mode_close();
    if (!strcmp(m, "blocking"))
        return mode_blocking();
    if (!strcmp(m, "alarm"))
        return mode_alarm();
    fprintf(stderr, "nb_connect: unknown mode %s\n", m);
    return 2;
}
